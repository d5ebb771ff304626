#include <stdio.h>

#include "cli.h"
#include "container.h"
#include "util.h"

static const char usage[] = "Usage: nook state ID\n\nPrint the OCI state of a container as JSON.\n";

int cmd_state(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  int r = cli_parse_help_only(argc, argv, usage, err);
  if (r != 0)
    return r < 0 ? r : 0;
  const char *id;
  _cleanup_free_ char *root = NULL;
  if ((r = cli_id_and_root(g, argc, argv, &id, &root, err)) < 0)
    return r;
  _cleanup_container_ struct container ct = {.dirfd = -1};
  if ((r = container_load(root, id, &ct, err)) < 0)
    return r;
  _cleanup_free_ char *json = state_to_oci_json(&ct.state, ct.status, true);
  printf("%s\n", json);
  return 0;
}
