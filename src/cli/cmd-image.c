/* nook image: the image store lives in the nook-image helper, which links
 * libarchive, libcurl and libcrypto; nook only passes the command on. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

int cmd_image(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  _cleanup_free_ char *helper = nook_helper_path("nook-image");
  if (!helper)
    return nook_errx(err, ENOENT, "image: the helper nook-image is not installed beside nook "
                                  "or in the libexec dir");
  char **args = xcalloc((size_t)argc + 3, sizeof(char *));
  size_t n = 0;
  args[n++] = "nook-image";
  if (g->debug)
    args[n++] = "--debug";
  for (int i = 1; i < argc; i++)
    args[n++] = argv[i];
  args[n] = NULL;
  /* rm -f removes containers with nook itself, with this --root */
  char self[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (len > 0) {
    self[len] = '\0';
    setenv("NOOK_IMAGE_CALLER", self, 1);
  }
  if (g->root)
    setenv("NOOK_IMAGE_CALLER_ROOT", g->root, 1);
  fflush(NULL);
  execv(helper, args);
  int e = errno;
  free(args);
  return nook_err(err, e, "run `%s`", helper);
}
