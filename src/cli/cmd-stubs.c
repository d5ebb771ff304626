/* Weak placeholders for commands whose issue has not landed: each cmd-NAME.c
 * that exists overrides its stub at link time. */
#include "cli.h"

#define NOOK_STUB(name, summary)                                                                   \
  __attribute__((weak)) int cmd_##name(struct nook_globals *g, int argc, char **argv,             \
                                       nook_error *err) {                                          \
    return nook_errx(err, ENOSYS, "`%s` is not implemented yet", argv[0]);                         \
  }
NOOK_COMMANDS(NOOK_STUB)

__attribute__((weak)) int cmd___complete(struct nook_globals *g, int argc, char **argv,
                                         nook_error *err) {
  return 0;
}
