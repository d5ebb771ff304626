/* Directory reading: the merged listing of a directory is taken once at
 * opendir (the union of its layers, top first, minus whiteouts and what
 * they hide) and served from the handle. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovl.h"
#include "util.h"

/* A set of names: seen in an upper layer or hidden by a whiteout. */
struct name_set {
  char **slots;
  size_t mask, n;
};

static uint64_t name_hash(const char *s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
  return h ^ (h >> 29);
}

static bool set_contains(const struct name_set *s, const char *name) {
  if (!s->slots)
    return false;
  for (size_t i = name_hash(name) & s->mask;; i = (i + 1) & s->mask) {
    if (!s->slots[i])
      return false;
    if (strcmp(s->slots[i], name) == 0)
      return true;
  }
}

static void set_add(struct name_set *s, const char *name);

static void set_grow(struct name_set *s) {
  struct name_set bigger = {.mask = s->slots ? s->mask * 2 + 1 : 63};
  bigger.slots = xcalloc(bigger.mask + 1, sizeof(char *));
  for (size_t i = 0; s->slots && i <= s->mask; i++)
    if (s->slots[i]) {
      size_t j = name_hash(s->slots[i]) & bigger.mask;
      while (bigger.slots[j])
        j = (j + 1) & bigger.mask;
      bigger.slots[j] = s->slots[i];
      bigger.n++;
    }
  free(s->slots);
  *s = bigger;
}

static void set_add(struct name_set *s, const char *name) {
  if (!s->slots || (s->n + 1) * 2 > s->mask)
    set_grow(s);
  size_t i = name_hash(name) & s->mask;
  while (s->slots[i]) {
    if (strcmp(s->slots[i], name) == 0)
      return;
    i = (i + 1) & s->mask;
  }
  s->slots[i] = xstrdup(name);
  s->n++;
}

static void set_free(struct name_set *s) {
  for (size_t i = 0; s->slots && i <= s->mask; i++)
    free(s->slots[i]);
  free(s->slots);
}

static void dir_push(struct ovl_dir *d, size_t *cap, const char *name, uint64_t number,
                     unsigned int layer, unsigned char type) {
  if (d->n == *cap) {
    *cap = *cap ? *cap * 2 : 32;
    d->entries = xrealloc(d->entries, *cap * sizeof(*d->entries));
  }
  d->entries[d->n++] =
      (struct ovl_dirent){.name = xstrdup(name), .number = number, .layer = layer, .type = type};
}

void dir_free(struct ovl_dir *d) {
  for (size_t i = 0; i < d->n; i++)
    free(d->entries[i].name);
  free(d->entries);
  d->entries = NULL;
  d->n = 0;
}

int dir_list(struct ovl_fs *fs, struct ovl_node *dir, struct ovl_dir *out) {
  char path[PATH_MAX];
  int r = node_path(dir, path);
  if (r < 0)
    return r;
  size_t cap = 0;
  out->n = 0;
  out->entries = NULL;
  out->changes = fs->changes;
  dir_push(out, &cap, ".", dir->inode->number, dir->layer, DT_DIR);
  dir_push(out, &cap, "..", (dir->parent ? dir->parent : dir)->inode->number, dir->layer, DT_DIR);

  struct name_set seen = {0};
  char **hidden = NULL;
  for (unsigned int l = dir->layer; l <= dir->last_layer; l++) {
    int fd = openat(fs->layers[l].fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR)
        continue;
      r = -errno;
      break;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
      r = -errno;
      close(fd);
      break;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
      const char *name = de->d_name;
      if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        continue;
      if (is_whiteout_name(name)) {
        if (strcmp(name, ".wh..wh..opq") != 0)
          strv_push(&hidden, name + 4);
        continue;
      }
      unsigned char type = de->d_type;
      if (type == DT_CHR || type == DT_UNKNOWN) {
        struct stat st;
        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
          continue;
        if (stat_is_whiteout(&st)) {
          strv_push(&hidden, name);
          continue;
        }
        type = IFTODT(st.st_mode);
      }
      if (set_contains(&seen, name))
        continue;
      set_add(&seen, name);
      dir_push(out, &cap, name, ino_get(fs, fs->layers[l].dev, de->d_ino)->number, l, type);
    }
    closedir(d);
    for (size_t i = 0; hidden && hidden[i]; i++)
      set_add(&seen, hidden[i]);
    strv_free(hidden);
    hidden = NULL;
  }
  set_free(&seen);
  if (r < 0)
    dir_free(out);
  return r;
}

int dir_check_empty(struct ovl_fs *fs, struct ovl_node *dir) {
  struct ovl_dir list;
  int r = dir_list(fs, dir, &list);
  if (r < 0)
    return r;
  r = list.n > 2 ? -ENOTEMPTY : 0;
  dir_free(&list);
  return r;
}

void ovl_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  /* The listing is made at the first readdir: while the kernel has it
   * cached, none comes. */
  struct ovl_dir *d = xcalloc(1, sizeof(*d));
  fi->fh = (uint64_t)(uintptr_t)d;
  /* The kernel may keep the listing: it drops it itself when the directory
   * changes through the mount, and nothing else changes it. */
  fi->cache_readdir = 1;
  fi->keep_cache = 1;
  fuse_reply_open(req, fi);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi, bool plus) {
  struct ovl_fs *fs = req_fs(req);
  struct ovl_dir *d = (struct ovl_dir *)(uintptr_t)fi->fh;
  pthread_mutex_lock(&fs->lock);
  struct ovl_node *dir = id_node(fs, ino);
  if (!d->entries || off == 0) {
    dir_free(d);
    int r = dir_list(fs, dir, d);
    if (r < 0) {
      pthread_mutex_unlock(&fs->lock);
      fuse_reply_err(req, -r);
      return;
    }
  }
  if (!plus)
    pthread_mutex_unlock(&fs->lock);
  _cleanup_free_ char *buf = xmalloc(size);
  size_t used = 0;
  for (size_t i = (size_t)off; i < d->n; i++) {
    struct ovl_dirent *de = &d->entries[i];
    size_t want;
    if (!plus) {
      struct stat st = {.st_ino = de->number, .st_mode = (mode_t)DTTOIF(de->type)};
      want = fuse_add_direntry(req, buf + used, size - used, de->name, &st, (off_t)i + 1);
      if (want > size - used)
        break;
      used += want;
      continue;
    }
    struct fuse_entry_param e = {0};
    struct ovl_node *n = NULL;
    if (i < 2) {
      e.attr.st_ino = de->number;
      e.attr.st_mode = S_IFDIR;
    } else {
      struct stat st;
      int hint = d->changes == fs->changes && de->type != DT_DIR ? (int)de->layer : -1;
      if (node_child_hint(fs, dir, de->name, hint, &n, &st) < 0)
        continue; /* gone since opendir */
      ovl_fill_entry(fs, n, &st, &e);
    }
    want = fuse_add_direntry_plus(req, buf + used, size - used, de->name, &e, (off_t)i + 1);
    if (want > size - used) {
      if (n) {
        inode_forget(fs, n->inode, 1);
        node_unpin(fs, n);
      }
      break;
    }
    if (n)
      node_unpin(fs, n);
    used += want;
  }
  if (plus)
    pthread_mutex_unlock(&fs->lock);
  fuse_reply_buf(req, buf, used);
}

void ovl_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi) {
  do_readdir(req, ino, size, off, fi, false);
}

void ovl_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                        struct fuse_file_info *fi) {
  do_readdir(req, ino, size, off, fi, true);
}

void ovl_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct ovl_dir *d = (struct ovl_dir *)(uintptr_t)fi->fh;
  dir_free(d);
  free(d);
  fuse_reply_err(req, 0);
}

static void run_fsyncdir(struct ovl_job *j) { ovl_op_fsyncdir(j->req, j->ino, j->i1, &j->fi); }

void ovl_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  struct ovl_fs *fs = req_fs(req);
  if (fs->has_upper && fs->opt.fsync && !ovl_in_worker()) {
    struct ovl_job *j = ovl_job_new(run_fsyncdir, req);
    j->ino = ino;
    j->i1 = datasync;
    j->fi = *fi;
    if (ovl_defer(j))
      return;
  }
  if (!fs->has_upper || !fs->opt.fsync) {
    fuse_reply_err(req, 0);
    return;
  }
  char path[PATH_MAX];
  pthread_mutex_lock(&fs->lock);
  struct ovl_node *n = id_node(fs, ino);
  int r = n->layer == 0 ? node_path(n, path) : -ENOENT;
  int fd = r == 0 ? openat(fs->layers[0].fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  pthread_mutex_unlock(&fs->lock);
  if (fd >= 0) {
    r = (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
    close(fd);
  } else {
    r = 0; /* nothing of it in the upper layer to sync */
  }
  fuse_reply_err(req, -r);
}
