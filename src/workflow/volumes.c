/* Anonymous volumes for an image's Volumes, as podman and docker make them:
 * a directory per path under the container's storage (containers/ID/
 * volumes/N), seeded with what the image has at that path, bind-mounted
 * over it, and gone with the container's storage. The seeding runs in a user
 * namespace with the subordinate ids mapped, from a private overlay of the
 * image's layers, so that owners, modes and whiteouts come out as the
 * container would see them. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "workflow.h"

#define SEED_DIR ".seed"

static char *path_trimmed(const char *path) {
  char *s = xstrdup(path);
  size_t n = strlen(s);
  while (n > 1 && s[n - 1] == '/')
    s[--n] = '\0';
  return s;
}

static bool same_path(const char *a, const char *b) {
  _cleanup_free_ char *x = path_trimmed(a);
  _cleanup_free_ char *y = path_trimmed(b);
  return !strcmp(x, y);
}

char **launch_mount_destinations(const struct launch_options *o) {
  char **dests = NULL;
  for (size_t i = 0; o->volumes && o->volumes[i]; i++) {
    _cleanup_free_ char *dst = xstrdup(strchr(o->volumes[i], ':') + 1);
    char *mode = strchr(dst, ':');
    if (mode)
      *mode = '\0';
    strv_push(&dests, dst);
  }
  for (size_t i = 0; o->tmpfs && o->tmpfs[i]; i++) {
    _cleanup_free_ char *dst = xstrdup(o->tmpfs[i]);
    char *extra = strchr(dst, ':');
    if (extra)
      *extra = '\0';
    strv_push(&dests, dst);
  }
  for (size_t i = 0; o->mounts && o->mounts[i]; i++) {
    struct launch_mount m;
    nook_error ignore;
    if (launch_mount_parse(o->mounts[i], &m, &ignore) < 0)
      continue;
    if (m.type != LAUNCH_MOUNT_VOLUME)
      strv_push(&dests, m.target);
    launch_mount_free(&m);
  }
  return dests;
}

char **launch_anonymous_volumes(const struct launch_options *o, bool readonly) {
  char **dests = NULL;
  for (size_t i = 0; o->mounts && o->mounts[i]; i++) {
    struct launch_mount m;
    nook_error ignore;
    if (launch_mount_parse(o->mounts[i], &m, &ignore) < 0)
      continue;
    if (m.type == LAUNCH_MOUNT_VOLUME && (!readonly || m.readonly))
      strv_push(&dests, m.target);
    launch_mount_free(&m);
  }
  return dests;
}

bool image_volume_is_under(const char *path, char *const *dests) {
  _cleanup_free_ char *p = path_trimmed(path);
  for (size_t i = 0; dests && dests[i]; i++) {
    _cleanup_free_ char *d = path_trimmed(dests[i]);
    size_t n = strlen(d);
    if (!strcmp(d, "/") || (!strncmp(p, d, n) && p[n] == '/'))
      return true;
  }
  return false;
}

/* One volume's copy: the volume's root, the hard links met so far (the
 * first name of each inode with more than one), and the path being
 * copied, relative to the volume's root. */
struct seed_copy {
  int volfd;
  struct seen_link {
    dev_t dev;
    ino_t ino;
    char *path;
  } *links;
  size_t n_links;
  char path[PATH_MAX];
};

static const char *seen_link(const struct seed_copy *c, const struct stat *st) {
  for (size_t i = 0; i < c->n_links; i++)
    if (c->links[i].dev == st->st_dev && c->links[i].ino == st->st_ino)
      return c->links[i].path;
  return NULL;
}

static void remember_link(struct seed_copy *c, const struct stat *st) {
  c->links = xrealloc(c->links, (c->n_links + 1) * sizeof(*c->links));
  c->links[c->n_links++] = (struct seen_link){st->st_dev, st->st_ino, xstrdup(c->path)};
}

/* The xattrs a volume keeps: user.* (but the overlay's own) and file
 * capabilities, as far as this user namespace may set them. */
static bool xattr_copied(const char *name) {
  return (str_has_prefix(name, "user.") && !str_has_prefix(name, "user.overlay.")) ||
         !strcmp(name, "security.capability");
}

static int copy_xattrs(int in, int out, const char *name, nook_error *err) {
  char list[8192];
  ssize_t len = flistxattr(in, list, sizeof(list));
  if (len < 0)
    return errno == ENOTSUP ? 0 : nook_err(err, errno, "list the xattrs of `%s` in the image",
                                           name);
  for (char *x = list; x < list + len; x += strlen(x) + 1) {
    if (!xattr_copied(x))
      continue;
    char value[65536];
    ssize_t vlen = fgetxattr(in, x, value, sizeof(value));
    if (vlen < 0 && errno == ENODATA)
      continue;
    if (vlen < 0)
      return nook_err(err, errno, "read the xattr %s of `%s` in the image", x, name);
    if (fsetxattr(out, x, value, (size_t)vlen, 0) < 0) {
      /* capabilities only where the namespace may set them */
      if (!strcmp(x, "security.capability") && (errno == EPERM || errno == ENOTSUP ||
                                                errno == EINVAL))
        continue;
      return nook_err(err, errno, "set the xattr %s of `%s` in the volume", x, name);
    }
  }
  return 0;
}

/* Owner, mode, xattrs, then times, in that order: chown clears set-id bits
 * and file capabilities, and each change moves ctime/mtime. */
static int copy_attributes(int in, int out, const char *name, const struct stat *st,
                           nook_error *err) {
  if (fchown(out, st->st_uid, st->st_gid) < 0 || fchmod(out, st->st_mode & 07777) < 0)
    return nook_err(err, errno, "give `%s` in the volume the image's owner and mode", name);
  int r = copy_xattrs(in, out, name, err);
  if (r < 0)
    return r;
  struct timespec times[2] = {st->st_atim, st->st_mtim};
  if (futimens(out, times) < 0)
    return nook_err(err, errno, "give `%s` in the volume the image's times", name);
  return 0;
}

static int copy_file(int srcfd, int dstdir, const char *name, const struct stat *st,
                     nook_error *err) {
  _cleanup_close_ int in = openat(srcfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0)
    return nook_err(err, errno, "open `%s` in the image", name);
  _cleanup_close_ int out =
      openat(dstdir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0)
    return nook_err(err, errno, "create `%s` in the volume", name);
  char buf[65536];
  for (;;) {
    ssize_t n = read(in, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return nook_err(err, errno, "read `%s` in the image", name);
    if (n == 0)
      break;
    if (write_all(out, buf, (size_t)n) < 0)
      return nook_err(err, errno, "write `%s` in the volume", name);
  }
  return copy_attributes(in, out, name, st, err);
}

static int copy_entry(struct seed_copy *c, int srcfd, int dstfd, const char *name,
                      const struct stat *st, nook_error *err);

/* Copies the directory srcfd into dstfd, never leaving srcfd's tree: every
 * name is opened relative to its directory without following a symlink. */
static int copy_tree(struct seed_copy *c, int srcfd, int dstfd, nook_error *err) {
  int dupfd = dup(srcfd);
  if (dupfd < 0)
    return nook_err(err, errno, "dup");
  DIR *d = fdopendir(dupfd);
  if (!d) {
    close(dupfd);
    return nook_err(err, errno, "read a directory of the image");
  }
  _cleanup_closedir_ DIR *dir = d;
  size_t base = strlen(c->path);
  struct dirent *de;
  while ((errno = 0, de = readdir(dir))) {
    const char *name = de->d_name;
    if (!strcmp(name, ".") || !strcmp(name, ".."))
      continue;
    if ((size_t)snprintf(c->path + base, sizeof(c->path) - base, "%s%s", base ? "/" : "",
                         name) >= sizeof(c->path) - base)
      return nook_errx(err, ENAMETOOLONG, "a path in the image is too long: `%s`", c->path);
    struct stat st;
    if (fstatat(srcfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      return nook_err(err, errno, "stat `%s` in the image", c->path);
    int r = copy_entry(c, srcfd, dstfd, name, &st, err);
    c->path[base] = '\0';
    if (r < 0)
      return r;
  }
  if (errno)
    return nook_err(err, errno, "read a directory of the image");
  return 0;
}

static int copy_entry(struct seed_copy *c, int srcfd, int dstfd, const char *name,
                      const struct stat *st, nook_error *err) {
  if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
    const char *first = seen_link(c, st);
    if (first) {
      if (linkat(c->volfd, first, dstfd, name, 0) < 0)
        return nook_err(err, errno, "link `%s` to `%s` in the volume", c->path, first);
      return 0;
    }
  }
  if (S_ISDIR(st->st_mode)) {
    if (mkdirat(dstfd, name, 0700) < 0)
      return nook_err(err, errno, "create `%s` in the volume", c->path);
    _cleanup_close_ int sub_src =
        openat(srcfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    _cleanup_close_ int sub_dst =
        openat(dstfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub_src < 0 || sub_dst < 0)
      return nook_err(err, errno, "open `%s`", c->path);
    int r = copy_tree(c, sub_src, sub_dst, err);
    if (r < 0)
      return r;
    return copy_attributes(sub_src, sub_dst, c->path, st, err);
  }
  if (S_ISREG(st->st_mode)) {
    int r = copy_file(srcfd, dstfd, name, st, err);
    if (r < 0)
      return r;
  } else if (S_ISLNK(st->st_mode)) {
    /* copied as a link, never followed: its target may lead anywhere */
    char target[PATH_MAX];
    ssize_t n = readlinkat(srcfd, name, target, sizeof(target) - 1);
    if (n < 0)
      return nook_err(err, errno, "read the link `%s` in the image", c->path);
    target[n] = '\0';
    struct timespec times[2] = {st->st_atim, st->st_mtim};
    if (symlinkat(target, dstfd, name) < 0 ||
        fchownat(dstfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
        utimensat(dstfd, name, times, AT_SYMLINK_NOFOLLOW) < 0)
      return nook_err(err, errno, "create the link `%s` in the volume", c->path);
  } else if (S_ISFIFO(st->st_mode)) {
    struct timespec times[2] = {st->st_atim, st->st_mtim};
    if (mkfifoat(dstfd, name, st->st_mode & 07777) < 0 ||
        fchownat(dstfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
        fchmodat(dstfd, name, st->st_mode & 07777, 0) < 0 ||
        utimensat(dstfd, name, times, AT_SYMLINK_NOFOLLOW) < 0)
      return nook_err(err, errno, "create the fifo `%s` in the volume", c->path);
  } else {
    /* devices and sockets cannot be made in a user namespace: left out, as
     * the container could not use them from a volume either */
    return 0;
  }
  if (st->st_nlink > 1)
    remember_link(c, st);
  return 0;
}

struct seed_args {
  const struct rootfs_info *rootfs;
  char *const *paths;  /* in the container */
  const char *volumes; /* containers/ID/volumes */
};

static int seed_one(int rootfd, int volfd, const char *path, size_t index, nook_error *err) {
  _cleanup_free_ char *name = xasprintf("%zu", index);
  if (mkdirat(volfd, name, 0755) < 0)
    return nook_err(err, errno, "create the volume for `%s`", path);
  _cleanup_close_ int dst = openat(volfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dst < 0)
    return nook_err(err, errno, "open the volume for `%s`", path);
  struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  _cleanup_close_ int src = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
  if (src < 0) {
    if (errno == ENOENT)
      return 0; /* not in the image: an empty volume, root's */
    if (errno == ENOTDIR)
      return nook_errx(err, ENOTDIR, "the image's volume `%s` is not a directory in the image",
                       path);
    return nook_err(err, errno, "open `%s` in the image", path);
  }
  struct stat st;
  if (fstat(src, &st) < 0)
    return nook_err(err, errno, "stat `%s` in the image", path);
  struct seed_copy copy = {.volfd = dst};
  int r = copy_tree(&copy, src, dst, err);
  if (r == 0)
    r = copy_attributes(src, dst, path, &st, err);
  for (size_t i = 0; i < copy.n_links; i++)
    free(copy.links[i].path);
  free(copy.links);
  if (r < 0)
    return nook_err_prefix(err, r, "seed the volume `%s` from the image", path);
  return 0;
}

/* In a user and mount namespace: the image's layers over an empty upper of
 * our own (the container's upper may not be mounted twice), then a copy. */
static int seed_in_ns(void *arg, nook_error *err) {
  const struct seed_args *a = arg;
  _cleanup_close_ int volfd = open(a->volumes, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (volfd < 0)
    return nook_err(err, errno, "open `%s`", a->volumes);
  static const char *const dirs[] = {SEED_DIR, SEED_DIR "/mnt", SEED_DIR "/upper",
                                     SEED_DIR "/work"};
  for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
    if (mkdirat(volfd, dirs[i], 0700) < 0)
      return nook_err(err, errno, "create `%s/%s`", a->volumes, dirs[i]);
  _cleanup_free_ char *mnt = xasprintf("%s/" SEED_DIR "/mnt", a->volumes);
  struct rootfs_info view = *a->rootfs;
  _cleanup_free_ char *upper = xasprintf("%s/" SEED_DIR "/upper", a->volumes);
  _cleanup_free_ char *work = xasprintf("%s/" SEED_DIR "/work", a->volumes);
  view.upper = upper;
  view.work = work;
  int r = rootfs_mount_in_userns(&view, mnt, err);
  if (r < 0)
    return r;
  _cleanup_close_ int rootfd = open(mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    r = nook_err(err, errno, "open `%s`", mnt);
  for (size_t i = 0; r == 0 && a->paths[i]; i++)
    r = seed_one(rootfd, volfd, a->paths[i], i, err);
  if (rootfd >= 0)
    close(steal_fd(&rootfd));
  /* a FUSE overlay's daemon ends with its mount */
  if (umount2(mnt, 0) < 0)
    umount2(mnt, MNT_DETACH);
  return r;
}

int image_volumes_prepare(const struct launch_plan *p, char ***dests, char ***sources,
                          nook_error *err) {
  *dests = *sources = NULL;
  const struct rootfs_info *rf = p->rootfs;
  _cleanup_strv_ char **taken = launch_mount_destinations(p->opts);
  _cleanup_strv_ char **paths = NULL;
  /* the image's Volumes, then --mount type=volume: each an anonymous one */
  _cleanup_strv_ char **wanted = NULL;
  for (size_t i = 0; rf->config.volumes && rf->config.volumes[i]; i++)
    strv_push(&wanted, rf->config.volumes[i]);
  _cleanup_strv_ char **anonymous = launch_anonymous_volumes(p->opts, false);
  for (size_t i = 0; anonymous && anonymous[i]; i++)
    strv_push(&wanted, anonymous[i]);
  for (size_t i = 0; wanted && wanted[i]; i++) {
    const char *v = wanted[i];
    _cleanup_free_ char *trimmed = path_trimmed(v);
    if (v[0] != '/' || !strcmp(trimmed, "/"))
      continue; /* docker refuses such an image; a volume cannot go there */
    bool mounted = false;
    for (size_t j = 0; taken && taken[j] && !mounted; j++)
      mounted = same_path(taken[j], v);
    for (size_t j = 0; paths && paths[j] && !mounted; j++)
      mounted = same_path(paths[j], v);
    if (!mounted)
      strv_push(&paths, v);
  }
  if (!paths)
    return 0;
  _cleanup_free_ char *volumes = xasprintf("%s/volumes", rf->container_dir);
  nook_error ignore;
  store_rm_rf_in_userns(rf->container_dir, "volumes", &ignore); /* a dead launch's */
  if (mkdir(volumes, 0700) < 0 && errno != EEXIST)
    return nook_err(err, errno, "create `%s`", volumes);
  struct seed_args a = {.rootfs = rf, .paths = paths, .volumes = volumes};
  int r = store_run_in_userns(seed_in_ns, &a, CLONE_NEWNS, err);
  store_rm_rf_in_userns(volumes, SEED_DIR, &ignore);
  if (r < 0)
    return nook_err_prefix(err, r, "image %s", p->opts->image);
  for (size_t i = 0; paths[i]; i++) {
    _cleanup_free_ char *src = xasprintf("%s/%zu", volumes, i);
    strv_push(sources, src);
    strv_push(dests, paths[i]);
  }
  return 0;
}
