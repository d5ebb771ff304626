/* nook image: the image store lives in the nook-image helper, which links
 * libarchive, libcurl and libcrypto; nook only passes the command on. */
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
  fflush(NULL);
  execv(helper, args);
  int e = errno;
  free(args);
  return nook_err(err, e, "run `%s`", helper);
}
