#include <getopt.h>

#include "util.h"
#include "workflow/workflow.h"

static const char usage[] =
    "Usage: nook logs [OPTIONS] ID\n\n"
    "Print the output of a container started with nook launch -d.\n\n"
    "Options:\n"
    "  -f, --follow          keep printing until the container stops\n"
    "      --since WHEN      only lines since a duration ago (10s, 5m, 1h) or a time\n";

int cmd_logs(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  static const struct option opts[] = {{"follow", no_argument, NULL, 'f'},
                                       {"since", required_argument, NULL, 's'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
  bool follow = false;
  const char *since = NULL;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
    if (c == 'f')
      follow = true;
    else if (c == 's')
      since = optarg;
    else if (c == 'h')
      return cli_print_usage(usage);
    else
      return cli_bad_usage(err, argv[0], "unknown option `%s`", argv[optind - 1]);
  }
  const char *id;
  _cleanup_free_ char *root = NULL;
  int r = cli_id_and_root(g, argc, argv, &id, &root, err);
  if (r < 0)
    return r;
  return logs_print(root, id, follow, since, err);
}
