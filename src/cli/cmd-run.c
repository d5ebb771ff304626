#include "create-options.h"
#include "util.h"

static const char usage[] =
    "Usage: nook run [OPTIONS] ID\n\n"
    "Create and start a container. In the foreground, signals go to the container,\n"
    "its terminal is relayed, nook exits with its status, and deletes it after.\n\n"
    "Options:\n"
    "  -b, --bundle DIR          bundle directory (default: current directory)\n"
    "  -d, --detach              return once the container runs\n"
    "      --keep                do not delete the container when it exits\n"
    "      --pid-file FILE       write the container's init pid to FILE\n"
    "      --console-socket SOCK send the terminal's master fd to the unix socket SOCK\n"
    "      --preserve-fds N      pass N extra fds (from fd 3) to the container\n"
    "      --no-pivot            use MS_MOVE and chroot instead of pivot_root\n"
    "      --no-new-keyring      keep the caller's session keyring\n";

int cmd_run(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  struct create_options o;
  _cleanup_free_ char *root = NULL;
  int r = create_options_parse(g, argc, argv, true, usage, &o, &root, err);
  if (r != 0)
    return r < 0 ? r : 0;
  return container_run(&o, err);
}
