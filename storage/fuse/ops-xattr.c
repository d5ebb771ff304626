/* Extended attributes, read from the topmost file, written after a copy-up.
 * overlay's own attributes (opaque markers and the like) are not shown and
 * cannot be set through the mount, as with the kernel's overlay. */
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ovl.h"
#include "util.h"

static bool hidden_xattr(const char *name) {
  return str_has_prefix(name, "user.overlay.") || str_has_prefix(name, "trusted.overlay.");
}

/* An fd on the node's topmost file (see layer_xattr_fd); copied up first
 * when the xattrs are to change. */
static int xattr_fd(struct ovl_fs *fs, fuse_ino_t ino, bool write) {
  if (fs->opt.noxattrs)
    return -ENOSYS; /* the kernel stops asking: no request for each write */
  if (write && !fs->has_upper)
    return -EROFS;
  char rel[PATH_MAX];
  pthread_mutex_lock(&fs->lock);
  struct ovl_node *n = id_node(fs, ino);
  int r = write ? copy_up(fs, n, -1) : 0;
  if (r == 0)
    r = node_path(n, rel);
  if (r == 0)
    r = layer_xattr_fd(fs, n->layer, rel);
  else if (r == -ENOENT && !n->attached && n->inode->kept_fd >= 0)
    r = -ENOTSUP; /* unlinked: nothing to show */
  pthread_mutex_unlock(&fs->lock);
  return r;
}

/* The kernel asks before the first write to every file (to clear file
 * capabilities on write); a file made here and given no xattr has none. */
static bool known_without_fcaps(struct ovl_fs *fs, fuse_ino_t ino) {
  pthread_mutex_lock(&fs->lock);
  bool r = id_inode(fs, ino)->no_fcaps;
  pthread_mutex_unlock(&fs->lock);
  return r;
}

static void forget_no_fcaps(struct ovl_fs *fs, fuse_ino_t ino) {
  pthread_mutex_lock(&fs->lock);
  id_inode(fs, ino)->no_fcaps = false;
  pthread_mutex_unlock(&fs->lock);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
  struct ovl_fs *fs = req_fs(req);
  if (hidden_xattr(name)) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  if (strcmp(name, "security.capability") == 0 && known_without_fcaps(fs, ino)) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  int fd = xattr_fd(fs, ino, false);
  if (fd == -ENOTSUP) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  if (fd < 0) {
    fuse_reply_err(req, -fd);
    return;
  }
  _cleanup_close_ int cfd = fd;
  if (size == 0) {
    ssize_t n = fgetxattr(fd, name, NULL, 0);
    if (n < 0)
      fuse_reply_err(req, errno);
    else
      fuse_reply_xattr(req, (size_t)n);
    return;
  }
  _cleanup_free_ char *buf = xmalloc(size);
  ssize_t n = fgetxattr(fd, name, buf, size);
  if (n < 0)
    fuse_reply_err(req, errno);
  else
    fuse_reply_buf(req, buf, (size_t)n);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  struct ovl_fs *fs = req_fs(req);
  int fd = xattr_fd(fs, ino, false);
  if (fd == -ENOTSUP) {
    if (size == 0)
      fuse_reply_xattr(req, 0);
    else
      fuse_reply_buf(req, NULL, 0);
    return;
  }
  if (fd < 0) {
    fuse_reply_err(req, -fd);
    return;
  }
  _cleanup_close_ int cfd = fd;
  ssize_t n = flistxattr(fd, NULL, 0);
  if (n < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  _cleanup_free_ char *all = xmalloc((size_t)n + 1);
  n = flistxattr(fd, all, (size_t)n);
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
                        size_t size, int flags);

static void run_setxattr(struct ovl_job *j) {
  op_setxattr(j->req, j->ino, j->s1, j->data, j->size, j->i1);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags) {
  struct ovl_fs *fs = req_fs(req);
  if (!ovl_in_worker() && ovl_node_needs_copy_up(fs, ino)) {
    struct ovl_job *j = ovl_job_new(run_setxattr, req);
    j->ino = ino;
    j->s1 = xstrdup(name);
    j->data = xmalloc(size + 1);
    memcpy(j->data, value, size);
    j->size = size;
    j->i1 = flags;
    if (ovl_defer(j))
      return;
  }
  if (hidden_xattr(name)) {
    fuse_reply_err(req, EPERM);
    return;
  }
  forget_no_fcaps(fs, ino);
  int fd = xattr_fd(fs, ino, true);
  int r = fd == -ENOTSUP ? -EPERM : fd < 0 ? fd : 0;
  if (fd >= 0) {
    if (fsetxattr(fd, name, value, size, flags) < 0)
      r = -errno;
    close(fd);
  }
  fuse_reply_err(req, -r);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

static void run_removexattr(struct ovl_job *j) { op_removexattr(j->req, j->ino, j->s1); }

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name) {
  struct ovl_fs *fs = req_fs(req);
  if (!ovl_in_worker() && ovl_node_needs_copy_up(fs, ino)) {
    struct ovl_job *j = ovl_job_new(run_removexattr, req);
    j->ino = ino;
    j->s1 = xstrdup(name);
    if (ovl_defer(j))
      return;
  }
  if (hidden_xattr(name)) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  forget_no_fcaps(fs, ino);
  int fd = xattr_fd(fs, ino, true);
  int r = fd == -ENOTSUP ? -EPERM : fd < 0 ? fd : 0;
  if (fd >= 0) {
    if (fremovexattr(fd, name) < 0)
      r = -errno;
    close(fd);
  }
  fuse_reply_err(req, -r);
}

void ovl_xattr_ops(struct fuse_lowlevel_ops *ops) {
  ops->getxattr = op_getxattr;
  ops->listxattr = op_listxattr;
  ops->setxattr = op_setxattr;
  ops->removexattr = op_removexattr;
}
