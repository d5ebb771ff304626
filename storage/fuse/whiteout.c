/* Whiteouts and opaque directories. Read in both forms: the kernel's (a 0/0
 * character device, an `overlay.opaque` xattr) and the OCI layer form
 * (`.wh.NAME`, `.wh..wh..opq`). Written in the kernel's form where the
 * filesystem and our privileges allow it, so native overlay can use the
 * upper directory too. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ovl.h"
#include "util.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

bool stat_is_whiteout(const struct stat *st) {
  return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

bool is_whiteout_name(const char *name) { return strncmp(name, WH_PREFIX, 4) == 0; }

static int wh_path(char buf[PATH_MAX], const char *parent_path, const char *name) {
  int n;
  if (strcmp(parent_path, ".") == 0)
    n = snprintf(buf, PATH_MAX, WH_PREFIX "%s", name);
  else
    n = snprintf(buf, PATH_MAX, "%s/" WH_PREFIX "%s", parent_path, name);
  return n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int layer_xattr_fd(struct ovl_fs *fs, unsigned int layer, const char *path) {
  struct stat st;
  if (fstatat(fs->layers[layer].fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return -errno;
  /* Opening a device could do something; a symlink cannot be opened. */
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISFIFO(st.st_mode))
    return -ENOTSUP;
  int fd = openat(fs->layers[layer].fd, path,
                  O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

static bool xattr_is_y(int fd, const char *name) {
  char v[8];
  ssize_t n = fgetxattr(fd, name, v, sizeof(v));
  return n == 1 && v[0] == 'y';
}

bool layer_dir_is_opaque(struct ovl_fs *fs, unsigned int layer, const char *path) {
  int fd = layer_xattr_fd(fs, layer, path);
  if (fd >= 0) {
    bool y = xattr_is_y(fd, "user.overlay.opaque") || xattr_is_y(fd, "trusted.overlay.opaque");
    close(fd);
    if (y)
      return true;
  }
  char marker[PATH_MAX];
  int n = snprintf(marker, sizeof(marker), "%s/" WH_OPAQUE, path);
  if (n >= PATH_MAX)
    return false;
  return faccessat(fs->layers[layer].fd, marker, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

bool layer_has_whiteout(struct ovl_fs *fs, unsigned int layer, const char *parent_path,
                        const char *name) {
  char p[PATH_MAX];
  if (wh_path(p, parent_path, name) < 0)
    return false;
  return faccessat(fs->layers[layer].fd, p, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int upper_create_whiteout(struct ovl_fs *fs, const char *parent_path, const char *name) {
  char p[PATH_MAX];
  int r = child_path_str(parent_path, name, p);
  if (r < 0)
    return r;
  if (fs->can_mknod_whiteout) {
    if (mknodat(fs->layers[0].fd, p, S_IFCHR | 0, makedev(0, 0)) == 0)
      return 0;
    if (errno != EPERM && errno != EOPNOTSUPP)
      return -errno;
    fs->can_mknod_whiteout = false;
  }
  r = wh_path(p, parent_path, name);
  if (r < 0)
    return r;
  int fd = openat(fs->layers[0].fd, p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0);
  if (fd < 0)
    return -errno;
  close(fd);
  return 0;
}

int upper_remove_whiteout(struct ovl_fs *fs, const char *parent_path, const char *name) {
  char p[PATH_MAX];
  int r = child_path_str(parent_path, name, p);
  if (r < 0)
    return r;
  int found = 0;
  struct stat st;
  if (fstatat(fs->layers[0].fd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && stat_is_whiteout(&st)) {
    if (unlinkat(fs->layers[0].fd, p, 0) < 0)
      return -errno;
    found = 1;
  }
  r = wh_path(p, parent_path, name);
  if (r < 0)
    return r;
  if (unlinkat(fs->layers[0].fd, p, 0) == 0)
    found = 1;
  else if (errno != ENOENT)
    return -errno;
  return found;
}

int upper_set_opaque(struct ovl_fs *fs, const char *path) {
  int dfd = layer_xattr_fd(fs, 0, path);
  if (dfd < 0)
    return dfd;
  int r = fsetxattr(dfd, "user.overlay.opaque", "y", 1, 0);
  close(dfd);
  if (r == 0)
    return 0;
  /* No user xattrs on this filesystem: the layer form. */
  char marker[PATH_MAX];
  if (snprintf(marker, sizeof(marker), "%s/" WH_OPAQUE, path) >= PATH_MAX)
    return -ENAMETOOLONG;
  int fd = openat(fs->layers[0].fd, marker, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0);
  if (fd < 0)
    return -errno;
  close(fd);
  return 0;
}

int upper_clear_dir(struct ovl_fs *fs, const char *path) {
  int fd = openat(fs->layers[0].fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  DIR *d = fdopendir(fd);
  if (!d) {
    int e = errno;
    close(fd);
    return -e;
  }
  _cleanup_closedir_ DIR *dir = d;
  struct dirent *de;
  int ret = 0;
  while ((de = readdir(dir))) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    bool remove = is_whiteout_name(de->d_name);
    if (!remove && (de->d_type == DT_CHR || de->d_type == DT_UNKNOWN)) {
      struct stat st;
      remove = fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && stat_is_whiteout(&st);
    }
    if (!remove)
      return -ENOTEMPTY;
    if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT && ret == 0)
      ret = -errno;
  }
  return ret;
}

bool lower_has_entry(struct ovl_fs *fs, struct ovl_node *parent, const char *name) {
  char path[PATH_MAX], ppath[PATH_MAX];
  if (child_path(parent, name, path) < 0 || node_path(parent, ppath) < 0)
    return false;
  unsigned int first = parent->layer == 0 ? 1 : parent->layer;
  /* A whiteout in the upper layer stands for a lower entry. */
  if (parent->layer == 0 && fs->has_upper) {
    struct stat st;
    if (fstatat(fs->layers[0].fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && stat_is_whiteout(&st))
      return true;
    if (layer_has_whiteout(fs, 0, ppath, name))
      return true;
  }
  for (unsigned int l = first; l <= parent->last_layer; l++) {
    struct stat st;
    if (fstatat(fs->layers[l].fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0)
      return !stat_is_whiteout(&st);
    if (layer_has_whiteout(fs, l, ppath, name))
      return false;
  }
  return false;
}
