#include <getopt.h>
#include <stdio.h>

#include "container.h"
#include "util.h"
#include "workflow/workflow.h"

static const char usage[] =
    "Usage: nook rm [OPTIONS] ID...\n\n"
    "Remove containers with their state, rootfs, bundle and log.\n\n"
    "Options:\n"
    "  -f, --force           kill running containers first\n";

int cmd_rm(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  static const struct option opts[] = {{"force", no_argument, NULL, 'f'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
  bool force = false;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
    if (c == 'f')
      force = true;
    else if (c == 'h')
      return cli_print_usage(usage);
    else
      return cli_bad_usage(err, argv[0], "unknown option `%s`", argv[optind - 1]);
  }
  if (optind >= argc)
    return cli_bad_usage(err, argv[0], "give a container id");
  _cleanup_free_ char *root = NULL;
  int r = cli_state_root(g, &root, err);
  if (r < 0)
    return r;
  int failed = 0;
  for (int i = optind; i < argc; i++) {
    nook_error e;
    _cleanup_container_ struct container ct = {.dirfd = -1};
    r = container_load(root, argv[i], &ct, &e);
    if (r == -ENOENT) {
      nook_error gone = e;
      r = launch_remove_leftovers(root, argv[i], &e);
      if (r == 0) {
        e = gone;
        r = -ENOENT;
      } else if (r > 0) {
        printf("%s\n", argv[i]);
        continue;
      }
    }
    if (r == 0 && !force && (ct.status == STATUS_RUNNING || ct.status == STATUS_PAUSED))
      r = nook_errx(&e, EBUSY, "container `%s` is running: stop it first or use rm -f", argv[i]);
    if (r == 0)
      r = launch_remove(root, argv[i], true, &e);
    if (r < 0) {
      if (failed++)
        fprintf(stderr, "nook: %s\n", err->msg);
      *err = e;
      continue;
    }
    printf("%s\n", argv[i]);
  }
  return failed ? -EINVAL : 0;
}
