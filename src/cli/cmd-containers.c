#include <getopt.h>
#include <string.h>

#include "util.h"
#include "workflow/workflow.h"

static const char usage[] =
    "Usage: nook containers [OPTIONS]\n\n"
    "List running containers (all with -a): id, image, command, status, age, ports.\n\n"
    "Options:\n"
    "  -a, --all             also created and stopped containers\n"
    "      --format FMT      table (default) or json\n";

int cmd_containers(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  static const struct option opts[] = {{"all", no_argument, NULL, 'a'},
                                       {"format", required_argument, NULL, 'F'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
  bool all = false, json = false;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "ah", opts, NULL)) != -1) {
    if (c == 'a') {
      all = true;
    } else if (c == 'F') {
      if (!strcmp(optarg, "json"))
        json = true;
      else if (strcmp(optarg, "table"))
        return cli_bad_usage(err, argv[0], "--format: `%s` is not table or json", optarg);
    } else if (c == 'h') {
      return cli_print_usage(usage);
    } else {
      return cli_bad_usage(err, argv[0], "unknown option `%s`", argv[optind - 1]);
    }
  }
  int r = cli_want_args(err, argv[0], argc, argv, 0, "nothing");
  if (r < 0)
    return r;
  _cleanup_free_ char *root = NULL;
  if ((r = cli_state_root(g, &root, err)) < 0)
    return r;
  return containers_list(root, all, json, err);
}
