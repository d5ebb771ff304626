#include "mounts.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "storage/rootfs-annotations.h"
#include "util.h"

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_NOEXEC 0x00000008
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

struct mount_attr_arg {
  unsigned long long attr_set, attr_clr, propagation, userns_fd;
};

static int sys_openat2(int dirfd, const char *path, int flags, unsigned long long resolve) {
  struct open_how how = {.flags = (unsigned long long)flags, .resolve = resolve};
  return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static int sys_mount_setattr(int dirfd, const char *path, unsigned flags,
                             struct mount_attr_arg *attr) {
  return (int)syscall(SYS_mount_setattr, dirfd, path, flags, attr, sizeof(*attr));
}

/* ---- mount options ---- */

struct parsed_mount_options {
  unsigned long flags;
  unsigned long propagation;
  unsigned long long rec_attr_set; /* rro, rnosuid...: applied with mount_setattr */
  unsigned long long rec_attr_clr;
  bool bind;
  bool tmpcopyup;
  char *data; /* filesystem options, comma separated */
};

static const struct {
  const char *name;
  bool clear;
  unsigned long flag;
} flag_options[] = {
    {"async", true, MS_SYNCHRONOUS},  {"atime", true, MS_NOATIME},
    {"defaults", false, 0},           {"dev", true, MS_NODEV},
    {"diratime", true, MS_NODIRATIME}, {"dirsync", false, MS_DIRSYNC},
    {"exec", true, MS_NOEXEC},        {"iversion", false, MS_I_VERSION},
    {"lazytime", false, MS_LAZYTIME}, {"loud", true, MS_SILENT},
    {"mand", false, MS_MANDLOCK},     {"noatime", false, MS_NOATIME},
    {"nodev", false, MS_NODEV},       {"nodiratime", false, MS_NODIRATIME},
    {"noexec", false, MS_NOEXEC},     {"noiversion", true, MS_I_VERSION},
    {"nolazytime", true, MS_LAZYTIME}, {"nomand", true, MS_MANDLOCK},
    {"norelatime", true, MS_RELATIME}, {"nostrictatime", true, MS_STRICTATIME},
    {"nosuid", false, MS_NOSUID},     {"nosymfollow", false, MS_NOSYMFOLLOW},
    {"relatime", false, MS_RELATIME}, {"remount", false, MS_REMOUNT},
    {"ro", false, MS_RDONLY},         {"rw", true, MS_RDONLY},
    {"silent", false, MS_SILENT},     {"strictatime", false, MS_STRICTATIME},
    {"suid", true, MS_NOSUID},        {"symfollow", true, MS_NOSYMFOLLOW},
    {"sync", false, MS_SYNCHRONOUS},
};

static const struct {
  const char *name;
  unsigned long flag;
} propagation_options[] = {
    {"private", MS_PRIVATE},
    {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},
    {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},
    {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE},
    {"runbindable", MS_UNBINDABLE | MS_REC},
};

static const struct {
  const char *name;
  bool clear;
  unsigned long long attr;
} recursive_options[] = {
    {"rro", false, MOUNT_ATTR_RDONLY},      {"rrw", true, MOUNT_ATTR_RDONLY},
    {"rnosuid", false, MOUNT_ATTR_NOSUID},  {"rsuid", true, MOUNT_ATTR_NOSUID},
    {"rnodev", false, MOUNT_ATTR_NODEV},    {"rdev", true, MOUNT_ATTR_NODEV},
    {"rnoexec", false, MOUNT_ATTR_NOEXEC},  {"rexec", true, MOUNT_ATTR_NOEXEC},
};

static void parse_mount_options(char *const *options, struct parsed_mount_options *out) {
  memset(out, 0, sizeof(*out));
  for (size_t i = 0; options && options[i]; i++) {
    const char *o = options[i];
    bool known = false;
    if (strcmp(o, "bind") == 0) {
      out->bind = true;
      out->flags |= MS_BIND;
      continue;
    }
    if (strcmp(o, "rbind") == 0) {
      out->bind = true;
      out->flags |= MS_BIND | MS_REC;
      continue;
    }
    if (strcmp(o, "tmpcopyup") == 0) {
      out->tmpcopyup = true;
      continue;
    }
    for (size_t j = 0; j < ARRAY_SIZE(flag_options) && !known; j++) {
      if (strcmp(o, flag_options[j].name) == 0) {
        if (flag_options[j].clear)
          out->flags &= ~flag_options[j].flag;
        else
          out->flags |= flag_options[j].flag;
        known = true;
      }
    }
    for (size_t j = 0; j < ARRAY_SIZE(propagation_options) && !known; j++) {
      if (strcmp(o, propagation_options[j].name) == 0) {
        out->propagation |= propagation_options[j].flag;
        known = true;
      }
    }
    for (size_t j = 0; j < ARRAY_SIZE(recursive_options) && !known; j++) {
      if (strcmp(o, recursive_options[j].name) == 0) {
        if (recursive_options[j].clear)
          out->rec_attr_clr |= recursive_options[j].attr;
        else
          out->rec_attr_set |= recursive_options[j].attr;
        known = true;
      }
    }
    if (known)
      continue;
    if (out->data) {
      char *joined = xasprintf("%s,%s", out->data, o);
      free(out->data);
      out->data = joined;
    } else {
      out->data = xstrdup(o);
    }
  }
}

/* Flags the kernel locks on a mount made in a less privileged user namespace:
 * a remount inside the container must keep them or it fails with EPERM. */
static unsigned long locked_flags_of(const char *path) {
  struct statvfs sv;
  if (statvfs(path, &sv) < 0)
    return 0;
  unsigned long f = 0;
  if (sv.f_flag & ST_NOSUID)
    f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV)
    f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC)
    f |= MS_NOEXEC;
  if (sv.f_flag & ST_RDONLY)
    f |= MS_RDONLY;
  if (sv.f_flag & ST_NOATIME)
    f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME)
    f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME)
    f |= MS_RELATIME;
  return f;
}

/* ---- resolving targets inside the rootfs ---- */

/* Opens (O_PATH) dest below rootfd, creating missing directories and, when
 * want_file, the last component as an empty file. Symlinks are resolved as
 * if rootfd were "/", so none leads out of the rootfs. */
static int open_target_in_root(int rootfd, const char *dest, bool want_file, nook_error *err) {
  int fd = sys_openat2(rootfd, dest, O_PATH | O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (fd >= 0)
    return fd;
  if (errno != ENOENT)
    return nook_err(err, errno, "resolve mount target `%s` in the rootfs", dest);

  _cleanup_free_ char *path = xstrdup(dest);
  char *slash = strrchr(path, '/');
  const char *leaf = slash ? slash + 1 : path;
  _cleanup_close_ int parentfd = -1;
  if (slash && slash != path) {
    *slash = '\0';
    parentfd = open_target_in_root(rootfd, path, false, err);
    if (parentfd < 0)
      return parentfd;
  } else {
    parentfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
  }
  if (*leaf == '\0')
    return steal_fd(&parentfd);
  /* mkdirat and friends need a real directory fd, not O_PATH of a symlink. */
  _cleanup_close_ int dirfd = openat(parentfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return nook_err(err, errno, "mount target `%s`: parent is not a directory", dest);
  if (want_file) {
    int f = openat(dirfd, leaf, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (f < 0 && errno != EEXIST)
      return nook_err(err, errno, "create mount target `%s`", dest);
    if (f >= 0)
      close(f);
  } else if (mkdirat(dirfd, leaf, 0755) < 0 && errno != EEXIST) {
    return nook_err(err, errno, "create mount target `%s`", dest);
  }
  fd = sys_openat2(dirfd, leaf, O_PATH | O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (fd < 0)
    return nook_err(err, errno, "open mount target `%s`", dest);
  return fd;
}

static void fd_path(int fd, char buf[64]) { snprintf(buf, 64, "/proc/self/fd/%d", fd); }

/* ---- one mount ---- */

static int remount_bind(const char *target, unsigned long flags, const char *locked_source,
                        nook_error *err, const char *what) {
  unsigned long keep = locked_flags_of(locked_source);
  unsigned long f = MS_BIND | MS_REMOUNT | (flags & ~(MS_BIND | MS_REC | MS_REMOUNT)) |
                    (keep & ~MS_RDONLY);
  if (mount(NULL, target, NULL, f, NULL) < 0)
    return nook_err(err, errno, "remount `%s` with its options", what);
  return 0;
}

static int do_bind(const char *source, const char *target, bool recursive, nook_error *err,
                   const char *dest) {
  if (mount(source, target, NULL, MS_BIND | (recursive ? MS_REC : 0), NULL) < 0)
    return nook_err(err, errno, "bind mount `%s` on `%s`", source, dest);
  return 0;
}

static bool host_is_cgroup2(void) {
  struct statfs sf;
  return statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == 0x63677270; /* CGROUP2_SUPER_MAGIC */
}

static char *strip_option(const char *data, const char *prefix) {
  if (!data)
    return NULL;
  _cleanup_free_ char *copy = xstrdup(data);
  char *out = xcalloc(1, strlen(data) + 1);
  char *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (str_has_prefix(tok, prefix))
      continue;
    if (*out)
      strcat(out, ",");
    strcat(out, tok);
  }
  return out;
}

static int enter_cgroup(struct mount_context *ctx, nook_error *err) {
  if (ctx->cgroup_entered)
    return 0;
  ctx->cgroup_entered = true;
  return ctx->enter_cgroup ? ctx->enter_cgroup(ctx->data, err) : 0;
}

/* opened_target: the mount target opened already (taken over), or -1. */
static int mount_one(struct mount_context *ctx, const struct spec_mount *m, int opened_target,
                     nook_error *err) {
  struct parsed_mount_options o;
  parse_mount_options(m->options, &o);
  _cleanup_free_ char *data = o.data;
  const char *type = m->type && *m->type ? m->type : NULL;
  bool bind = o.bind || (type && strcmp(type, "bind") == 0);
  _cleanup_free_ char *source = NULL;
  if (m->source && bind && m->source[0] != '/')
    source = xasprintf("%s/%s", ctx->spec->bundle, m->source);
  else
    source = xstrdup(m->source ? m->source : (type ? type : "none"));

  bool want_file = false;
  if (bind) {
    struct stat st;
    if (stat(source, &st) < 0)
      return nook_err(err, errno, "mount `%s`: source `%s`", m->destination, source);
    want_file = !S_ISDIR(st.st_mode);
  }
  _cleanup_close_ int target_fd =
      opened_target >= 0 ? opened_target
                         : open_target_in_root(ctx->rootfd, m->destination, want_file, err);
  if (target_fd < 0)
    return target_fd;
  char target[64];
  fd_path(target_fd, target);

  unsigned long flags = o.flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
  if (bind) {
    int r = do_bind(source, target, (o.flags & MS_REC) != 0, err, m->destination);
    if (r < 0)
      return r;
  } else if (type && (strcmp(type, "cgroup") == 0 || strcmp(type, "cgroup2") == 0)) {
    /* The new cgroup2 mount shows the cgroup namespace's root. */
    int r = enter_cgroup(ctx, err);
    if (r < 0)
      return r;
    const char *fstype = ctx->host_cgroup2 ? "cgroup2" : type;
    const char *fsdata = strcmp(fstype, "cgroup2") == 0 ? NULL : data;
    int mounted = mount(fstype, target, fstype, flags, fsdata);
    if (mounted < 0 && errno == EBUSY &&
        mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=4k") == 0)
      /* EBUSY: the target is the root of the host's cgroup2 mount (came with
       * /sys bound from the host), and the kernel refuses to stack a mount of
       * the same superblock on its own root. Over a tmpfs it is another
       * superblock; mount() through the fd's path lands on the topmost. */
      mounted = mount(fstype, target, fstype, flags, fsdata);
    if (mounted < 0) {
      /* Without a cgroup namespace of its own the container gets the host's
       * view, read-only, as crun does. After pivot_root (a late cgroup
       * mount, made only with a cgroup namespace) the one failure is EBUSY
       * of a target that is the host's cgroup2 already (under /sys bound
       * from the host): that view is bound onto itself. */
      if (ctx->pivoted && errno != EBUSY)
        return nook_err(err, errno, "mount cgroup2 on `%s`", m->destination);
      nook_debug("mount %s on %s: %s; binding the host's cgroups", fstype, m->destination,
                 strerror(errno));
      free(source);
      source = xstrdup(ctx->pivoted ? m->destination : "/sys/fs/cgroup");
      r = do_bind(ctx->pivoted ? target : source, target, true, err, m->destination);
      if (r < 0)
        return r;
      flags |= MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
      bind = true;
    }
  } else if (mount(source, target, type, flags, data) < 0) {
    int e = errno;
    if (type && strcmp(type, "sysfs") == 0 && (e == EPERM || e == EACCES)) {
      /* sysfs needs a network namespace owned by our user namespace. */
      int r = do_bind("/sys", target, true, err, m->destination);
      if (r < 0)
        return r;
      bind = true;
      free(source);
      source = xstrdup("/sys");
    } else if (type && strcmp(type, "mqueue") == 0 && (e == EPERM || e == EACCES)) {
      int r = do_bind("/dev/mqueue", target, true, err, m->destination);
      if (r < 0)
        return r;
      bind = true;
      free(source);
      source = xstrdup("/dev/mqueue");
    } else if (type && strcmp(type, "devpts") == 0 && e == EINVAL && data &&
               strstr(data, "gid=")) {
      /* gid=5 is not mapped in a single-id user namespace. */
      _cleanup_free_ char *nogid = strip_option(data, "gid=");
      if (mount(source, target, type, flags, nogid) < 0)
        return nook_err(err, errno, "mount devpts on `%s`", m->destination);
    } else {
      return nook_err(err, e, "mount `%s` (type %s, options %s) on `%s`", source,
                      type ? type : "none", data ? data : "none", m->destination);
    }
  }

  if (bind && (flags & ~(MS_BIND | MS_REC)) != 0) {
    /* Options of a bind mount take effect only through a remount of the
     * mount itself, reached again through the rootfs. */
    _cleanup_close_ int mounted =
        sys_openat2(ctx->rootfd, m->destination, O_PATH | O_CLOEXEC, RESOLVE_IN_ROOT);
    if (mounted < 0)
      return nook_err(err, errno, "reopen `%s`", m->destination);
    char mpath[64];
    fd_path(mounted, mpath);
    int r = remount_bind(mpath, flags, source, err, m->destination);
    if (r < 0)
      return r;
  }
  if (o.propagation || o.rec_attr_set || o.rec_attr_clr) {
    _cleanup_close_ int mounted =
        sys_openat2(ctx->rootfd, m->destination, O_PATH | O_CLOEXEC, RESOLVE_IN_ROOT);
    if (mounted < 0)
      return nook_err(err, errno, "reopen `%s`", m->destination);
    char mpath[64];
    fd_path(mounted, mpath);
    if (o.propagation && mount(NULL, mpath, NULL, o.propagation, NULL) < 0)
      return nook_err(err, errno, "set propagation of `%s`", m->destination);
    if (o.rec_attr_set || o.rec_attr_clr) {
      struct mount_attr_arg attr = {.attr_set = o.rec_attr_set, .attr_clr = o.rec_attr_clr};
      if (sys_mount_setattr(mounted, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr) < 0)
        return nook_err(err, errno, "set recursive options of `%s`", m->destination);
    }
  }
  return 0;
}

/* ---- /dev ---- */

static const struct spec_device default_devices[] = {
    {.path = "/dev/null", .type = 'c', .major = 1, .minor = 3},
    {.path = "/dev/zero", .type = 'c', .major = 1, .minor = 5},
    {.path = "/dev/full", .type = 'c', .major = 1, .minor = 7},
    {.path = "/dev/random", .type = 'c', .major = 1, .minor = 8},
    {.path = "/dev/urandom", .type = 'c', .major = 1, .minor = 9},
    {.path = "/dev/tty", .type = 'c', .major = 5, .minor = 0},
};

static int create_device(struct mount_context *ctx, const struct spec_device *d, nook_error *err) {
  if (!ctx->in_userns) {
    _cleanup_free_ char *rel = xstrdup(d->path);
    char *slash = strrchr(rel, '/');
    *slash = '\0';
    _cleanup_close_ int parent = open_target_in_root(ctx->rootfd, *rel ? rel : "/", false, err);
    if (parent < 0)
      return parent;
    _cleanup_close_ int dirfd = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
      return nook_err(err, errno, "device `%s`", d->path);
    mode_t type = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
    mode_t mode = d->has_file_mode ? d->file_mode : 0666;
    unlinkat(dirfd, slash + 1, 0);
    if (mknodat(dirfd, slash + 1, type | (mode & 07777),
                makedev((unsigned)d->major, (unsigned)d->minor)) < 0)
      return nook_err(err, errno, "create device `%s`", d->path);
    if (fchmodat(dirfd, slash + 1, mode & 07777, 0) < 0)
      return nook_err(err, errno, "chmod device `%s`", d->path);
    if (fchownat(dirfd, slash + 1, d->has_uid ? d->uid : 0, d->has_gid ? d->gid : 0,
                 AT_SYMLINK_NOFOLLOW) < 0)
      return nook_err(err, errno, "chown device `%s`", d->path);
    return 0;
  }
  /* In a user namespace mknod is not allowed: the host's node is bound. */
  struct stat st;
  if (stat(d->path, &st) < 0) {
    nook_warn("device `%s` does not exist on the host: not created in the container", d->path);
    return 0;
  }
  _cleanup_close_ int target = open_target_in_root(ctx->rootfd, d->path, true, err);
  if (target < 0)
    return target;
  char tpath[64];
  fd_path(target, tpath);
  if (mount(d->path, tpath, NULL, MS_BIND, NULL) < 0)
    return nook_err(err, errno, "bind device `%s`", d->path);
  return 0;
}

static int create_dev_symlinks(struct mount_context *ctx, nook_error *err) {
  static const struct {
    const char *target, *link;
  } links[] = {
      {"/proc/self/fd", "fd"},
      {"/proc/self/fd/0", "stdin"},
      {"/proc/self/fd/1", "stdout"},
      {"/proc/self/fd/2", "stderr"},
  };
  _cleanup_close_ int dev = open_target_in_root(ctx->rootfd, "/dev", false, err);
  if (dev < 0)
    return dev;
  _cleanup_close_ int devdir = openat(dev, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (devdir < 0)
    return nook_err(err, errno, "open the container's /dev");
  for (size_t i = 0; i < ARRAY_SIZE(links); i++)
    if (symlinkat(links[i].target, devdir, links[i].link) < 0 && errno != EEXIST)
      return nook_err(err, errno, "create /dev/%s", links[i].link);
  if (access("/proc/kcore", F_OK) == 0 && symlinkat("/proc/kcore", devdir, "core") < 0 &&
      errno != EEXIST)
    return nook_err(err, errno, "create /dev/core");
  /* /dev/ptmx must be the container's own devpts instance. */
  struct stat st;
  if (fstatat(devdir, "pts/ptmx", &st, 0) == 0) {
    if (unlinkat(devdir, "ptmx", 0) < 0 && errno != ENOENT)
      return nook_err(err, errno, "replace /dev/ptmx");
    if (symlinkat("pts/ptmx", devdir, "ptmx") < 0)
      return nook_err(err, errno, "create /dev/ptmx");
  }
  return 0;
}

static int setup_devices(struct mount_context *ctx, nook_error *err) {
  const struct spec *spec = ctx->spec;
  for (size_t i = 0; i < ARRAY_SIZE(default_devices); i++) {
    bool overridden = false;
    for (size_t j = 0; j < spec->n_devices; j++)
      if (strcmp(spec->devices[j].path, default_devices[i].path) == 0)
        overridden = true;
    if (overridden)
      continue;
    int r = create_device(ctx, &default_devices[i], err);
    if (r < 0)
      return r;
  }
  for (size_t j = 0; j < spec->n_devices; j++) {
    int r = create_device(ctx, &spec->devices[j], err);
    if (r < 0)
      return r;
  }
  return create_dev_symlinks(ctx, err);
}

/* ---- the whole sequence ---- */

static unsigned long propagation_flag(const char *name) {
  for (size_t j = 0; name && j < ARRAY_SIZE(propagation_options); j++)
    if (strcmp(name, propagation_options[j].name) == 0)
      return propagation_options[j].flag;
  return 0;
}

static bool is_cgroup_mount(const struct spec_mount *m) {
  return m->type && (strcmp(m->type, "cgroup") == 0 || strcmp(m->type, "cgroup2") == 0);
}

static bool path_is_at_or_below(const char *path, const char *dir) {
  if (strcmp(dir, "/") == 0)
    return true;
  size_t n = strlen(dir);
  return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static bool paths_overlap(const char *a, const char *b) {
  return path_is_at_or_below(a, b) || path_is_at_or_below(b, a);
}

/* Whether spec->mounts[i] can be made after pivot_root, out of order: a
 * cgroup2 mount in a new cgroup namespace with nothing mounted after it on,
 * above or below it (mounts, masked and read-only paths), and /proc there
 * (not masked) to reach the target through. */
static bool cgroup_mount_can_wait(const struct mount_context *ctx, size_t i) {
  const struct spec *spec = ctx->spec;
  const char *dest = spec->mounts[i].destination;
  const struct spec_namespace *cgroupns = &spec->namespaces[SPEC_NS_CGROUP];
  if (!ctx->host_cgroup2 || !cgroupns->enabled || cgroupns->path)
    return false;
  bool proc = false;
  for (size_t j = 0; j < spec->n_mounts; j++) {
    const struct spec_mount *m = &spec->mounts[j];
    if (j < i && m->type && strcmp(m->type, "proc") == 0 && strcmp(m->destination, "/proc") == 0)
      proc = true;
    if (j > i && paths_overlap(m->destination, dest))
      return false;
  }
  for (size_t j = 0; spec->masked_paths && spec->masked_paths[j]; j++)
    if (paths_overlap(spec->masked_paths[j], dest) ||
        path_is_at_or_below("/proc/self", spec->masked_paths[j]))
      return false;
  for (size_t j = 0; spec->readonly_paths && spec->readonly_paths[j]; j++)
    if (paths_overlap(spec->readonly_paths[j], dest))
      return false;
  return proc && !spec->rootfs_propagation;
}

int mounts_prepare_rootfs(struct mount_context *ctx, nook_error *err) {
  const struct spec *spec = ctx->spec;
  ctx->host_cgroup2 = host_is_cgroup2();
  ctx->pivoted = false;
  ctx->late_cgroup = NULL;
  ctx->late_cgroup_target = -1;
  /* Nothing the container mounts may propagate back to the host, whatever
   * the host's / is; rootfsPropagation applies to the new root later. */
  unsigned long root_prop = propagation_flag(spec->rootfs_propagation);
  unsigned long host_prop = MS_REC | MS_SLAVE;
  if (root_prop & MS_PRIVATE)
    host_prop = MS_REC | MS_PRIVATE;
  if (mount(NULL, "/", NULL, host_prop, NULL) < 0)
    return nook_err(err, errno, "make / a slave mount");

  int r = rootfs_annotated_starts_process(spec) ? enter_cgroup(ctx, err) : 0;
  if (r == 0)
    r = rootfs_mount_annotated(spec, err);
  if (r < 0)
    return r;
  if (mount(spec->root_path, spec->root_path, NULL, MS_BIND | MS_REC, NULL) < 0)
    return nook_err(err, errno, "bind the rootfs `%s`", spec->root_path);
  ctx->rootfd = open(spec->root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (ctx->rootfd < 0)
    return nook_err(err, errno, "open the rootfs `%s`", spec->root_path);

  for (size_t i = 0; i < spec->n_mounts; i++) {
    const struct spec_mount *m = &spec->mounts[i];
    if (ctx->cgroup_late && !ctx->cgroup_entered && !ctx->late_cgroup && is_cgroup_mount(m) &&
        cgroup_mount_can_wait(ctx, i)) {
      /* The cgroup namespace it shows is made once the cgroup is joined,
       * as late as mounts_enter_cgroup_late. */
      ctx->late_cgroup_target = open_target_in_root(ctx->rootfd, m->destination, false, err);
      if (ctx->late_cgroup_target < 0)
        return ctx->late_cgroup_target;
      ctx->late_cgroup = m;
      continue;
    }
    r = mount_one(ctx, m, -1, err);
    if (r < 0)
      return r;
  }
  r = setup_devices(ctx, err);
  return r < 0 || ctx->cgroup_late ? r : enter_cgroup(ctx, err);
}

int mounts_enter_cgroup_late(struct mount_context *ctx, nook_error *err) {
  int r = enter_cgroup(ctx, err);
  if (r == 0 && ctx->late_cgroup)
    r = mount_one(ctx, ctx->late_cgroup, steal_fd(&ctx->late_cgroup_target), err);
  ctx->late_cgroup = NULL;
  return r;
}

static int do_pivot(struct mount_context *ctx, nook_error *err) {
  const char *root = ctx->spec->root_path;
  if (chdir(root) < 0)
    return nook_err(err, errno, "chdir to the rootfs `%s`", root);
  if (ctx->no_pivot) {
    if (mount(root, "/", NULL, MS_MOVE, NULL) < 0)
      return nook_err(err, errno, "move the rootfs to /");
    if (chroot(".") < 0)
      return nook_err(err, errno, "chroot into the rootfs");
  } else {
    /* pivot_root(".", ".") stacks the old root under the new one, where a
     * lazy unmount drops it without a directory to hold it. */
    if (syscall(SYS_pivot_root, ".", ".") < 0)
      return nook_err(err, errno, "pivot_root into `%s` (try --no-pivot on a ramfs root)", root);
    if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
      return nook_err(err, errno, "make the old root a slave");
    if (umount2(".", MNT_DETACH) < 0)
      return nook_err(err, errno, "detach the old root");
  }
  if (chdir("/") < 0)
    return nook_err(err, errno, "chdir /");
  ctx->pivoted = true;
  return 0;
}

static int mask_path(const char *path, nook_error *err) {
  struct stat st;
  if (stat(path, &st) < 0)
    return 0; /* nothing to hide */
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) < 0)
      return nook_err(err, errno, "mask `%s`", path);
  } else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
    if (errno == ENOENT)
      return 0;
    return nook_err(err, errno, "mask `%s`", path);
  }
  return 0;
}

static int readonly_path(const char *path, nook_error *err) {
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
    if (errno == ENOENT)
      return 0;
    return nook_err(err, errno, "bind `%s` read-only", path);
  }
  return remount_bind(path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, path, err, path);
}

int mounts_enter_rootfs(struct mount_context *ctx, nook_error *err) {
  const struct spec *spec = ctx->spec;
  int r = do_pivot(ctx, err);
  if (r < 0)
    return r;
  for (size_t i = 0; spec->masked_paths && spec->masked_paths[i]; i++)
    if ((r = mask_path(spec->masked_paths[i], err)) < 0)
      return r;
  for (size_t i = 0; spec->readonly_paths && spec->readonly_paths[i]; i++)
    if ((r = readonly_path(spec->readonly_paths[i], err)) < 0)
      return r;
  if (spec->root_readonly && remount_bind("/", MS_RDONLY, "/", err, "/ (root.readonly)") < 0)
    return -err->code;
  unsigned long prop = propagation_flag(spec->rootfs_propagation);
  if (prop && mount(NULL, "/", NULL, prop, NULL) < 0)
    return nook_err(err, errno, "set rootfsPropagation `%s`", spec->rootfs_propagation);
  return 0;
}

int mounts_bind_console(const char *slave_path, nook_error *err) {
  int fd = open("/dev/console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0)
    close(fd);
  if (mount(slave_path, "/dev/console", NULL, MS_BIND, NULL) < 0)
    return nook_err(err, errno, "bind the terminal on /dev/console");
  return 0;
}
