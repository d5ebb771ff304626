/* nook-fuse-overlayfs: opens the layers, mounts, and serves requests with a
 * pool of threads until unmounted. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ovl.h"
#include "util.h"

static int open_layer(const char *what, const char *path, struct ovl_layer *layer,
                      nook_error *err) {
  char *abs = realpath(path, NULL);
  if (!abs)
    return nook_err(err, errno, "%s `%s`", what, path);
  int fd = open(abs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    free(abs);
    return nook_err(err, e, "%s `%s`", what, path);
  }
  struct stat st;
  if (fstat(fd, &st) < 0) {
    int e = errno;
    close(fd);
    free(abs);
    return nook_err(err, e, "%s `%s`", what, path);
  }
  layer->fd = fd;
  layer->path = abs;
  layer->dev = st.st_dev;
  return 0;
}

/* lowerdir is a colon-separated list, top first; "\:" is a colon in a name. */
static char **split_lowerdirs(const char *s) {
  char **out = NULL;
  _cleanup_free_ char *buf = xmalloc(strlen(s) + 1);
  while (*s) {
    size_t n = 0;
    while (*s && *s != ':') {
      if (*s == '\\' && s[1])
        s++;
      buf[n++] = *s++;
    }
    buf[n] = '\0';
    if (*s == ':')
      s++;
    if (n > 0)
      strv_push(&out, buf);
  }
  return out;
}

/* Leftovers of an interrupted copy-up in an earlier mount. */
static void clean_workdir(int workfd) {
  int fd = openat(workfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return;
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return;
  }
  struct dirent *de;
  while ((de = readdir(d)))
    if (str_has_prefix(de->d_name, "#nook-"))
      rm_rf_at(workfd, de->d_name);
  closedir(d);
}

static int setup_layers(struct ovl_fs *fs, nook_error *err) {
  _cleanup_strv_ char **lowers = split_lowerdirs(fs->opt.lowerdir);
  size_t n_lower = strv_len(lowers);
  if (n_lower == 0)
    return nook_errx(err, EINVAL, "lowerdir=%s names no directory", fs->opt.lowerdir);
  fs->n_layers = (unsigned int)n_lower + 1;
  fs->layers = xcalloc(fs->n_layers, sizeof(*fs->layers));
  for (unsigned int l = 0; l < fs->n_layers; l++)
    fs->layers[l].fd = -1;
  fs->workfd = -1;
  if (fs->opt.upperdir) {
    int r = open_layer("upperdir", fs->opt.upperdir, &fs->layers[0], err);
    if (r < 0)
      return r;
    _cleanup_free_ char *work = realpath(fs->opt.workdir, NULL);
    if (!work)
      return nook_err(err, errno, "workdir `%s`", fs->opt.workdir);
    fs->workfd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (fs->workfd < 0 || fstat(fs->workfd, &st) < 0)
      return nook_err(err, errno, "workdir `%s`", fs->opt.workdir);
    if (st.st_dev != fs->layers[0].dev)
      return nook_errx(err, EXDEV,
                       "workdir `%s` is not on the filesystem of upperdir `%s`: "
                       "copy-up renames from one to the other, put them side by side",
                       fs->opt.workdir, fs->opt.upperdir);
    if (faccessat(fs->layers[0].fd, ".", W_OK, AT_EACCESS) < 0)
      return nook_err(err, errno, "upperdir `%s` is not writable", fs->opt.upperdir);
    fs->has_upper = !fs->opt.read_only;
    clean_workdir(fs->workfd);
    /* Since Linux 5.8 anyone may create the 0/0 device of a whiteout. */
    _cleanup_free_ char *probe = work_name(fs);
    fs->can_mknod_whiteout = mknodat(fs->workfd, probe, S_IFCHR | 0600, makedev(0, 0)) == 0;
    if (fs->can_mknod_whiteout)
      unlinkat(fs->workfd, probe, 0);
  }
  for (size_t i = 0; i < n_lower; i++) {
    int r = open_layer("lowerdir", lowers[i], &fs->layers[i + 1], err);
    if (r < 0)
      return r;
  }
  return 0;
}

static void setup_root(struct ovl_fs *fs) {
  struct ovl_node *root = xcalloc(1, sizeof(*root));
  root->attached = true;
  root->type = S_IFDIR;
  root->inode = xcalloc(1, sizeof(*root->inode));
  root->inode->kept_fd = -1;
  root->inode->number = 1;
  root->inode->nlookup = 1;
  root->inode->nodes = root;
  root->layer = fs->opt.upperdir ? 0 : 1;
  root->last_layer = fs->n_layers - 1;
  for (unsigned int l = root->layer; l < fs->n_layers; l++) {
    if (layer_dir_is_opaque(fs, l, ".")) {
      root->last_layer = l;
      break;
    }
  }
  fs->root = root;
}

static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static char *escape_commas(const char *s) {
  char *out = xmalloc(strlen(s) * 2 + 1), *p = out;
  for (; *s; s++) {
    if (*s == ',' || *s == '\\')
      *p++ = '\\';
    *p++ = *s;
  }
  *p = '\0';
  return out;
}

static int check_mountpoint(const char *path, nook_error *err) {
  struct stat st;
  if (stat(path, &st) < 0)
    return nook_err(err, errno, "mount point `%s`", path);
  if (!S_ISDIR(st.st_mode))
    return nook_errx(err, ENOTDIR, "mount point `%s` is not a directory", path);
  return 0;
}

static int serve(struct ovl_fs *fs, nook_error *err) {
  struct fuse_lowlevel_ops ops;
  ovl_fill_ops(&ops);
  _cleanup_free_ char *source = escape_commas(fs->opt.source);
  _cleanup_free_ char *mount_opts = xasprintf(
      "fsname=%s,subtype=nook-overlayfs,default_permissions,noatime%s%s%s", source,
      fs->opt.allow_other || (geteuid() == 0 && !fs->opt.allow_root) ? ",allow_other" : "",
      fs->opt.allow_root ? ",allow_root" : "", fs->opt.read_only ? ",ro" : "");
  char *fargv[] = {"nook-fuse-overlayfs", "-o", mount_opts, fs->opt.debug ? "-d" : NULL, NULL};
  struct fuse_args args = FUSE_ARGS_INIT(fs->opt.debug ? 4 : 3, fargv);
  struct fuse_session *se = fuse_session_new(&args, &ops, sizeof(ops), fs);
  if (!se)
    return nook_errx(err, EINVAL, "cannot start the FUSE session (options: %s)", mount_opts);
  fs->se = se;
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_session_destroy(se);
    return nook_errx(err, EIO, "cannot set signal handlers");
  }
  if (fuse_session_mount(se, fs->opt.mountpoint) != 0) {
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return nook_errx(err, EIO,
                     "cannot mount on `%s` (does it exist, and may this user mount FUSE: "
                     "/dev/fuse, fusermount3?)",
                     fs->opt.mountpoint);
  }
  fuse_daemonize(fs->opt.foreground);
  /* One thread receives and answers (see pool.c for why); workers take
   * what may take long, unless threaded=0. */
  int r = fs->opt.max_threads == 1 ? 0 : ovl_pool_start(fs->opt.max_threads ? fs->opt.max_threads : 4);
  if (r < 0) {
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return nook_err(err, -r, "start worker threads");
  }
  r = ovl_serve_loop(fs, se);
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  fuse_opt_free_args(&args);
  return r < 0 ? nook_errx(err, -r, "serving the mount failed: %s", strerror(-r)) : 0;
}

int main(int argc, char **argv) {
  nook_error err;
  nook_err_clear(&err);
  struct ovl_fs fs = {.workfd = -1};
  int r = ovl_parse_args(argc, argv, &fs.opt, &err);
  if (r == 1)
    return 0;
  if (r == 0) {
    fs.euid = geteuid();
    fs.egid = getegid();
    umask(0);
    raise_fd_limit();
    pthread_mutex_init(&fs.lock, NULL);
    ovl_nodes_init(&fs);
    r = check_mountpoint(fs.opt.mountpoint, &err);
    if (r == 0)
      r = setup_layers(&fs, &err);
  }
  if (r == 0) {
    setup_root(&fs);
    r = serve(&fs, &err);
  }
  ovl_nodes_free(&fs);
  for (unsigned int l = 0; fs.layers && l < fs.n_layers; l++) {
    if (fs.layers[l].fd >= 0)
      close(fs.layers[l].fd);
    free(fs.layers[l].path);
  }
  free(fs.layers);
  if (fs.workfd >= 0)
    close(fs.workfd);
  ovl_options_free(&fs.opt);
  if (r < 0) {
    fprintf(stderr, "nook-fuse-overlayfs: %s\n", err.msg);
    return 1;
  }
  return 0;
}
