#include <getopt.h>
#include <unistd.h>

#include "cli.h"
#include "container.h"
#include "state.h"
#include "util.h"

static const char usage[] =
    "Usage: nook delete [--force] ID\n\n"
    "Delete a stopped or created container and all it holds; --force kills a\n"
    "running one first, and a container that does not exist is no error.\n";

int cmd_delete(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  static const struct option opts[] = {
      {"force", no_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {0}};
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
  const char *id;
  _cleanup_free_ char *root = NULL;
  int r = cli_id_and_root(g, argc, argv, &id, &root, err);
  if (r < 0)
    return r;
  if (force) {
    /* Nothing to delete is done, as runc and crun answer: podman and
     * containerd clean up with delete --force after a failed create. */
    nook_error e;
    int fd = state_dir_open(root, id, &e);
    if (fd < 0 && e.code == ENOENT)
      return 0;
    if (fd >= 0)
      close(fd);
  }
  return container_delete(root, id, force, err);
}
