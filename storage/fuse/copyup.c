/* Copy-up: a lower file is copied into the work directory with its data and
 * metadata, then renamed into place in the upper layer, so the upper layer
 * never holds a half-copied file. */
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ovl.h"
#include "util.h"

char *work_name(struct ovl_fs *fs) {
  return xasprintf("#nook-%d-%llu", (int)getpid(), (unsigned long long)++fs->work_counter);
}

static bool is_overlay_xattr(const char *name) {
  return str_has_prefix(name, "user.overlay.") || str_has_prefix(name, "trusted.overlay.");
}

/* Copies the xattrs a file has, except overlay's own. Those that cannot be
 * set without privilege (security.*, trusted.*) are left behind, as the
 * kernel's overlay does when the upper filesystem refuses them. */
int copy_xattrs(int src, int dst) {
  char stackbuf[4096];
  _cleanup_free_ char *heap = NULL;
  char *names = stackbuf;
  ssize_t n = flistxattr(src, stackbuf, sizeof(stackbuf));
  if (n < 0 && errno == ERANGE) {
    n = flistxattr(src, NULL, 0);
    if (n < 0)
      return 0;
    heap = xmalloc((size_t)n);
    names = heap;
    n = flistxattr(src, heap, (size_t)n);
  }
  if (n <= 0)
    return 0;
  for (char *name = names; name < names + n; name += strlen(name) + 1) {
    if (is_overlay_xattr(name))
      continue;
    char vbuf[4096];
    _cleanup_free_ char *vheap = NULL;
    char *value = vbuf;
    ssize_t vn = fgetxattr(src, name, vbuf, sizeof(vbuf));
    if (vn < 0 && errno == ERANGE) {
      vn = fgetxattr(src, name, NULL, 0);
      if (vn < 0)
        continue;
      vheap = xmalloc((size_t)vn + 1);
      value = vheap;
      vn = fgetxattr(src, name, vheap, (size_t)vn);
    }
    if (vn < 0)
      continue;
    if (fsetxattr(dst, name, value, (size_t)vn, 0) < 0 && errno != EPERM && errno != EOPNOTSUPP &&
        errno != EACCES)
      return -errno;
  }
  return 0;
}

static int copy_data(int src, int dst, off_t size) {
  if (size == 0)
    return 0;
  if (ioctl(dst, FICLONE, src) == 0) {
    struct stat st;
    if (fstat(src, &st) == 0 && st.st_size > size && ftruncate(dst, size) < 0)
      return -errno;
    return 0;
  }
  off_t done = 0;
  bool cfr = true;
  while (done < size && cfr) {
    ssize_t n = copy_file_range(src, NULL, dst, NULL, (size_t)(size - done), 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (done == 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP ||
                        errno == EINVAL))
        cfr = false;
      else
        return -errno;
    } else if (n == 0) {
      return 0; /* the source is shorter than its stat said */
    } else {
      done += n;
    }
  }
  if (done >= size)
    return 0;
  _cleanup_free_ char *buf = xmalloc(1 << 20);
  while (done < size) {
    size_t want = (size_t)(size - done) < (1u << 20) ? (size_t)(size - done) : (1u << 20);
    ssize_t n = pread(src, buf, want, done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (n == 0)
      break;
    ssize_t w = pwrite(dst, buf, (size_t)n, done);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    done += w;
  }
  return 0;
}

/* Creates the copy in the work directory: tmp gets the file's contents,
 * xattrs, owner, mode and times. */
static int make_copy(struct ovl_fs *fs, int src_dirfd, const char *path, const struct stat *st,
                     off_t keep_size, const char *tmp) {
  int wfd = fs->workfd;
  _cleanup_close_ int dst = -1;
  _cleanup_close_ int src = -1;
  switch (st->st_mode & S_IFMT) {
  case S_IFREG:
    src = openat(src_dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (src < 0)
      return -errno;
    dst = openat(wfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (dst < 0)
      return -errno;
    {
      off_t size = keep_size >= 0 && keep_size < st->st_size ? keep_size : st->st_size;
      int r = copy_data(src, dst, size);
      if (r < 0)
        return r;
    }
    break;
  case S_IFDIR:
    if (mkdirat(wfd, tmp, 0700) < 0)
      return -errno;
    dst = openat(wfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dst < 0)
      return -errno;
    src = openat(src_dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (src < 0)
      return -errno;
    break;
  case S_IFLNK: {
    char target[PATH_MAX + 1];
    ssize_t n = readlinkat(src_dirfd, path, target, sizeof(target) - 1);
    if (n < 0)
      return -errno;
    target[n] = '\0';
    if (symlinkat(target, wfd, tmp) < 0)
      return -errno;
    break;
  }
  default:
    if (mknodat(wfd, tmp, st->st_mode, st->st_rdev) < 0)
      return -errno;
    break;
  }

  if (src >= 0 && dst >= 0) {
    int r = copy_xattrs(src, dst);
    if (r < 0)
      return r;
  }
  if (fchownat(wfd, tmp, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != EPERM &&
      errno != EINVAL)
    return -errno;
  if (!S_ISLNK(st->st_mode) && fchmodat(wfd, tmp, st->st_mode & 07777, 0) < 0)
    return -errno;
  struct timespec times[2] = {st->st_atim, st->st_mtim};
  if (utimensat(wfd, tmp, times, AT_SYMLINK_NOFOLLOW) < 0)
    return -errno;
  return 0;
}

int copy_up(struct ovl_fs *fs, struct ovl_node *n, off_t keep_size) {
  if (n->layer == 0)
    return 0;
  if (!fs->has_upper)
    return -EROFS;
  if (n->parent) {
    int r = copy_up(fs, n->parent, -1);
    if (r < 0)
      return r;
  }
  char path[PATH_MAX];
  int r = node_path(n, path);
  if (r < 0)
    return r;
  int src_dirfd = fs->layers[n->layer].fd;
  int upper = fs->layers[0].fd;
  struct stat st;
  if (fstatat(src_dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return -errno;

  struct ovl_ino *origin = ino_get(fs, st.st_dev, st.st_ino);
  if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && origin->upper_path) {
    /* Another name of this file was copied up already: stay linked to it. */
    struct stat up;
    if (fstatat(upper, origin->upper_path, &up, AT_SYMLINK_NOFOLLOW) == 0 &&
        up.st_dev == origin->upper_dev && up.st_ino == origin->upper_ino &&
        linkat(upper, origin->upper_path, upper, path, 0) == 0) {
      n->layer = 0;
      fs->changes++;
      return 0;
    }
  }

  /* The parent's times stay what they were: a copy-up is no change. */
  char ppath[PATH_MAX] = ".";
  struct stat pst;
  bool have_parent = n->parent && node_path(n->parent, ppath) == 0 &&
                     fstatat(upper, ppath, &pst, AT_SYMLINK_NOFOLLOW) == 0;
  _cleanup_free_ char *tmp = work_name(fs);
  r = make_copy(fs, src_dirfd, path, &st, keep_size, tmp);
  if (r == 0 && renameat(fs->workfd, tmp, upper, path) < 0)
    r = -errno;
  if (r == 0 && have_parent) {
    struct timespec times[2] = {pst.st_atim, pst.st_mtim};
    utimensat(upper, ppath, times, AT_SYMLINK_NOFOLLOW);
  }
  if (r < 0) {
    rm_rf_at(fs->workfd, tmp);
    return r;
  }
  n->layer = 0;
  fs->changes++;
  struct stat up;
  if (fstatat(upper, path, &up, AT_SYMLINK_NOFOLLOW) == 0) {
    ino_alias(fs, up.st_dev, up.st_ino, n->inode->number);
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
      free(origin->upper_path);
      origin->upper_path = xstrdup(path);
      origin->upper_dev = up.st_dev;
      origin->upper_ino = up.st_ino;
      /* The other names the kernel knows follow now, linked. */
      for (struct ovl_node *o = n->inode->nodes; o; o = o->inext)
        if (o != n && o->attached && o->layer > 0)
          copy_up(fs, o, -1);
    }
  }
  return 0;
}

static int remove_upper_whiteouts(struct ovl_fs *fs, const char *path) {
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
  while ((de = readdir(dir))) {
    bool wh = is_whiteout_name(de->d_name);
    if (!wh && de->d_type == DT_CHR) {
      struct stat st;
      wh = fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && stat_is_whiteout(&st);
    }
    if (wh && unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT)
      return -errno;
  }
  return 0;
}

int copy_up_tree(struct ovl_fs *fs, struct ovl_node *dir) {
  int r = copy_up(fs, dir, -1);
  if (r < 0)
    return r;
  if (dir->last_layer == 0)
    return 0;
  struct ovl_dir list = {0};
  r = dir_list(fs, dir, &list);
  if (r < 0)
    return r;
  for (size_t i = 2; i < list.n && r == 0; i++) {
    struct ovl_node *c;
    r = node_child(fs, dir, list.entries[i].name, &c, NULL);
    if (r < 0)
      break;
    r = c->type == S_IFDIR ? copy_up_tree(fs, c) : copy_up(fs, c, -1);
    node_unpin(fs, c);
  }
  dir_free(&list);
  if (r < 0)
    return r;
  char path[PATH_MAX];
  r = node_path(dir, path);
  if (r < 0)
    return r;
  /* Everything is in the upper directory now: it stands alone, whatever
   * the lower layers hold at its place. */
  r = remove_upper_whiteouts(fs, path);
  if (r < 0)
    return r;
  r = upper_set_opaque(fs, path);
  if (r < 0)
    return r;
  dir->last_layer = 0;
  return 0;
}
