/* File data: an open file is an fd on the layer file itself, so reads and
 * writes go straight to it (spliced, no copy through this process) without
 * taking the namespace lock. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ovl.h"
#include "util.h"

static int open_flags(struct ovl_fs *fs, int flags) {
  flags &= ~(O_CREAT | O_EXCL | O_NOCTTY);
  if (fs->opt.writeback) {
    /* The kernel's writeback cache reads pages of write-only files and
     * appends by itself. */
    if ((flags & O_ACCMODE) == O_WRONLY)
      flags = (flags & ~O_ACCMODE) | O_RDWR;
    flags &= ~O_APPEND;
  }
  return flags | O_CLOEXEC | O_NOFOLLOW;
}

static bool wants_write(int flags) {
  return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

static void run_open(struct ovl_job *j) { op_open(j->req, j->ino, &j->fi); }

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct ovl_fs *fs = req_fs(req);
  if (!ovl_in_worker() && wants_write(fi->flags) && ovl_node_needs_copy_up(fs, ino)) {
    struct ovl_job *j = ovl_job_new(run_open, req);
    j->ino = ino;
    j->fi = *fi;
    if (ovl_defer(j))
      return;
  }
  char path[PATH_MAX];
  int fd = -1;
  pthread_mutex_lock(&fs->lock);
  struct ovl_node *n = id_node(fs, ino);
  int r = 0;
  if (wants_write(fi->flags))
    r = copy_up(fs, n, (fi->flags & O_TRUNC) ? 0 : -1);
  if (r == 0)
    r = node_path(n, path);
  /* An O_TRUNC by a process without CAP_FSETID clears the set-id bits:
   * here the truncate itself may already do it (in a user namespace this
   * process has no CAP_FSETID either), so look before. */
  bool kill = r == 0 && (fi->flags & O_TRUNC) && ovl_req_kill_suidgid(), had_setid = false;
  struct stat before;
  if (kill && fstatat(fs->layers[n->layer].fd, path, &before, AT_SYMLINK_NOFOLLOW) == 0)
    had_setid = before.st_mode & (S_ISUID | S_ISGID);
  if (r == 0) {
    fd = openat(fs->layers[n->layer].fd, path, open_flags(fs, fi->flags));
    if (fd < 0)
      r = -errno;
  }
  if (r == 0 && had_setid) {
    r = ovl_kill_suidgid_at(-1, NULL, 0, fd);
    if (r > 0)
      r = 0;
  }
  pthread_mutex_unlock(&fs->lock);
  if (r == 0 && had_setid)
    ovl_forget_cached_attrs(fs, ino);
  if (r < 0) {
    if (fd >= 0)
      close(fd);
    fuse_reply_err(req, -r);
    return;
  }
  fi->fh = (uint64_t)fd;
  /* Contents change only through this mount: the page cache stays good. */
  fi->keep_cache = 1;
  fi->noflush = 1;
  if (fuse_reply_open(req, fi) != 0)
    close(fd);
}

static void op_create(fuse_req_t req, fuse_ino_t parent_id, const char *name, mode_t mode,
                      struct fuse_file_info *fi) {
  struct ovl_fs *fs = req_fs(req);
  struct fuse_entry_param e = {0};
  char path[PATH_MAX], ppath[PATH_MAX];
  int fd = -1;
  pthread_mutex_lock(&fs->lock);
  struct ovl_node *parent = id_node(fs, parent_id);
  int r = fs->has_upper ? 0 : -EROFS;
  if (r == 0 && is_whiteout_name(name))
    r = -EINVAL;
  if (r == 0)
    r = copy_up(fs, parent, -1);
  if (r == 0)
    r = node_path(parent, ppath);
  if (r == 0)
    r = child_path_str(ppath, name, path);
  int upper = fs->layers[0].fd;
  if (r == 0) {
    /* The kernel looked the name up just before: it is free in the merged
     * view, so only a whiteout can be in the way. */
    fd = openat(upper, path, open_flags(fs, fi->flags) | O_CREAT | O_EXCL, mode & 07777);
    if (fd < 0 && errno == EEXIST) {
      struct ovl_node *existing;
      r = node_child(fs, parent, name, &existing, NULL);
      if (r == 0) {
        node_unpin(fs, existing);
        r = -EEXIST;
      } else if (r == -ENOENT) {
        r = upper_remove_whiteout(fs, ppath, name);
        if (r >= 0) {
          r = 0;
          fd = openat(upper, path, open_flags(fs, fi->flags) | O_CREAT | O_EXCL, mode & 07777);
          if (fd < 0)
            r = -errno;
        }
      }
    } else if (fd < 0) {
      r = -errno;
    } else if (layer_has_whiteout(fs, 0, ppath, name)) {
      int w = upper_remove_whiteout(fs, ppath, name);
      if (w < 0)
        r = w;
    }
  }
  struct stat st;
  if (r == 0) {
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    uid_t uid = ovl_disk_uid(fs, ctx->uid);
    gid_t gid = ovl_disk_gid(fs, ctx->gid);
    if (fstat(fd, &st) < 0) {
      r = -errno;
    } else {
      struct stat pst;
      if (fstatat(upper, ppath, &pst, 0) == 0 && (pst.st_mode & S_ISGID))
        gid = pst.st_gid;
      if ((uid != st.st_uid || gid != st.st_gid) && fchown(fd, uid, gid) == 0)
        fstat(fd, &st);
    }
  }
  if (r == 0) {
    struct ovl_node *n = node_new_upper(fs, parent, name, &st, 0, true);
    n->inode->no_fcaps = true;
    ovl_fill_entry(fs, n, &st, &e);
  }
  pthread_mutex_unlock(&fs->lock);
  if (r < 0) {
    if (fd >= 0)
      close(fd);
    fuse_reply_err(req, -r);
    return;
  }
  fi->fh = (uint64_t)fd;
  fi->keep_cache = 1;
  fi->noflush = 1;
  if (fuse_reply_create(req, &e, fi) != 0)
    close(fd);
}

/* Up to this size a read is copied through this process: pread and one
 * writev of the answer cost fewer system calls than moving the pages
 * through a pipe (vmsplice, two splices), and for a few pages the copy
 * costs less than the calls. */
#define SMALL_READ (32 * 1024)

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi) {
  if (size <= SMALL_READ) {
    static __thread char small[SMALL_READ];
    ssize_t n = pread((int)fi->fh, small, size, off);
    if (n < 0)
      fuse_reply_err(req, errno);
    else
      fuse_reply_buf(req, small, (size_t)n);
    return;
  }
  struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
  buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
  buf.buf[0].fd = (int)fi->fh;
  buf.buf[0].pos = off;
  fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
                         struct fuse_file_info *fi) {
  if (ovl_req_kill_suidgid()) {
    int r = ovl_kill_suidgid_at(-1, NULL, 0, (int)fi->fh);
    if (r < 0) {
      fuse_reply_err(req, -r);
      return;
    }
    if (r == 1)
      ovl_forget_cached_attrs(req_fs(req), ino);
  }
  struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
  out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
  out.buf[0].fd = (int)fi->fh;
  out.buf[0].pos = off;
  ssize_t n = fuse_buf_copy(&out, in, 0);
  if (n < 0)
    fuse_reply_err(req, (int)-n);
  else
    fuse_reply_write(req, (size_t)n);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  close((int)fi->fh);
  fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

static void run_fsync(struct ovl_job *j) { op_fsync(j->req, j->ino, j->i1, &j->fi); }

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  struct ovl_fs *fs = req_fs(req);
  if (fs->opt.fsync && !ovl_in_worker()) {
    struct ovl_job *j = ovl_job_new(run_fsync, req);
    j->ino = ino;
    j->i1 = datasync;
    j->fi = *fi;
    if (ovl_defer(j))
      return;
  }
  int r = 0;
  if (fs->opt.fsync && (datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh)) < 0)
    r = errno;
  fuse_reply_err(req, r);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                         struct fuse_file_info *fi);

static void run_fallocate(struct ovl_job *j) {
  op_fallocate(j->req, j->ino, j->i1, j->o1, j->o2, &j->fi);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                         struct fuse_file_info *fi) {
  if (!ovl_in_worker()) {
    struct ovl_job *j = ovl_job_new(run_fallocate, req);
    j->ino = ino;
    j->i1 = mode;
    j->o1 = off;
    j->o2 = len;
    j->fi = *fi;
    if (ovl_defer(j))
      return;
  }
  fuse_reply_err(req, fallocate((int)fi->fh, mode, off, len) < 0 ? errno : 0);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
                     struct fuse_file_info *fi) {
  off_t r = lseek((int)fi->fh, off, whence);
  if (r < 0)
    fuse_reply_err(req, errno);
  else
    fuse_reply_lseek(req, r);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
                               struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
                               struct fuse_file_info *fi_out, size_t len, int flags);

static void run_copy_file_range(struct ovl_job *j) {
  op_copy_file_range(j->req, j->ino, j->o1, &j->fi, j->ino2, j->o2, &j->fi2, j->size, j->i1);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
                               struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
                               struct fuse_file_info *fi_out, size_t len, int flags) {
  if (!ovl_in_worker()) {
    struct ovl_job *j = ovl_job_new(run_copy_file_range, req);
    j->ino = ino_in;
    j->o1 = off_in;
    j->fi = *fi_in;
    j->ino2 = ino_out;
    j->o2 = off_out;
    j->fi2 = *fi_out;
    j->size = len;
    j->i1 = flags;
    if (ovl_defer(j))
      return;
  }
  ssize_t n = copy_file_range((int)fi_in->fh, &off_in, (int)fi_out->fh, &off_out, len,
                              (unsigned int)flags);
  if (n < 0)
    fuse_reply_err(req, errno);
  else
    fuse_reply_write(req, (size_t)n);
}

static void op_init(void *userdata, struct fuse_conn_info *conn) {
  struct ovl_fs *fs = userdata;
  unsigned int want = FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
                      FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_READDIRPLUS |
                      FUSE_CAP_ASYNC_READ | FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_CACHE_SYMLINKS |
                      FUSE_CAP_ASYNC_DIO;
  if (fs->opt.writeback)
    want |= FUSE_CAP_WRITEBACK_CACHE;
  conn->want |= want & conn->capable;
  /* No ACLs (noacl) and no locks here: the kernel keeps locks locally.
   * Requests are read without splice: for the small requests that make up
   * most traffic it costs two more system calls each. */
  conn->want &= ~(unsigned int)(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_POSIX_ACL |
                                FUSE_CAP_SPLICE_READ);
  /* Always readdirplus: one request answers a page of entries with their
   * attributes, where plain readdir costs a lookup request per entry. */
  conn->want &= ~(unsigned int)FUSE_CAP_READDIRPLUS_AUTO;
  /* The kernel clears set-id bits on writes by others, as with any file. */
  conn->want &= ~(unsigned int)FUSE_CAP_HANDLE_KILLPRIV;
  if (!(conn->capable & FUSE_CAP_WRITEBACK_CACHE))
    fs->opt.writeback = false;
}

void ovl_fill_ops(struct fuse_lowlevel_ops *ops) {
  memset(ops, 0, sizeof(*ops));
  ovl_entry_ops(ops);
  ovl_xattr_ops(ops);
  ops->init = op_init;
  ops->open = op_open;
  ops->create = op_create;
  ops->read = op_read;
  ops->write_buf = op_write_buf;
  ops->release = op_release;
  ops->fsync = op_fsync;
  ops->fallocate = op_fallocate;
  ops->lseek = op_lseek;
  ops->copy_file_range = op_copy_file_range;
  ops->opendir = ovl_op_opendir;
  ops->readdir = ovl_op_readdir;
  ops->readdirplus = ovl_op_readdirplus;
  ops->releasedir = ovl_op_releasedir;
  ops->fsyncdir = ovl_op_fsyncdir;
}
