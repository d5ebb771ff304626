#include "workflow/workflow.h"

int cmd_launch(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  struct launch_options o;
  int r = launch_parse(argc, argv, &o, err);
  if (r == 1) {
    launch_options_free(&o);
    return 0; /* --help */
  }
  if (r == 0)
    r = launch_main(g, &o, err); /* the container's exit status */
  launch_options_free(&o);
  if (r < 0 && !err->exit_status)
    err->exit_status = LAUNCH_EXIT_ERROR;
  return r;
}
