#include <getopt.h>
#include <stdio.h>

#include "util.h"
#include "workflow/workflow.h"

static const char usage[] = "Usage: nook wait ID...\n\n"
                            "Wait for each container to stop and print its exit code.\n";

int cmd_wait(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c == 'h')
      return cli_print_usage(usage);
    return cli_bad_usage(err, argv[0], "unknown option `%s`", argv[optind - 1]);
  }
  if (optind >= argc)
    return cli_bad_usage(err, argv[0], "give a container id");
  _cleanup_free_ char *root = NULL;
  int r = cli_state_root(g, &root, err);
  if (r < 0)
    return r;
  for (int i = optind; i < argc; i++) {
    int status;
    if ((r = launch_wait(root, argv[i], &status, err)) < 0)
      return r;
    printf("%d\n", status);
    fflush(stdout);
  }
  return 0;
}
