/* `nook slirp4netns ARGS` and nook started as `nook-slirp4netns`: the
 * slirp4netns-compatible entry point, served by the nook-net helper. */
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

int cmd_slirp4netns(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  _cleanup_free_ char *helper = nook_helper_path("nook-net");
  if (!helper)
    return nook_errx(err, ENOENT, "slirp4netns: the nook-net helper is not installed beside "
                                  "nook nor in its libexec directory");
  argv[0] = helper;
  execv(helper, argv);
  return nook_err(err, errno, "slirp4netns: exec %s", helper);
}
