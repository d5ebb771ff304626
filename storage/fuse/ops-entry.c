/* The namespace operations: lookup, attributes, creation and removal of
 * names, rename. Each runs under fs->lock: they read and change the node
 * table and the layers' namespace together. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ovl.h"
#include "util.h"

void ovl_fill_entry(struct ovl_fs *fs, struct ovl_node *n, struct stat *st,
                    struct fuse_entry_param *e) {
  ovl_present_stat(fs, n, st);
  e->ino = node_id(fs, n);
  e->generation = n->inode->generation;
  e->attr = *st;
  e->attr_timeout = fs->opt.timeout;
  e->entry_timeout = fs->opt.timeout;
  n->inode->nlookup++;
}

static void reply_entry_or_err(fuse_req_t req, int r, struct fuse_entry_param *e) {
  if (r < 0)
    fuse_reply_err(req, -r);
  else
    fuse_reply_entry(req, e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  struct ovl_fs *fs = req_fs(req);
  struct fuse_entry_param e = {0};
  struct stat st;
  struct ovl_node *n;
  pthread_mutex_lock(&fs->lock);
  int r = node_child(fs, id_node(fs, parent), name, &n, &st);
  if (r == 0) {
    ovl_fill_entry(fs, n, &st, &e);
    node_unpin(fs, n);
  }
  pthread_mutex_unlock(&fs->lock);
  if (r == -ENOENT) {
    /* A negative entry the kernel may cache: names only appear through us. */
    e.ino = 0;
    e.entry_timeout = fs->opt.timeout;
    fuse_reply_entry(req, &e);
    return;
  }
  reply_entry_or_err(req, r, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  struct ovl_fs *fs = req_fs(req);
  pthread_mutex_lock(&fs->lock);
  inode_forget(fs, id_inode(fs, ino), nlookup);
  pthread_mutex_unlock(&fs->lock);
  fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  struct ovl_fs *fs = req_fs(req);
  pthread_mutex_lock(&fs->lock);
  for (size_t i = 0; i < count; i++)
    inode_forget(fs, id_inode(fs, forgets[i].ino), forgets[i].nlookup);
  pthread_mutex_unlock(&fs->lock);
  fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct ovl_fs *fs = req_fs(req);
  struct stat st;
  pthread_mutex_lock(&fs->lock);
  struct ovl_node *n = id_node(fs, ino);
  int r = node_stat(fs, n, fi ? (int)fi->fh : -1, &st);
  if (r == 0)
    ovl_present_stat(fs, n, &st);
  pthread_mutex_unlock(&fs->lock);
  if (r < 0)
    fuse_reply_err(req, -r);
  else
    fuse_reply_attr(req, &st, fs->opt.timeout);
}

static int do_setattr(struct ovl_fs *fs, struct ovl_node *n, struct stat *attr, int to_set,
                      int fd) {
  char path[PATH_MAX];
  int upper = fs->layers[0].fd;
  int nofollow = AT_SYMLINK_NOFOLLOW;
  if (fd < 0 && !n->attached && n->inode->kept_fd >= 0 && n->layer == 0) {
    /* Unlinked but still open: through the fd kept at the unlink. */
    snprintf(path, sizeof(path), "/proc/self/fd/%d", n->inode->kept_fd);
    upper = AT_FDCWD;
    nofollow = 0;
  } else if (fd < 0) {
    int r = copy_up(fs, n, (to_set & FUSE_SET_ATTR_SIZE) ? attr->st_size : -1);
    if (r == 0)
      r = node_path(n, path);
    if (r < 0)
      return r;
  }
  if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? ovl_disk_uid(fs, attr->st_uid) : (uid_t)-1;
    gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? ovl_disk_gid(fs, attr->st_gid) : (gid_t)-1;
    if ((fd >= 0 ? fchown(fd, uid, gid) : fchownat(upper, path, uid, gid, nofollow)) < 0)
      return -errno;
  }
  if (to_set & FUSE_SET_ATTR_MODE) {
    if ((fd >= 0 ? fchmod(fd, attr->st_mode & 07777)
                 : fchmodat(upper, path, attr->st_mode & 07777, 0)) < 0)
      return -errno;
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    _cleanup_close_ int tfd = -1;
    if (fd < 0) {
      tfd = openat(upper, path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
      if (tfd < 0)
        return -errno;
    }
    if (ftruncate(fd >= 0 ? fd : tfd, attr->st_size) < 0)
      return -errno;
  }
  /* A truncate or chown by a process without CAP_FSETID: the kernel
   * leaves clearing the set-id bits to us (FUSE_HANDLE_KILLPRIV_V2). */
  if ((to_set & (FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) &&
      ovl_req_kill_suidgid()) {
    int r = ovl_kill_suidgid_at(upper, path, nofollow, fd);
    if (r < 0)
      return r; /* the reply carries the new mode */
  }
  if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
    struct timespec t[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
    if (to_set & FUSE_SET_ATTR_ATIME_NOW)
      t[0].tv_nsec = UTIME_NOW;
    else if (to_set & FUSE_SET_ATTR_ATIME)
      t[0] = attr->st_atim;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW)
      t[1].tv_nsec = UTIME_NOW;
    else if (to_set & FUSE_SET_ATTR_MTIME)
      t[1] = attr->st_mtim;
    if ((fd >= 0 ? futimens(fd, t) : utimensat(upper, path, t, nofollow)) < 0)
      return -errno;
  }
  return 0;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi);

static void run_setattr(struct ovl_job *j) {
  op_setattr(j->req, j->ino, &j->attr, j->i1, j->has_fi ? &j->fi : NULL);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi) {
  struct ovl_fs *fs = req_fs(req);
  if (!ovl_in_worker() && ovl_node_needs_copy_up(fs, ino)) {
    struct ovl_job *j = ovl_job_new(run_setattr, req);
    j->ino = ino;
    j->attr = *attr;
    j->i1 = to_set;
    j->has_fi = fi != NULL;
    if (fi)
      j->fi = *fi;
    if (ovl_defer(j))
      return;
  }
  struct stat st;
  pthread_mutex_lock(&fs->lock);
  struct ovl_node *n = id_node(fs, ino);
  int fd = -1;
  /* An fd from before a copy-up by another open may be the lower file's. */
  if (fi && n->layer == 0)
    fd = (int)fi->fh;
  int r = fs->has_upper ? do_setattr(fs, n, attr, to_set, fd) : -EROFS;
  if (r == 0)
    r = node_stat(fs, n, fd, &st);
  if (r == 0)
    ovl_present_stat(fs, n, &st);
  pthread_mutex_unlock(&fs->lock);
  if (r < 0)
    fuse_reply_err(req, -r);
  else
    fuse_reply_attr(req, &st, fs->opt.timeout);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  struct ovl_fs *fs = req_fs(req);
  char path[PATH_MAX], target[PATH_MAX + 1];
  pthread_mutex_lock(&fs->lock);
  struct ovl_node *n = id_node(fs, ino);
  int r = node_path(n, path);
  ssize_t len = r < 0 ? r : readlinkat(fs->layers[n->layer].fd, path, target, PATH_MAX);
  if (r == 0 && len < 0)
    r = -errno;
  pthread_mutex_unlock(&fs->lock);
  if (r < 0) {
    fuse_reply_err(req, -r);
    return;
  }
  target[len] = '\0';
  fuse_reply_readlink(req, target);
}

/* Makes room for a new upper entry parent/name: the parent in the upper
 * layer, no visible entry of that name, no whiteout left in the way.
 * *had_whiteout says whether one was removed (a new directory there must be
 * opaque). */
static int prepare_create(struct ovl_fs *fs, struct ovl_node *parent, const char *name,
                          char path[PATH_MAX], bool *had_whiteout) {
  if (!fs->has_upper)
    return -EROFS;
  if (is_whiteout_name(name))
    return -EINVAL;
  int r = copy_up(fs, parent, -1);
  if (r < 0)
    return r;
  struct ovl_node *existing;
  r = node_child(fs, parent, name, &existing, NULL);
  if (r == 0) {
    node_unpin(fs, existing);
    return -EEXIST;
  }
  if (r != -ENOENT)
    return r;
  char ppath[PATH_MAX];
  r = node_path(parent, ppath);
  if (r < 0)
    return r;
  r = child_path_str(ppath, name, path);
  if (r < 0)
    return r;
  r = upper_remove_whiteout(fs, ppath, name);
  if (r < 0)
    return r;
  *had_whiteout = r == 1;
  return 0;
}

/* The creator owns a new file, as on any filesystem. */
static int set_owner(struct ovl_fs *fs, fuse_req_t req, struct ovl_node *parent, const char *path,
                     int fd) {
  const struct fuse_ctx *ctx = fuse_req_ctx(req);
  uid_t uid = ovl_disk_uid(fs, ctx->uid);
  gid_t gid = ovl_disk_gid(fs, ctx->gid);
  struct stat pst;
  if (node_stat(fs, parent, -1, &pst) == 0 && (pst.st_mode & S_ISGID))
    gid = pst.st_gid;
  if (uid == fs->euid && gid == fs->egid)
    return 0;
  int r = fd >= 0 ? fchown(fd, uid, gid)
                  : fchownat(fs->layers[0].fd, path, uid, gid, AT_SYMLINK_NOFOLLOW);
  if (r < 0 && errno != EPERM && errno != EINVAL)
    return -errno;
  return 0;
}

static int finish_create(struct ovl_fs *fs, struct ovl_node *parent, const char *name,
                         const char *path, bool fresh, struct fuse_entry_param *e) {
  struct stat st;
  if (fstatat(fs->layers[0].fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return -errno;
  struct ovl_node *n = node_new_upper(fs, parent, name, &st, 0, fresh);
  ovl_fill_entry(fs, n, &st, e);
  return 0;
}

enum create_kind { CREATE_NODE, CREATE_DIR, CREATE_SYMLINK };

static void do_create(fuse_req_t req, fuse_ino_t parent_id, const char *name, mode_t mode,
                      dev_t rdev, const char *link_target, enum create_kind kind) {
  struct ovl_fs *fs = req_fs(req);
  struct fuse_entry_param e = {0};
  char path[PATH_MAX], ppath[PATH_MAX];
  bool had_whiteout = false;
  pthread_mutex_lock(&fs->lock);
  struct ovl_node *parent = id_node(fs, parent_id);
  int r = prepare_create(fs, parent, name, path, &had_whiteout);
  int upper = fs->layers[0].fd;
  if (r == 0) {
    int c;
    if (kind == CREATE_DIR)
      c = mkdirat(upper, path, mode & 07777);
    else if (kind == CREATE_SYMLINK)
      c = symlinkat(link_target, upper, path);
    else if (S_ISCHR(mode) && rdev == makedev(0, 0))
      c = (errno = EPERM, -1); /* it would read as a whiteout */
    else
      c = mknodat(upper, path, mode, rdev);
    if (c < 0) {
      r = -errno;
      if (had_whiteout && node_path(parent, ppath) == 0)
        upper_create_whiteout(fs, ppath, name);
    }
  }
  if (r == 0 && kind == CREATE_DIR && had_whiteout)
    r = upper_set_opaque(fs, path);
  if (r == 0)
    r = set_owner(fs, req, parent, path, -1);
  if (r == 0)
    r = finish_create(fs, parent, name, path, true, &e);
  pthread_mutex_unlock(&fs->lock);
  reply_entry_or_err(req, r, &e);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                     dev_t rdev) {
  do_create(req, parent, name, mode, rdev, NULL, CREATE_NODE);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  do_create(req, parent, name, mode, 0, NULL, CREATE_DIR);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) {
  do_create(req, parent, name, S_IFLNK | 0777, 0, link, CREATE_SYMLINK);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);

static void run_link(struct ovl_job *j) { op_link(j->req, j->ino, j->ino2, j->s1); }

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  struct ovl_fs *fs = req_fs(req);
  if (!ovl_in_worker() && ovl_node_needs_copy_up(fs, ino)) {
    struct ovl_job *j = ovl_job_new(run_link, req);
    j->ino = ino;
    j->ino2 = newparent;
    j->s1 = xstrdup(newname);
    if (ovl_defer(j))
      return;
  }
  struct fuse_entry_param e = {0};
  char path[PATH_MAX], src[PATH_MAX];
  bool had_whiteout = false;
  pthread_mutex_lock(&fs->lock);
  struct ovl_node *n = id_node(fs, ino);
  struct ovl_node *parent = id_node(fs, newparent);
  int r = fs->has_upper ? copy_up(fs, n, -1) : -EROFS;
  if (r == 0)
    r = prepare_create(fs, parent, newname, path, &had_whiteout);
  if (r == 0)
    r = node_path(n, src);
  if (r == 0 && linkat(fs->layers[0].fd, src, fs->layers[0].fd, path, 0) < 0)
    r = -errno;
  if (r == 0)
    r = finish_create(fs, parent, newname, path, false, &e);
  pthread_mutex_unlock(&fs->lock);
  reply_entry_or_err(req, r, &e);
}

/* Removes parent/name (a directory when dir) from the merged view. */
static int do_remove(struct ovl_fs *fs, struct ovl_node *parent, const char *name, bool dir) {
  if (!fs->has_upper)
    return -EROFS;
  struct ovl_node *n;
  int r = node_child(fs, parent, name, &n, NULL);
  if (r < 0)
    return r;
  if (dir && n->type != S_IFDIR)
    r = -ENOTDIR;
  else if (!dir && n->type == S_IFDIR)
    r = -EISDIR;
  if (r == 0 && dir)
    r = dir_check_empty(fs, n);
  if (r == 0)
    r = copy_up(fs, parent, -1);
  char path[PATH_MAX], ppath[PATH_MAX];
  if (r == 0)
    r = node_path(n, path);
  if (r == 0)
    r = node_path(parent, ppath);
  if (r == 0 && !dir)
    node_keep_fd(fs, n);
  if (r == 0 && n->layer == 0) {
    if (dir)
      r = upper_clear_dir(fs, path);
    if (r == 0 && unlinkat(fs->layers[0].fd, path, dir ? AT_REMOVEDIR : 0) < 0)
      r = -errno;
  }
  if (r == 0 && lower_has_entry(fs, parent, name))
    r = upper_create_whiteout(fs, ppath, name);
  if (r == 0)
    node_detach(fs, n);
  node_unpin(fs, n);
  return r;
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
  struct ovl_fs *fs = req_fs(req);
  pthread_mutex_lock(&fs->lock);
  int r = do_remove(fs, id_node(fs, parent), name, false);
  pthread_mutex_unlock(&fs->lock);
  fuse_reply_err(req, -r);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) {
  struct ovl_fs *fs = req_fs(req);
  pthread_mutex_lock(&fs->lock);
  int r = do_remove(fs, id_node(fs, parent), name, true);
  pthread_mutex_unlock(&fs->lock);
  fuse_reply_err(req, -r);
}

static void set_upper_only(struct ovl_node *n, void *data) {
  n->layer = 0;
  n->last_layer = 0;
}

static int do_rename(struct ovl_fs *fs, struct ovl_node *oldp, const char *oldname,
                     struct ovl_node *newp, const char *newname, unsigned int flags) {
  if (!fs->has_upper)
    return -EROFS;
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
    return -EINVAL;
  if (is_whiteout_name(newname))
    return -EINVAL;
  struct ovl_node *src = NULL, *dst = NULL;
  int r = node_child(fs, oldp, oldname, &src, NULL);
  if (r < 0)
    return r;
  r = node_child(fs, newp, newname, &dst, NULL);
  if (r == -ENOENT) {
    dst = NULL;
    r = (flags & RENAME_EXCHANGE) ? -ENOENT : 0;
  }
  if (r < 0)
    goto out;
  if (src == dst)
    goto out;
  bool src_dir = src->type == S_IFDIR;
  if (dst && (flags & RENAME_NOREPLACE)) {
    r = -EEXIST;
    goto out;
  }
  if (dst && !(flags & RENAME_EXCHANGE)) {
    bool dst_dir = dst->type == S_IFDIR;
    if (src_dir && !dst_dir)
      r = -ENOTDIR;
    else if (!src_dir && dst_dir)
      r = -EISDIR;
    else if (dst_dir)
      r = dir_check_empty(fs, dst);
    if (r < 0)
      goto out;
  }

  /* Everything that moves must be wholly in the upper layer first; a
   * directory with lower parts is copied with its whole tree (the kernel's
   * overlay without redirect_dir answers EXDEV here). */
  r = copy_up(fs, newp, -1);
  if (r == 0)
    r = copy_up(fs, oldp, -1);
  if (r == 0)
    r = src_dir ? copy_up_tree(fs, src) : copy_up(fs, src, -1);
  if (r == 0 && dst && (flags & RENAME_EXCHANGE))
    r = dst->type == S_IFDIR ? copy_up_tree(fs, dst) : copy_up(fs, dst, -1);
  if (r < 0)
    goto out;

  char oldpath[PATH_MAX], newpath[PATH_MAX], oldppath[PATH_MAX], newppath[PATH_MAX];
  if ((r = node_path(src, oldpath)) < 0 || (r = child_path(newp, newname, newpath)) < 0 ||
      (r = node_path(oldp, oldppath)) < 0 || (r = node_path(newp, newppath)) < 0)
    goto out;
  int upper = fs->layers[0].fd;

  if (flags & RENAME_EXCHANGE) {
    if (renameat2(upper, oldpath, upper, newpath, RENAME_EXCHANGE) < 0) {
      r = -errno;
      goto out;
    }
    if (src_dir && lower_has_entry(fs, newp, newname))
      upper_set_opaque(fs, newpath);
    if (dst->type == S_IFDIR && lower_has_entry(fs, oldp, oldname))
      upper_set_opaque(fs, oldpath);
    /* Swap the two nodes' places. */
    struct ovl_node *tmp_parent = oldp;
    node_pin(tmp_parent);
    node_move(fs, src, newp, "\x01nook-exchange");
    node_move(fs, dst, oldp, oldname);
    node_move(fs, src, newp, newname);
    node_unpin(fs, tmp_parent);
    goto out;
  }

  bool need_opaque = src_dir && lower_has_entry(fs, newp, newname);
  if (dst && dst->layer == 0 && dst->type == S_IFDIR) {
    r = upper_clear_dir(fs, newpath);
    if (r < 0)
      goto out;
  }
  /* A directory cannot replace a whiteout device: remove it first. */
  if (src_dir) {
    struct stat st;
    if (fstatat(upper, newpath, &st, AT_SYMLINK_NOFOLLOW) == 0 && stat_is_whiteout(&st) &&
        unlinkat(upper, newpath, 0) < 0) {
      r = -errno;
      goto out;
    }
  }
  if (need_opaque && (r = upper_set_opaque(fs, oldpath)) < 0)
    goto out;
  if (dst && dst->type != S_IFDIR)
    node_keep_fd(fs, dst);
  if (renameat2(upper, oldpath, upper, newpath, flags & RENAME_NOREPLACE) < 0) {
    r = -errno;
    goto out;
  }
  /* The layer form of a whiteout may still name the new entry. */
  r = upper_remove_whiteout(fs, newppath, newname);
  if (r == 1) /* that could only be the .wh. form, the device was replaced */
    r = 0;
  if (r < 0)
    goto out;
  if (lower_has_entry(fs, oldp, oldname))
    r = upper_create_whiteout(fs, oldppath, oldname);
  if (dst)
    node_detach(fs, dst);
  node_move(fs, src, newp, newname);
  src->layer = 0;
  if (src_dir) {
    src->last_layer = 0;
    node_for_each_below(fs, src, set_upper_only, NULL);
  }
out:
  if (dst)
    node_unpin(fs, dst);
  node_unpin(fs, src);
  return r;
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags);

static void run_rename(struct ovl_job *j) {
  op_rename(j->req, j->ino, j->s1, j->ino2, j->s2, (unsigned int)j->i1);
}

/* A rename copies up a lower file, or a directory with all it holds. */
static bool rename_may_copy_up(struct ovl_fs *fs, fuse_ino_t parent, const char *name) {
  pthread_mutex_lock(&fs->lock);
  struct ovl_node *src = node_find(fs, id_node(fs, parent), name);
  bool r = !src || src->layer > 0 || (src->type == S_IFDIR && src->last_layer > 0);
  pthread_mutex_unlock(&fs->lock);
  return r;
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags) {
  struct ovl_fs *fs = req_fs(req);
  if (!ovl_in_worker() && rename_may_copy_up(fs, parent, name)) {
    struct ovl_job *j = ovl_job_new(run_rename, req);
    j->ino = parent;
    j->s1 = xstrdup(name);
    j->ino2 = newparent;
    j->s2 = xstrdup(newname);
    j->i1 = (int)flags;
    if (ovl_defer(j))
      return;
  }
  pthread_mutex_lock(&fs->lock);
  int r = do_rename(fs, id_node(fs, parent), name, id_node(fs, newparent), newname, flags);
  pthread_mutex_unlock(&fs->lock);
  fuse_reply_err(req, -r);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino) {
  struct ovl_fs *fs = req_fs(req);
  struct statvfs sv;
  int fd = fs->has_upper ? fs->layers[0].fd : fs->layers[1].fd;
  if (fstatvfs(fd, &sv) < 0)
    fuse_reply_err(req, errno);
  else
    fuse_reply_statfs(req, &sv);
}

void ovl_entry_ops(struct fuse_lowlevel_ops *ops) {
  ops->lookup = op_lookup;
  ops->forget = op_forget;
  ops->forget_multi = op_forget_multi;
  ops->getattr = op_getattr;
  ops->setattr = op_setattr;
  ops->readlink = op_readlink;
  ops->mknod = op_mknod;
  ops->mkdir = op_mkdir;
  ops->symlink = op_symlink;
  ops->link = op_link;
  ops->unlink = op_unlink;
  ops->rmdir = op_rmdir;
  ops->rename = op_rename;
  ops->statfs = op_statfs;
}
