#include <getopt.h>

#include "cli.h"
#include "container.h"
#include "util.h"

static const char pause_usage[] =
    "Usage: nook pause ID\n\n"
    "Suspend every process of a running container (the cgroup freezer).\n";
static const char resume_usage[] =
    "Usage: nook resume ID\n\nResume a container suspended by 'nook pause'.\n";

/* pause and resume differ only in the direction of the freezer. */
static int freeze_command(struct nook_globals *g, int argc, char **argv, bool freeze,
                          nook_error *err) {
  static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c == 'h')
      return cli_print_usage(freeze ? pause_usage : resume_usage);
    return cli_bad_usage(err, argv[0], "unknown option `%s`", argv[optind - 1]);
  }
  const char *id;
  _cleanup_free_ char *root = NULL;
  int r = cli_id_and_root(g, argc, argv, &id, &root, err);
  if (r < 0)
    return r;
  _cleanup_container_ struct container ct = {.dirfd = -1};
  r = container_load_for(root, id, argv[0],
                         freeze ? 1u << STATUS_RUNNING : 1u << STATUS_PAUSED, &ct, err);
  if (r < 0)
    return r;
  _cleanup_close_ int lock = state_lock(ct.dirfd, err);
  if (lock < 0)
    return lock;
  struct cgroup_handle h = state_cgroup(&ct.state);
  r = cgroup_freeze(&h, freeze, err);
  if (r < 0)
    return nook_err_prefix(err, r, "%s container \"%s\"", argv[0], id);
  return 0;
}

int cmd_pause(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  return freeze_command(g, argc, argv, true, err);
}

int cmd_resume(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  return freeze_command(g, argc, argv, false, err);
}
