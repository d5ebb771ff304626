#include "cli.h"
#include "container.h"
#include "util.h"

static const char usage[] = "Usage: nook start ID\n\nLet a created container run its process.\n";

int cmd_start(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  int r = cli_parse_help_only(argc, argv, usage, err);
  if (r != 0)
    return r < 0 ? r : 0;
  const char *id;
  _cleanup_free_ char *root = NULL;
  if ((r = cli_id_and_root(g, argc, argv, &id, &root, err)) < 0)
    return r;
  return container_start(root, id, err);
}
