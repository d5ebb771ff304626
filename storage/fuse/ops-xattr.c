/* Extended attributes, read from the topmost file, written after a copy-up.
 * overlay's own attributes (opaque markers and the like) are not shown and
 * cannot be set through the mount, as with the kernel's overlay. */
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

#include "ovl.h"
#include "util.h"

static bool hidden_xattr(const char *name) {
  return str_has_prefix(name, "user.overlay.") || str_has_prefix(name, "trusted.overlay.");
}

/* The absolute path of the node's topmost file; copied up first if write. */
static int xattr_path(struct ovl_fs *fs, fuse_ino_t ino, bool write, char out[PATH_MAX]) {
  /* ENOSYS tells the kernel to stop asking: with noxattrs, a write no
   * longer costs a request for security.capability. */
  if (fs->opt.noxattrs)
    return -ENOSYS;
  if (write && !fs->has_upper)
    return -EROFS;
  char rel[PATH_MAX];
  pthread_mutex_lock(&fs->lock);
  struct ovl_node *n = id_node(fs, ino);
  int r = write ? copy_up(fs, n, -1) : 0;
  if (r == 0)
    r = node_path(n, rel);
  if (r == 0 && snprintf(out, PATH_MAX, "%s/%s", fs->layers[n->layer].path, rel) >= PATH_MAX)
    r = -ENAMETOOLONG;
  pthread_mutex_unlock(&fs->lock);
  return r;
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
  struct ovl_fs *fs = req_fs(req);
  char path[PATH_MAX];
  if (hidden_xattr(name)) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  int r = xattr_path(fs, ino, false, path);
  if (r < 0) {
    fuse_reply_err(req, -r);
    return;
  }
  if (size == 0) {
    ssize_t n = lgetxattr(path, name, NULL, 0);
    if (n < 0)
      fuse_reply_err(req, errno);
    else
      fuse_reply_xattr(req, (size_t)n);
    return;
  }
  _cleanup_free_ char *buf = xmalloc(size);
  ssize_t n = lgetxattr(path, name, buf, size);
  if (n < 0)
    fuse_reply_err(req, errno);
  else
    fuse_reply_buf(req, buf, (size_t)n);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  struct ovl_fs *fs = req_fs(req);
  char path[PATH_MAX];
  int r = xattr_path(fs, ino, false, path);
  if (r < 0) {
    fuse_reply_err(req, -r);
    return;
  }
  ssize_t n = llistxattr(path, NULL, 0);
  if (n < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  _cleanup_free_ char *all = xmalloc((size_t)n + 1);
  n = llistxattr(path, all, (size_t)n);
  if (n < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  _cleanup_free_ char *shown = xmalloc((size_t)n + 1);
  size_t len = 0;
  for (char *p = all; p < all + n; p += strlen(p) + 1) {
    if (hidden_xattr(p))
      continue;
    size_t l = strlen(p) + 1;
    memcpy(shown + len, p, l);
    len += l;
  }
  if (size == 0)
    fuse_reply_xattr(req, len);
  else if (size < len)
    fuse_reply_err(req, ERANGE);
  else
    fuse_reply_buf(req, shown, len);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags) {
  struct ovl_fs *fs = req_fs(req);
  char path[PATH_MAX];
  if (hidden_xattr(name)) {
    fuse_reply_err(req, EPERM);
    return;
  }
  int r = xattr_path(fs, ino, true, path);
  if (r == 0 && lsetxattr(path, name, value, size, flags) < 0)
    r = -errno;
  fuse_reply_err(req, -r);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name) {
  struct ovl_fs *fs = req_fs(req);
  char path[PATH_MAX];
  if (hidden_xattr(name)) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  int r = xattr_path(fs, ino, true, path);
  if (r == 0 && lremovexattr(path, name) < 0)
    r = -errno;
  fuse_reply_err(req, -r);
}

void ovl_xattr_ops(struct fuse_lowlevel_ops *ops) {
  ops->getxattr = op_getxattr;
  ops->listxattr = op_listxattr;
  ops->setxattr = op_setxattr;
  ops->removexattr = op_removexattr;
}
