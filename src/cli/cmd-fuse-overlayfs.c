/* nook fuse-overlayfs ARGS (and nook run as `nook-fuse-overlayfs`): runs the
 * FUSE overlay helper, which links libfuse3 so that nook does not. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "nook-config.h"
#include "util.h"

#define HELPER "nook-fuse-overlayfs"

/* Installed, bindir/nook-fuse-overlayfs is a link to nook itself: beside
 * nook that name is nook, and the helper is the one in libexecdir. */
static char *find_helper(void) {
  _cleanup_free_ char *found = nook_helper_path(HELPER);
  if (!found)
    return NULL;
  _cleanup_free_ char *self = realpath("/proc/self/exe", NULL);
  _cleanup_free_ char *target = realpath(found, NULL);
  if (self && target && strcmp(self, target) != 0)
    return steal_pointer(&found);
  char *p = xasprintf("%s/%s", NOOK_LIBEXECDIR, HELPER);
  _cleanup_free_ char *ptarget = realpath(p, NULL);
  if (access(p, X_OK) == 0 && ptarget && self && strcmp(ptarget, self) != 0)
    return p;
  free(p);
  return NULL;
}

int cmd_fuse_overlayfs(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  _cleanup_free_ char *helper = find_helper();
  if (!helper)
    return nook_errx(err, ENOENT,
                     "the FUSE overlay helper `%s` is neither beside nook nor in %s: "
                     "build or install it with nook",
                     HELPER, NOOK_LIBEXECDIR);
  char **args = xcalloc((size_t)argc + 1, sizeof(char *));
  args[0] = HELPER;
  for (int i = 1; i < argc; i++)
    args[i] = argv[i];
  execv(helper, args);
  int e = errno;
  free(args);
  return nook_err(err, e, "run `%s`", helper);
}
