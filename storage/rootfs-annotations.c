#include "storage/rootfs-annotations.h"

#include <string.h>

#include "storage/rootfs.h"
#include "util.h"

bool rootfs_annotated_starts_process(const struct spec *spec) {
  const char *driver = spec_annotation(spec, "nook.rootfs.driver");
  return spec_annotation(spec, "nook.rootfs.lowerdirs") && driver && strcmp(driver, "fuse") == 0;
}

int rootfs_mount_annotated(const struct spec *spec, nook_error *err) {
  const char *lower = spec_annotation(spec, "nook.rootfs.lowerdirs");
  if (!lower)
    return 0;
  const char *upper = spec_annotation(spec, "nook.rootfs.upper");
  const char *work = spec_annotation(spec, "nook.rootfs.work");
  const char *driver = spec_annotation(spec, "nook.rootfs.driver");
  if (!upper || !work)
    return nook_errx(err, EINVAL,
                     "config.json: annotation nook.rootfs.lowerdirs needs nook.rootfs.upper and "
                     "nook.rootfs.work too");
  struct rootfs_info info = {.upper = (char *)upper, .work = (char *)work,
                             .driver = ROOTFS_NATIVE};
  if (driver && strcmp(driver, "fuse") == 0)
    info.driver = ROOTFS_FUSE;
  else if (driver && strcmp(driver, "native") != 0)
    return nook_errx(err, EINVAL,
                     "config.json: annotation nook.rootfs.driver is `%s`, not native or fuse",
                     driver);
  _cleanup_free_ char *copy = xstrdup(lower);
  _cleanup_free_ char **dirs = NULL;
  size_t n = 0;
  char *save = NULL;
  for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    dirs = xrealloc(dirs, (n + 2) * sizeof(char *));
    dirs[n++] = d;
    dirs[n] = NULL;
  }
  if (n == 0)
    return nook_errx(err, EINVAL, "config.json: annotation nook.rootfs.lowerdirs is empty");
  info.lowerdirs = dirs;
  return rootfs_mount_in_userns(&info, spec->root_path, err);
}
