/* Options shared by `create` and `run`, parsed the runc way. */
#pragma once

#include <getopt.h>

#include "cli.h"
#include "container.h"

enum {
  CREATE_OPT_BUNDLE = 'b',
  CREATE_OPT_PID_FILE = 2000,
  CREATE_OPT_CONSOLE_SOCKET,
  CREATE_OPT_PRESERVE_FDS,
  CREATE_OPT_NO_PIVOT,
  CREATE_OPT_NO_NEW_KEYRING,
  CREATE_OPT_NO_SUBREAPER,
  CREATE_OPT_KEEP,
  CREATE_OPT_DETACH = 'd',
};

/* Parses create's or run's options; with_run also takes --detach/--keep.
 * Returns 0, 1 after printing help, or a negative errno. */
int create_options_parse(struct nook_globals *g, int argc, char **argv, bool with_run,
                         const char *usage, struct create_options *o, char **root,
                         nook_error *err);
