#include <getopt.h>
#include <stdio.h>

#include "util.h"
#include "workflow/workflow.h"

static const char usage[] =
    "Usage: nook stop [OPTIONS] ID...\n\n"
    "Stop containers: SIGTERM (or the container's --stop-signal), then SIGKILL when\n"
    "they are still running after the timeout.\n\n"
    "Options:\n"
    "  -t, --time SECS       seconds to wait before SIGKILL (default: the container's\n"
    "                        --stop-timeout, else 10)\n";

int cmd_stop(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  static const struct option opts[] = {{"time", required_argument, NULL, 't'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
  unsigned long long secs = 0;
  bool secs_given = false;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
    if (c == 't') {
      if (!parse_u64(optarg, &secs) || secs > 86400)
        return cli_bad_usage(err, argv[0], "-t: `%s` is not a number of seconds", optarg);
      secs_given = true;
    } else if (c == 'h') {
      return cli_print_usage(usage);
    } else {
      return cli_bad_usage(err, argv[0], "unknown option `%s`", argv[optind - 1]);
    }
  }
  if (optind >= argc)
    return cli_bad_usage(err, argv[0], "give a container id");
  _cleanup_free_ char *root = NULL;
  int r = cli_state_root(g, &root, err);
  if (r < 0)
    return r;
  for (int i = optind; i < argc; i++) {
    if ((r = launch_stop(root, argv[i], secs_given ? (int)secs : -1, err)) < 0)
      return r;
    printf("%s\n", argv[i]);
  }
  return 0;
}
