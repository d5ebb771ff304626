#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Clients call these only when asked to; they get one clear line instead of
 * a usage error. */
static int not_supported(int argc, char **argv, nook_error *err) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      printf("Usage: nook %s [OPTIONS] ID\n\nNot supported: nook has no CRIU support; the "
             "command always fails.\n", argv[0]);
      return 0;
    }
  return nook_errx(err, ENOTSUP, "%s is not supported: nook cannot checkpoint or restore "
                                 "containers (no CRIU support)", argv[0]);
}

int cmd_checkpoint(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  return not_supported(argc, argv, err);
}

int cmd_restore(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  return not_supported(argc, argv, err);
}
