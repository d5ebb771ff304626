/* The node table: one node per merged path the kernel knows, found by
 * (parent, name); and the lookup of a name across the layers. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ovl.h"
#include "util.h"

static uint64_t hash_mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

static uint64_t child_hash(const struct ovl_node *parent, const char *name) {
  uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)(uintptr_t)parent;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    h = (h ^ *p) * 0x100000001b3ULL;
  return hash_mix(h);
}

static uint64_t ino_hash(dev_t dev, ino_t ino) {
  return hash_mix((uint64_t)ino * 31 + (uint64_t)dev);
}

void ovl_nodes_init(struct ovl_fs *fs) {
  fs->children_mask = 1023;
  fs->children = xcalloc(fs->children_mask + 1, sizeof(*fs->children));
  fs->inos_mask = 1023;
  fs->inos = xcalloc(fs->inos_mask + 1, sizeof(*fs->inos));
  fs->inodes_mask = 1023;
  fs->inodes = xcalloc(fs->inodes_mask + 1, sizeof(*fs->inodes));
  fs->next_number = 2; /* 1 is the root's */
  fs->next_generation = 1;
}

static void children_grow(struct ovl_fs *fs) {
  size_t mask = fs->children_mask * 2 + 1;
  struct ovl_node **t = xcalloc(mask + 1, sizeof(*t));
  for (size_t i = 0; i <= fs->children_mask; i++) {
    struct ovl_node *n = fs->children[i];
    while (n) {
      struct ovl_node *next = n->hnext;
      size_t b = child_hash(n->parent, n->name) & mask;
      n->hnext = t[b];
      t[b] = n;
      n = next;
    }
  }
  free(fs->children);
  fs->children = t;
  fs->children_mask = mask;
}

static void children_insert(struct ovl_fs *fs, struct ovl_node *n) {
  if (fs->n_children > fs->children_mask)
    children_grow(fs);
  size_t b = child_hash(n->parent, n->name) & fs->children_mask;
  n->hnext = fs->children[b];
  fs->children[b] = n;
  fs->n_children++;
}

static void children_remove(struct ovl_fs *fs, struct ovl_node *n) {
  size_t b = child_hash(n->parent, n->name) & fs->children_mask;
  for (struct ovl_node **p = &fs->children[b]; *p; p = &(*p)->hnext) {
    if (*p == n) {
      *p = n->hnext;
      fs->n_children--;
      return;
    }
  }
}

struct ovl_node *node_find(struct ovl_fs *fs, struct ovl_node *parent, const char *name) {
  size_t b = child_hash(parent, name) & fs->children_mask;
  for (struct ovl_node *n = fs->children[b]; n; n = n->hnext)
    if (n->parent == parent && strcmp(n->name, name) == 0)
      return n;
  return NULL;
}

struct ovl_ino *ino_get(struct ovl_fs *fs, dev_t dev, ino_t ino) {
  size_t b = ino_hash(dev, ino) & fs->inos_mask;
  for (struct ovl_ino *i = fs->inos[b]; i; i = i->hnext)
    if (i->dev == dev && i->ino == ino)
      return i;
  if (fs->n_inos > fs->inos_mask) {
    size_t mask = fs->inos_mask * 2 + 1;
    struct ovl_ino **t = xcalloc(mask + 1, sizeof(*t));
    for (size_t k = 0; k <= fs->inos_mask; k++) {
      struct ovl_ino *i = fs->inos[k];
      while (i) {
        struct ovl_ino *next = i->hnext;
        size_t nb = ino_hash(i->dev, i->ino) & mask;
        i->hnext = t[nb];
        t[nb] = i;
        i = next;
      }
    }
    free(fs->inos);
    fs->inos = t;
    fs->inos_mask = mask;
    b = ino_hash(dev, ino) & mask;
  }
  struct ovl_ino *i = xcalloc(1, sizeof(*i));
  i->dev = dev;
  i->ino = ino;
  i->number = fs->next_number++;
  i->hnext = fs->inos[b];
  fs->inos[b] = i;
  fs->n_inos++;
  return i;
}

void ino_alias(struct ovl_fs *fs, dev_t dev, ino_t ino, uint64_t number) {
  struct ovl_ino *i = ino_get(fs, dev, ino);
  i->number = number;
}

static int append_path(char buf[PATH_MAX], size_t *len, const char *name) {
  size_t l = strlen(name);
  if (*len + l + 2 > PATH_MAX)
    return -ENAMETOOLONG;
  if (*len > 0)
    buf[(*len)++] = '/';
  memcpy(buf + *len, name, l + 1);
  *len += l;
  return 0;
}

int node_path(struct ovl_node *n, char buf[PATH_MAX]) {
  const char *names[PATH_MAX / 2];
  size_t depth = 0;
  struct ovl_node *p = n;
  for (; p->parent; p = p->parent) {
    if (depth == ARRAY_SIZE(names))
      return -ENAMETOOLONG;
    names[depth++] = p->name;
  }
  if (!p->attached) /* detached (or below a detached directory): no path */
    return -ENOENT;
  if (depth == 0) {
    strcpy(buf, ".");
    return 0;
  }
  size_t len = 0;
  buf[0] = '\0';
  while (depth > 0) {
    int r = append_path(buf, &len, names[--depth]);
    if (r < 0)
      return r;
  }
  return 0;
}

int child_path(struct ovl_node *parent, const char *name, char buf[PATH_MAX]) {
  char ppath[PATH_MAX];
  int r = node_path(parent, ppath);
  if (r < 0)
    return r;
  return child_path_str(ppath, name, buf);
}

int child_path_str(const char *parent_path, const char *name, char buf[PATH_MAX]) {
  int n;
  if (strcmp(parent_path, ".") == 0)
    n = snprintf(buf, PATH_MAX, "%s", name);
  else
    n = snprintf(buf, PATH_MAX, "%s/%s", parent_path, name);
  return n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

void node_pin(struct ovl_node *n) { n->pins++; }

fuse_ino_t node_id(struct ovl_fs *fs, struct ovl_node *n) {
  return n == fs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n->inode;
}

struct ovl_inode *id_inode(struct ovl_fs *fs, fuse_ino_t id) {
  return id == FUSE_ROOT_ID ? fs->root->inode : (struct ovl_inode *)(uintptr_t)id;
}

struct ovl_node *id_node(struct ovl_fs *fs, fuse_ino_t id) {
  if (id == FUSE_ROOT_ID)
    return fs->root;
  struct ovl_inode *ino = (struct ovl_inode *)(uintptr_t)id;
  struct ovl_node *any_attached = NULL;
  for (struct ovl_node *n = ino->nodes; n; n = n->inext) {
    if (n->attached && n->layer == 0)
      return n;
    if (n->attached && !any_attached)
      any_attached = n;
  }
  return any_attached ? any_attached : ino->nodes;
}

static uint64_t number_hash(uint64_t number) { return hash_mix(number); }

static struct ovl_inode *inode_get(struct ovl_fs *fs, uint64_t number) {
  size_t b = number_hash(number) & fs->inodes_mask;
  for (struct ovl_inode *i = fs->inodes[b]; i; i = i->hnext)
    if (i->number == number)
      return i;
  if (fs->n_inodes > fs->inodes_mask) {
    size_t mask = fs->inodes_mask * 2 + 1;
    struct ovl_inode **t = xcalloc(mask + 1, sizeof(*t));
    for (size_t k = 0; k <= fs->inodes_mask; k++) {
      struct ovl_inode *i = fs->inodes[k];
      while (i) {
        struct ovl_inode *next = i->hnext;
        size_t nb = number_hash(i->number) & mask;
        i->hnext = t[nb];
        t[nb] = i;
        i = next;
      }
    }
    free(fs->inodes);
    fs->inodes = t;
    fs->inodes_mask = mask;
    b = number_hash(number) & mask;
  }
  struct ovl_inode *i = xcalloc(1, sizeof(*i));
  i->number = number;
  i->generation = fs->next_generation++;
  i->kept_fd = -1;
  i->hnext = fs->inodes[b];
  fs->inodes[b] = i;
  fs->n_inodes++;
  return i;
}

static void inode_drop_node(struct ovl_fs *fs, struct ovl_node *n) {
  struct ovl_inode *ino = n->inode;
  for (struct ovl_node **p = &ino->nodes; *p; p = &(*p)->inext) {
    if (*p == n) {
      *p = n->inext;
      break;
    }
  }
  if (ino->nodes)
    return;
  size_t b = number_hash(ino->number) & fs->inodes_mask;
  for (struct ovl_inode **p = &fs->inodes[b]; *p; p = &(*p)->hnext) {
    if (*p == ino) {
      *p = ino->hnext;
      fs->n_inodes--;
      break;
    }
  }
  if (ino->kept_fd >= 0)
    close(ino->kept_fd);
  free(ino);
}

void node_keep_fd(struct ovl_fs *fs, struct ovl_node *n) {
  struct ovl_inode *ino = n->inode;
  if (ino->kept_fd >= 0 || ino->nlookup == 0)
    return;
  for (struct ovl_node *o = ino->nodes; o; o = o->inext)
    if (o != n && o->attached)
      return; /* another name stays */
  char path[PATH_MAX];
  if (node_path(n, path) == 0)
    ino->kept_fd = openat(fs->layers[n->layer].fd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
}

static void node_free_if_unused(struct ovl_fs *fs, struct ovl_node *n) {
  while (n && n != fs->root && n->inode->nlookup == 0 && n->pins == 0) {
    struct ovl_node *parent = NULL;
    if (n->attached) {
      children_remove(fs, n);
      parent = n->parent;
    }
    inode_drop_node(fs, n);
    free(n->name);
    free(n);
    if (!parent)
      break;
    parent->pins--;
    n = parent;
  }
}

void node_unpin(struct ovl_fs *fs, struct ovl_node *n) {
  n->pins--;
  node_free_if_unused(fs, n);
}

void inode_forget(struct ovl_fs *fs, struct ovl_inode *ino, uint64_t nlookup) {
  ino->nlookup = nlookup > ino->nlookup ? 0 : ino->nlookup - nlookup;
  if (ino->nlookup > 0)
    return;
  /* Freeing the last name frees the inode: count the names first. */
  size_t count = 0;
  for (struct ovl_node *n = ino->nodes; n; n = n->inext)
    count++;
  while (count-- > 0) {
    struct ovl_node *unused = NULL;
    for (struct ovl_node *n = ino->nodes; n; n = n->inext)
      if (n->pins == 0 && n != fs->root) {
        unused = n;
        break;
      }
    if (!unused)
      break;
    node_free_if_unused(fs, unused);
  }
}

void node_detach(struct ovl_fs *fs, struct ovl_node *n) {
  if (!n->attached)
    return;
  fs->changes++;
  children_remove(fs, n);
  n->attached = false;
  struct ovl_node *parent = n->parent;
  n->parent = NULL;
  node_pin(n); /* the parent's release below must not free n itself */
  node_unpin(fs, parent);
  node_unpin(fs, n);
}

void node_move(struct ovl_fs *fs, struct ovl_node *n, struct ovl_node *newparent,
               const char *newname) {
  struct ovl_node *oldparent = n->parent;
  fs->changes++;
  children_remove(fs, n);
  free(n->name);
  n->name = xstrdup(newname);
  n->parent = newparent;
  node_pin(newparent);
  children_insert(fs, n);
  node_unpin(fs, oldparent);
}

void node_for_each_below(struct ovl_fs *fs, struct ovl_node *dir,
                         void (*fn)(struct ovl_node *n, void *data), void *data) {
  for (size_t i = 0; i <= fs->children_mask; i++) {
    for (struct ovl_node *n = fs->children[i]; n; n = n->hnext) {
      for (struct ovl_node *p = n->parent; p; p = p->parent) {
        if (p == dir) {
          fn(n, data);
          break;
        }
      }
    }
  }
}

static struct ovl_node *node_alloc(struct ovl_fs *fs, struct ovl_node *parent, const char *name,
                                   uint64_t number) {
  struct ovl_node *n = xcalloc(1, sizeof(*n));
  n->name = xstrdup(name);
  n->parent = parent;
  n->attached = true;
  n->inode = inode_get(fs, number);
  n->inext = n->inode->nodes;
  n->inode->nodes = n;
  node_pin(parent);
  children_insert(fs, n);
  return n;
}

/* Resolution of parent/name across the parent's layers: the topmost entry,
 * and for a directory how far down the merge goes. */
static int resolve(struct ovl_fs *fs, struct ovl_node *parent, const char *name,
                   unsigned int *layer, unsigned int *last_layer, struct stat *top) {
  char path[PATH_MAX];
  int r = child_path(parent, name, path);
  if (r < 0)
    return r;
  char ppath[PATH_MAX];
  r = node_path(parent, ppath);
  if (r < 0)
    return r;
  bool found = false;
  for (unsigned int l = parent->layer; l <= parent->last_layer; l++) {
    struct stat st;
    if (fstatat(fs->layers[l].fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno != ENOENT && errno != ENOTDIR)
        return -errno;
      if (l < parent->last_layer && layer_has_whiteout(fs, l, ppath, name))
        break;
      continue;
    }
    if (stat_is_whiteout(&st))
      break;
    if (!found) {
      found = true;
      *top = st;
      *layer = *last_layer = l;
      if (!S_ISDIR(st.st_mode))
        break;
    } else {
      if (!S_ISDIR(st.st_mode))
        break;
      *last_layer = l;
    }
    if (l == parent->last_layer || layer_dir_is_opaque(fs, l, path))
      break;
  }
  return found ? 0 : -ENOENT;
}

int node_child_hint(struct ovl_fs *fs, struct ovl_node *parent, const char *name, int hint_layer,
                    struct ovl_node **out, struct stat *st) {
  if (is_whiteout_name(name))
    return -ENOENT;
  struct ovl_node *n = node_find(fs, parent, name);
  if (n) {
    if (st) {
      int r = node_stat(fs, n, -1, st);
      if (r < 0)
        return r;
    }
    node_pin(n);
    *out = n;
    return 0;
  }
  unsigned int layer = 0, last = 0;
  struct stat top;
  int r = -ENOENT;
  if (hint_layer >= 0) {
    /* The caller's listing says where the name is on top, and it is no
     * directory: one stat instead of a walk down the layers. */
    char path[PATH_MAX];
    r = child_path(parent, name, path);
    if (r == 0 && fstatat(fs->layers[hint_layer].fd, path, &top, AT_SYMLINK_NOFOLLOW) < 0)
      r = -errno;
    if (r == 0 && (S_ISDIR(top.st_mode) || stat_is_whiteout(&top)))
      r = -EAGAIN;
    layer = last = (unsigned int)hint_layer;
  }
  if (r < 0)
    r = resolve(fs, parent, name, &layer, &last, &top);
  if (r < 0)
    return r;
  struct ovl_ino *id = ino_get(fs, top.st_dev, top.st_ino);
  n = node_alloc(fs, parent, name, id->number);
  n->layer = layer;
  n->last_layer = last;
  n->type = top.st_mode & S_IFMT;
  node_pin(n);
  if (layer > 0 && !S_ISDIR(top.st_mode) && top.st_nlink > 1 && id->upper_path &&
      fs->has_upper) {
    /* Another name of this file was copied up: this one joins it. */
    if (copy_up(fs, n, -1) == 0)
      fstatat(fs->layers[0].fd, id->upper_path, &top, AT_SYMLINK_NOFOLLOW);
  }
  if (st)
    *st = top;
  *out = n;
  return 0;
}

int node_child(struct ovl_fs *fs, struct ovl_node *parent, const char *name,
               struct ovl_node **out, struct stat *st) {
  return node_child_hint(fs, parent, name, -1, out, st);
}

struct ovl_node *node_new_upper(struct ovl_fs *fs, struct ovl_node *parent, const char *name,
                                const struct stat *st, unsigned int last_layer, bool fresh) {
  struct ovl_node *old = node_find(fs, parent, name);
  if (old)
    node_detach(fs, old);
  fs->changes++;
  struct ovl_ino *id = ino_get(fs, st->st_dev, st->st_ino);
  if (fresh && id->number != fs->next_number - 1) {
    /* The filesystem reuses the inode numbers of deleted files: a new file
     * must not take the identity (and kernel inode) of an old one. */
    id->number = fs->next_number++;
    free(id->upper_path);
    id->upper_path = NULL;
  }
  struct ovl_node *n = node_alloc(fs, parent, name, id->number);
  n->layer = 0;
  n->last_layer = last_layer;
  n->type = st->st_mode & S_IFMT;
  return n;
}

int node_stat(struct ovl_fs *fs, struct ovl_node *n, int fh, struct stat *st) {
  if (fh < 0 && !n->attached && n->inode->kept_fd >= 0)
    fh = n->inode->kept_fd;
  if (fh >= 0)
    return fstat(fh, st) < 0 ? -errno : 0;
  char path[PATH_MAX];
  int r = node_path(n, path);
  if (r < 0)
    return r;
  if (fstatat(fs->layers[n->layer].fd, path, st, AT_SYMLINK_NOFOLLOW) < 0)
    return -errno;
  return 0;
}

static unsigned int map_id(const struct ovl_mapping *m, size_t n, unsigned int id,
                           bool to_presented) {
  if (n == 0)
    return id;
  for (size_t i = 0; i < n; i++) {
    unsigned int from = to_presented ? m[i].disk : m[i].presented;
    unsigned int to = to_presented ? m[i].presented : m[i].disk;
    if (id >= from && id - from < m[i].len)
      return to + (id - from);
  }
  return 65534;
}

void ovl_present_stat(struct ovl_fs *fs, struct ovl_node *n, struct stat *st) {
  st->st_ino = n->inode->number;
  if (fs->opt.squash_to_uid >= 0)
    st->st_uid = (uid_t)fs->opt.squash_to_uid;
  else if (fs->opt.squash_to_root)
    st->st_uid = 0;
  else
    st->st_uid = map_id(fs->opt.uid_map, fs->opt.n_uid_map, st->st_uid, true);
  if (fs->opt.squash_to_gid >= 0)
    st->st_gid = (gid_t)fs->opt.squash_to_gid;
  else if (fs->opt.squash_to_root)
    st->st_gid = 0;
  else
    st->st_gid = map_id(fs->opt.gid_map, fs->opt.n_gid_map, st->st_gid, true);
}

uid_t ovl_disk_uid(struct ovl_fs *fs, uid_t presented) {
  return map_id(fs->opt.uid_map, fs->opt.n_uid_map, presented, false);
}

gid_t ovl_disk_gid(struct ovl_fs *fs, gid_t presented) {
  return map_id(fs->opt.gid_map, fs->opt.n_gid_map, presented, false);
}

void ovl_nodes_free(struct ovl_fs *fs) {
  /* Every node is a name of an inode, attached or not. */
  for (size_t i = 0; fs->inodes && i <= fs->inodes_mask; i++) {
    struct ovl_inode *ino = fs->inodes[i];
    while (ino) {
      struct ovl_inode *next = ino->hnext;
      for (struct ovl_node *n = ino->nodes, *nn; n; n = nn) {
        nn = n->inext;
        free(n->name);
        free(n);
      }
      if (ino->kept_fd >= 0)
        close(ino->kept_fd);
      free(ino);
      ino = next;
    }
  }
  for (size_t i = 0; fs->inos && i <= fs->inos_mask; i++) {
    struct ovl_ino *id = fs->inos[i];
    while (id) {
      struct ovl_ino *next = id->hnext;
      free(id->upper_path);
      free(id);
      id = next;
    }
  }
  free(fs->children);
  free(fs->inodes);
  free(fs->inos);
  if (fs->root) {
    free(fs->root->inode);
    free(fs->root);
  }
}
