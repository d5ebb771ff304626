/* nook-fuse-overlayfs: an overlay filesystem in user space with the kernel
 * overlayfs' semantics, mountable with fuse-overlayfs' arguments.
 *
 * Layer 0 is the upper directory (when there is one), layers 1..n the lower
 * directories, top to bottom. A merged directory is the union of the same
 * path in a contiguous run of layers, [layer, last_layer], cut short by an
 * opaque directory, a whiteout or a non-directory. Every change goes through
 * this process, so what a node learnt about its layers stays true for the
 * life of the mount and is cached in the node. */
#pragma once

#define FUSE_USE_VERSION 314

#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "error.h"

struct ovl_mapping {
  unsigned int disk;      /* id stored on the layers */
  unsigned int presented; /* id the mount shows */
  unsigned int len;
};

struct ovl_options {
  char *source;
  char *mountpoint;
  char *lowerdir;
  char *upperdir;
  char *workdir;
  struct ovl_mapping *uid_map, *gid_map;
  size_t n_uid_map, n_gid_map;
  bool squash_to_root;
  long long squash_to_uid, squash_to_gid; /* -1: not set */
  bool foreground;
  bool debug;
  bool noxattrs;
  bool fsync;     /* false with fsync=0 or volatile */
  bool writeback; /* kernel writeback cache */
  bool allow_other;
  bool allow_root;
  bool read_only;
  double timeout;          /* entry and attribute cache timeout, seconds */
  unsigned int max_threads; /* workers (pool.c); 0: the default, 1: none */
  unsigned int poll_us;     /* polling for the next request before sleeping (loop.c) */
};

/* Options: the fuse-overlayfs command line (also the mount.fuse3 form). Fills
 * opts; returns 1 when --help or --version was printed, 0, or -errno. */
int ovl_parse_args(int argc, char **argv, struct ovl_options *opts, nook_error *err);
void ovl_options_free(struct ovl_options *opts);

struct ovl_layer {
  int fd;     /* O_PATH|O_DIRECTORY on the layer root */
  char *path; /* absolute, for the path-only xattr calls */
  dev_t dev;
};

/* Identity of a file for st_ino: every (st_dev, st_ino) of a layer file seen
 * gets a number for the life of the mount; a copied-up file's upper identity
 * is an alias of the lower one, so st_ino does not change on copy-up. */
struct ovl_ino {
  dev_t dev;
  ino_t ino;
  uint64_t number;
  /* For a lower file with several links: where its first copy-up went, so
   * the other names are linked to it instead of copied again. */
  char *upper_path;
  dev_t upper_dev;
  ino_t upper_ino;
  struct ovl_ino *hnext;
};

/* What the kernel sees as one inode: every name of a file (hard links)
 * shares it, so the kernel caches one size and one set of pages for all of
 * them. Its nodeid is its address. */
struct ovl_inode {
  uint64_t number; /* st_ino */
  uint64_t nlookup; /* the kernel's references */
  uint64_t generation;
  struct ovl_node *nodes; /* the names, chained by inext */
  struct ovl_inode *hnext;
  int kept_fd; /* O_PATH on the file once its last name is gone, or -1 */
  /* Made here and given no xattr since: the kernel's security.capability
   * question before the first write is answered without asking the layer. */
  bool no_fcaps;
};

/* A name in the merged tree. */
struct ovl_node {
  struct ovl_node *parent; /* NULL for the root and for detached nodes */
  char *name;
  struct ovl_node *hnext; /* chain in the (parent, name) table */
  struct ovl_inode *inode;
  struct ovl_node *inext;  /* next name of the same inode */
  uint64_t pins;           /* attached children, callers */
  unsigned int layer;      /* topmost layer holding the file */
  unsigned int last_layer; /* lowest layer merged (directories) */
  mode_t type;             /* S_IFMT bits */
  bool attached;           /* reachable by (parent, name) */
};

struct ovl_fs {
  struct ovl_options opt;
  struct fuse_session *se;
  struct ovl_layer *layers; /* [0] upper (fd -1 when read-only) */
  unsigned int n_layers;
  bool has_upper;
  int workfd;
  uid_t euid;
  gid_t egid;
  bool can_mknod_whiteout;

  pthread_mutex_t lock; /* nodes, inode numbers, and every namespace change */
  struct ovl_node *root;
  struct ovl_node **children;
  size_t children_mask, n_children;
  struct ovl_ino **inos;
  size_t inos_mask, n_inos;
  struct ovl_inode **inodes;
  size_t inodes_mask, n_inodes;
  uint64_t next_number;
  uint64_t next_generation;
  uint64_t work_counter;
  uint64_t changes; /* bumped by every change of the merged namespace */
};

/* The kernel's nodeid for a node's inode, and the node to work on for a
 * nodeid (the name in the upper layer if any: all names share the data). */
fuse_ino_t node_id(struct ovl_fs *fs, struct ovl_node *n);
struct ovl_node *id_node(struct ovl_fs *fs, fuse_ino_t id);
struct ovl_inode *id_inode(struct ovl_fs *fs, fuse_ino_t id);

/* nodes.c: the node table and lookup across layers (fs->lock held). */
void ovl_nodes_init(struct ovl_fs *fs);
/* At exit: frees every node, inode and inode number. */
void ovl_nodes_free(struct ovl_fs *fs);
/* Relative path of a node in every layer ("." for the root). */
int node_path(struct ovl_node *n, char buf[PATH_MAX]);
int child_path(struct ovl_node *parent, const char *name, char buf[PATH_MAX]);
int child_path_str(const char *parent_path, const char *name, char buf[PATH_MAX]);
/* The node for parent/name, resolved across the layers when not known yet;
 * pinned (drop with node_unpin). -ENOENT when the name does not exist in the
 * merged view. st, when not NULL, gets the raw stat of the topmost file. */
int node_child(struct ovl_fs *fs, struct ovl_node *parent, const char *name,
               struct ovl_node **out, struct stat *st);
/* The same, told by a directory listing taken while nothing changed that
 * the name is a non-directory on top in hint_layer (-1: unknown). */
int node_child_hint(struct ovl_fs *fs, struct ovl_node *parent, const char *name, int hint_layer,
                    struct ovl_node **out, struct stat *st);
struct ovl_node *node_find(struct ovl_fs *fs, struct ovl_node *parent, const char *name);
/* A node for a name just created in the upper layer (replacing any entry):
 * a new file when fresh, else a new name of the file st is (a link). */
struct ovl_node *node_new_upper(struct ovl_fs *fs, struct ovl_node *parent, const char *name,
                                const struct stat *st, unsigned int last_layer, bool fresh);
void node_pin(struct ovl_node *n);
void node_unpin(struct ovl_fs *fs, struct ovl_node *n);
void inode_forget(struct ovl_fs *fs, struct ovl_inode *ino, uint64_t nlookup);
/* Takes a node out of the namespace (unlinked or replaced); open files keep
 * working through their fds. */
void node_detach(struct ovl_fs *fs, struct ovl_node *n);
/* Before the last name of a file the kernel still knows goes away: keeps an
 * fd on it, for its attributes while it stays open. */
void node_keep_fd(struct ovl_fs *fs, struct ovl_node *n);
void node_move(struct ovl_fs *fs, struct ovl_node *n, struct ovl_node *newparent,
               const char *newname);
/* Calls fn for every attached node below dir (any depth), for renames. */
void node_for_each_below(struct ovl_fs *fs, struct ovl_node *dir,
                         void (*fn)(struct ovl_node *n, void *data), void *data);
/* st_ino for a layer file. */
struct ovl_ino *ino_get(struct ovl_fs *fs, dev_t dev, ino_t ino);
void ino_alias(struct ovl_fs *fs, dev_t dev, ino_t ino, uint64_t number);
/* Stats the node's topmost file (fh >= 0: that fd). Raw ids. */
int node_stat(struct ovl_fs *fs, struct ovl_node *n, int fh, struct stat *st);
/* Turns a raw layer stat into what the mount shows. */
void ovl_present_stat(struct ovl_fs *fs, struct ovl_node *n, struct stat *st);
uid_t ovl_disk_uid(struct ovl_fs *fs, uid_t presented);
gid_t ovl_disk_gid(struct ovl_fs *fs, gid_t presented);

/* whiteout.c: whiteouts and opaque directories in either form. */
/* An fd for the xattrs of a layer file (-ENOTSUP for symlinks and devices).
 * Never a path: once a container makes the mount its root, our root is the
 * mount too, and an absolute path would lead into ourselves. */
int layer_xattr_fd(struct ovl_fs *fs, unsigned int layer, const char *path);
bool stat_is_whiteout(const struct stat *st);
bool is_whiteout_name(const char *name); /* .wh.* */
/* Whether path in the layer is an opaque directory. */
bool layer_dir_is_opaque(struct ovl_fs *fs, unsigned int layer, const char *path);
/* Whether parent/name has a whiteout (either form) in the layer. */
bool layer_has_whiteout(struct ovl_fs *fs, unsigned int layer, const char *parent_path,
                        const char *name);
int upper_create_whiteout(struct ovl_fs *fs, const char *parent_path, const char *name);
/* Removes a whiteout of either form for parent/name in the upper layer;
 * returns 1 when there was one, 0 when not, or -errno. */
int upper_remove_whiteout(struct ovl_fs *fs, const char *parent_path, const char *name);
int upper_set_opaque(struct ovl_fs *fs, const char *path);
/* Removes the whiteouts and opaque markers inside an upper directory whose
 * merged view is empty; -ENOTEMPTY if anything else is there. */
int upper_clear_dir(struct ovl_fs *fs, const char *path);
/* Whether a lower layer below parent shows an entry called name (so that
 * removing or moving the upper one needs a whiteout). */
bool lower_has_entry(struct ovl_fs *fs, struct ovl_node *parent, const char *name);

/* copyup.c */
/* Copies the node (and its parents) into the upper layer; data up to
 * keep_size bytes (-1: all). */
int copy_up(struct ovl_fs *fs, struct ovl_node *n, off_t keep_size);
/* Copies a directory and everything merged below it into the upper layer,
 * so that it no longer depends on the lower layers (renames). */
int copy_up_tree(struct ovl_fs *fs, struct ovl_node *dir);
int copy_xattrs(int src_fd, int dst_fd);
char *work_name(struct ovl_fs *fs);

/* readdir.c */
struct ovl_dirent {
  char *name;
  uint64_t number;
  unsigned int layer; /* where the entry is on top */
  unsigned char type; /* DT_* */
};
struct ovl_dir {
  struct ovl_dirent *entries;
  size_t n;
  uint64_t changes; /* fs->changes when listed */
};
/* The merged listing of a directory node, "." and ".." first. */
int dir_list(struct ovl_fs *fs, struct ovl_node *dir, struct ovl_dir *out);
void dir_free(struct ovl_dir *d);
/* 0 when the merged directory has no entries, -ENOTEMPTY, or -errno. */
int dir_check_empty(struct ovl_fs *fs, struct ovl_node *dir);

/* ops-*.c */
void ovl_fill_ops(struct fuse_lowlevel_ops *ops);
void ovl_entry_ops(struct fuse_lowlevel_ops *ops);
void ovl_xattr_ops(struct fuse_lowlevel_ops *ops);
void ovl_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ovl_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi);
void ovl_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                        struct fuse_file_info *fi);
void ovl_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ovl_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void ovl_fill_entry(struct ovl_fs *fs, struct ovl_node *n, struct stat *st,
                    struct fuse_entry_param *e);

/* loop.c: serves requests until unmounted. */
int ovl_serve_loop(struct ovl_fs *fs, struct fuse_session *se);
/* Whether the request being answered asks for the set-id bits of its file
 * to be cleared (FUSE_HANDLE_KILLPRIV_V2), and clearing them (by fd when
 * fd >= 0, else dirfd/path; 1 when they were set). */
bool ovl_req_kill_suidgid(void);
void ovl_set_req_kill_suidgid(bool kill);
int ovl_kill_suidgid_at(int dirfd, const char *path, int at_flags, int fd);
void ovl_forget_cached_attrs(struct ovl_fs *fs, fuse_ino_t ino);

/* pool.c: requests that may take long, answered by worker threads. An op
 * handler that wants one packs its arguments in a job whose run calls the
 * handler again on a worker (ovl_in_worker() then says so). */
struct ovl_job {
  void (*run)(struct ovl_job *j);
  fuse_req_t req;
  fuse_ino_t ino, ino2;
  struct fuse_file_info fi, fi2;
  bool has_fi;
  bool kill_suidgid; /* of the request, for the worker */
  struct stat attr;
  int i1, i2;
  off_t o1, o2, o3;
  size_t size;
  char *s1, *s2, *data; /* freed after run */
  struct ovl_job *next;
};
int ovl_pool_start(unsigned int threads);
bool ovl_in_worker(void);
struct ovl_job *ovl_job_new(void (*run)(struct ovl_job *j), fuse_req_t req);
/* Queues the job; false (job freed) when there is no pool or when already
 * on a worker: the caller then goes on in place. */
bool ovl_defer(struct ovl_job *j);
bool ovl_node_needs_copy_up(struct ovl_fs *fs, fuse_ino_t ino);

static inline struct ovl_fs *req_fs(fuse_req_t req) {
  return (struct ovl_fs *)fuse_req_userdata(req);
}
