#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "container.h"
#include "util.h"

static const char usage[] = "Usage: nook state ID\n\nPrint the OCI state of a container as JSON.\n";

int cmd_state(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
    if (c == 'h')
      return cli_print_usage(usage);
    return cli_bad_usage(err, argv[0], "unknown option `%s`", argv[optind - 1]);
  }
  int r = cli_want_args(err, argv[0], argc, argv, 1, "a container id");
  if (r < 0)
    return r;
  _cleanup_free_ char *root = NULL;
  if ((r = cli_state_root(g, &root, err)) < 0)
    return r;
  _cleanup_container_ struct container ct = {.dirfd = -1};
  if ((r = container_load(root, argv[optind], &ct, err)) < 0)
    return r;
  _cleanup_free_ char *json = state_to_oci_json(&ct.state, ct.status, true);
  printf("%s\n", json);
  return 0;
}
