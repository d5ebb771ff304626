#include <getopt.h>
#include <signal.h>

#include "cli.h"
#include "container.h"
#include "signals.h"
#include "util.h"

static const char usage[] =
    "Usage: nook kill [--all] ID [SIGNAL]\n\n"
    "Send SIGNAL (default TERM; a name with or without SIG, or a number) to the\n"
    "container's init, or with --all to every process of the container's cgroup\n"
    "(also what a stopped init left behind).\n"
    "Signal 0 sends nothing: it only checks that the container is running.\n";

int cmd_kill(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  static const struct option opts[] = {
      {"all", no_argument, NULL, 'a'}, {"help", no_argument, NULL, 'h'}, {0}};
  bool all = false;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+ah", opts, NULL)) != -1) {
    if (c == 'a')
      all = true;
    else if (c == 'h')
      return cli_print_usage(usage);
    else
      return cli_bad_usage(err, argv[0], "unknown option `%s`", argv[optind - 1]);
  }
  if (argc - optind < 1 || argc - optind > 2)
    return cli_want_args(err, argv[0], argc, argv, argc - optind < 1 ? 1 : 2,
                         "a container id");
  int sig = SIGTERM;
  int r;
  if (argc - optind == 2 && (r = signal_parse(argv[optind + 1], &sig, err)) < 0)
    return r;
  _cleanup_free_ char *root = NULL;
  if ((r = cli_state_root(g, &root, err)) < 0)
    return r;
  return container_kill(root, argv[optind], sig, all, err);
}
