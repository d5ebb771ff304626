/* nook spec: writes the default config.json into a bundle directory. */
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "spec.h"
#include "util.h"

static const char usage[] =
    "Usage: nook spec [--rootless] [--bundle DIR]\n\n"
    "Write a default config.json (runc's example config) into the bundle.\n\n"
    "Options:\n"
    "  --rootless        config for an unprivileged user: a user namespace mapping\n"
    "                    your uid and gid to root, no network namespace\n"
    "  -b, --bundle DIR  bundle directory (default: the current directory)\n"
    "  -h, --help        print this help\n";

int cmd_spec(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  static const struct option opts[] = {
      {"rootless", no_argument, NULL, 'r'},
      {"bundle", required_argument, NULL, 'b'},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  bool rootless = false;
  const char *bundle = ".";
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+:b:h", opts, NULL)) != -1) {
    switch (c) {
    case 'r':
      rootless = true;
      break;
    case 'b':
      bundle = optarg;
      break;
    case 'h':
      return cli_print_usage(usage);
    default:
      return cli_bad_usage(err, "spec",
                         c == ':' ? "option `%s` needs a value" : "unknown option `%s`",
                         argv[optind - 1]);
    }
  }
  int r = cli_want_args(err, "spec", argc, argv, 0, "");
  if (r < 0)
    return r;

  _cleanup_close_ int dfd = open(bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return nook_err(err, errno, "spec: bundle `%s`", bundle);
  /* O_EXCL: an existing config is the user's work; never replace it. */
  _cleanup_close_ int fd =
      openat(dfd, "config.json", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    if (errno == EEXIST)
      return nook_errx(err, EEXIST, "File %s%sconfig.json exists. Remove it first",
                       strcmp(bundle, ".") ? bundle : "", strcmp(bundle, ".") ? "/" : "");
    return nook_err(err, errno, "spec: create `%s/config.json`", bundle);
  }
  _cleanup_free_ char *json = spec_default_json(rootless, geteuid(), getegid());
  r = write_all(fd, json, strlen(json));
  if (r >= 0)
    r = write_all(fd, "\n", 1);
  if (r < 0) {
    unlinkat(dfd, "config.json", 0);
    return nook_err(err, -r, "spec: write `%s/config.json`", bundle);
  }
  return 0;
}
