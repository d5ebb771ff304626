#include "rootfs.h"

#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

const char *rootfs_driver_name(enum rootfs_driver d) {
  return d == ROOTFS_NATIVE ? "native" : "fuse";
}

void rootfs_info_free(struct rootfs_info *info) {
  free(info->image_id);
  free(info->container_dir);
  strv_free(info->lowerdirs);
  free(info->upper);
  free(info->work);
  image_config_free(&info->config);
  memset(info, 0, sizeof(*info));
}

static bool valid_container_id(const char *id) {
  if (!id || !*id || strlen(id) > 1024 || id[0] == '.')
    return false;
  return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
         strlen(id);
}

struct probe {
  const char *dir;
};

/* In a user and mount namespace: a whiteout made by mknod and an opaque dir
 * must hide what the lower layer has, with userxattr. */
static int probe_in_ns(void *arg, nook_error *err) {
  struct probe *p = arg;
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return nook_err(err, errno, "make the probe's mounts private");
  if (chdir(p->dir) < 0)
    return nook_err(err, errno, "enter `%s`", p->dir);
  static const char *const dirs[] = {"l1", "l1/d", "l2", "l2/d", "u", "w", "m"};
  for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
    if (mkdir(dirs[i], 0755) < 0)
      return nook_err(err, errno, "probe: mkdir `%s`", dirs[i]);
  nook_error ignore;
  if (write_file_at(AT_FDCWD, "l1/a", "a", 1, 0644, &ignore) < 0 ||
      write_file_at(AT_FDCWD, "l1/d/x", "x", 1, 0644, &ignore) < 0)
    return nook_err(err, errno, "probe: write the lower layer");
  if (mknod("l2/a", S_IFCHR, makedev(0, 0)) < 0)
    return nook_errx(err, EPERM, "probe: whiteout devices are refused here");
  if (setxattr("l2/d", "user.overlay.opaque", "y", 1, 0) < 0)
    return nook_errx(err, EPERM, "probe: user xattrs are refused here");
  _cleanup_free_ char *opts =
      xasprintf("lowerdir=%s/l2:%s/l1,upperdir=%s/u,workdir=%s/w,userxattr", p->dir, p->dir,
                p->dir, p->dir);
  if (mount("overlay", "m", "overlay", 0, opts) < 0)
    return nook_err(err, errno, "probe: mount overlay");
  struct stat st;
  bool ok = lstat("m/a", &st) < 0 && errno == ENOENT && lstat("m/d/x", &st) < 0 &&
            errno == ENOENT && lstat("m/d", &st) == 0;
  ok = ok && write_file_at(AT_FDCWD, "m/new", "n", 1, 0644, &ignore) == 0;
  umount2("m", MNT_DETACH);
  if (!ok)
    return nook_errx(err, EINVAL, "probe: the overlay does not honour whiteouts");
  return 0;
}

int overlay_driver_detect(const char *root, enum rootfs_driver *out, nook_error *err) {
  const char *env = getenv("NOOK_OVERLAY_DRIVER");
  if (env && !strcmp(env, "native")) {
    *out = ROOTFS_NATIVE;
    return 0;
  }
  if (env && !strcmp(env, "fuse")) {
    *out = ROOTFS_FUSE;
    return 0;
  }
  struct stat st;
  if (stat(root, &st) < 0)
    return nook_err(err, errno, "stat `%s`", root);
  _cleanup_free_ char *cache =
      xasprintf("%s/overlay-%x-%x", root, major(st.st_dev), minor(st.st_dev));
  _cleanup_free_ char *text = NULL;
  nook_error ignore;
  if (read_file_at(AT_FDCWD, cache, &text, NULL, &ignore) == 0) {
    if (str_has_prefix(text, "native")) {
      *out = ROOTFS_NATIVE;
      return 0;
    }
    if (str_has_prefix(text, "fuse")) {
      *out = ROOTFS_FUSE;
      return 0;
    }
  }
  _cleanup_free_ char *tmpl = xasprintf("%s/tmp/overlay-probe-XXXXXX", root);
  if (!mkdtemp(tmpl))
    return nook_err(err, errno, "create the overlay probe dir under `%s/tmp`", root);
  struct probe p = {tmpl};
  nook_error perr;
  nook_err_clear(&perr);
  int r = store_run_in_userns(probe_in_ns, &p, CLONE_NEWNS, &perr);
  _cleanup_free_ char *tmpdir = xasprintf("%s/tmp", root);
  store_rm_rf_in_userns(tmpdir, strrchr(tmpl, '/') + 1, &ignore);
  *out = r == 0 ? ROOTFS_NATIVE : ROOTFS_FUSE;
  if (r < 0)
    nook_debug("native overlay is not usable in a user namespace here (%s): using the FUSE "
               "overlay", perr.msg);
  const char *answer = r == 0 ? "native\n" : "fuse\n";
  write_file_atomic_at(AT_FDCWD, cache, answer, strlen(answer), 0644, &ignore);
  return 0;
}

int rootfs_prepare(const char *image_ref, const char *container_id, struct rootfs_info *out,
                   nook_error *err) {
  memset(out, 0, sizeof(*out));
  if (!valid_container_id(container_id))
    return nook_errx(err, EINVAL, "`%s` is not a valid container id for a rootfs",
                     container_id ? container_id : "");
  _cleanup_free_ char *root = store_root(NULL);
  int lockfd = -1;
  int r = store_lock(root, false, &lockfd, err);
  if (r < 0)
    return r;
  _cleanup_close_ int lock = lockfd;
  struct store_image img;
  r = store_find_image(root, image_ref, &img, err);
  if (r < 0)
    return r;
  out->image_id = xstrdup(img.id);
  out->container_dir = xasprintf("%s/containers/%s", root, container_id);
  out->upper = xasprintf("%s/upper", out->container_dir);
  out->work = xasprintf("%s/work", out->container_dir);
  size_t n = strv_len(img.layers);
  out->lowerdirs = xcalloc(n + 2, sizeof(char *));
  for (size_t i = 0; i < n; i++) {
    out->lowerdirs[i] = xasprintf("%s/layers/%s/diff", root, img.layers[n - 1 - i]);
    if (access(out->lowerdirs[i], F_OK) < 0) {
      r = nook_errx(err, ENOENT, "image %.12s: layer %s is missing from the store: pull or "
                                 "import the image again", img.id, img.layers[n - 1 - i]);
      break;
    }
  }
  if (r == 0)
    r = store_image_config(root, &img, &out->config, err);
  store_image_free(&img);
  if (r == 0)
    r = overlay_driver_detect(root, &out->driver, err);
  if (r < 0) {
    rootfs_info_free(out);
    return r;
  }

  _cleanup_free_ char *image_file = xasprintf("%s/image", out->container_dir);
  if (mkdir(out->container_dir, 0700) < 0) {
    int e = errno;
    _cleanup_free_ char *used = NULL;
    nook_error ignore;
    if (e != EEXIST || read_file_at(AT_FDCWD, image_file, &used, NULL, &ignore) < 0 ||
        strcmp(used, out->image_id) != 0) {
      r = e == EEXIST ? nook_errx(err, EEXIST, "container `%s` already has a rootfs from another "
                                               "image (delete the container first)", container_id)
                      : nook_err(err, e, "create `%s`", out->container_dir);
      rootfs_info_free(out);
      return r;
    }
  } else {
    if (mkdir(out->upper, 0755) < 0 || mkdir(out->work, 0700) < 0)
      r = nook_err(err, errno, "create the upper and work dirs in `%s`", out->container_dir);
    if (r == 0)
      r = write_file_at(AT_FDCWD, image_file, out->image_id, strlen(out->image_id), 0600, err);
    if (r == 0 && n == 0) {
      /* overlay wants a lower dir; an image without layers gets an empty one */
      out->lowerdirs[0] = xasprintf("%s/empty", out->container_dir);
      if (mkdir(out->lowerdirs[0], 0755) < 0)
        r = nook_err(err, errno, "create `%s`", out->lowerdirs[0]);
    }
    if (r < 0) {
      rm_rf_at(AT_FDCWD, out->container_dir);
      rootfs_info_free(out);
      return r;
    }
  }
  if (n == 0 && !out->lowerdirs[0])
    out->lowerdirs[0] = xasprintf("%s/empty", out->container_dir);
  return 0;
}

static char *lower_option(char *const *dirs, const char *strip) {
  size_t len = 0;
  for (size_t i = 0; dirs[i]; i++)
    len += strlen(dirs[i]) + 1;
  char *s = xmalloc(len + 1);
  s[0] = '\0';
  size_t skip = strip ? strlen(strip) : 0;
  for (size_t i = 0; dirs[i]; i++) {
    if (i)
      strcat(s, ":");
    strcat(s, strip && str_has_prefix(dirs[i], strip) ? dirs[i] + skip : dirs[i]);
  }
  return s;
}

static int mount_fuse(const struct rootfs_info *info, const char *target, nook_error *err) {
  const char *env = getenv("NOOK_FUSE_OVERLAYFS");
  _cleanup_free_ char *helper =
      env && *env ? xstrdup(env) : nook_helper_path("nook-fuse-overlayfs");
  if (!helper)
    return nook_errx(err, ENOENT, "the FUSE overlay helper nook-fuse-overlayfs is not installed "
                                  "beside nook: the kernel's overlay is not usable here either");
  _cleanup_free_ char *lower = lower_option(info->lowerdirs, NULL);
  _cleanup_free_ char *opts =
      xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, info->upper, info->work);
  nook_debug("rootfs at `%s`: FUSE overlay (%s) of %zu layers", target, helper,
             strv_len(info->lowerdirs));
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    return nook_err(err, errno, "fork");
  if (pid == 0) {
    execl(helper, "nook-fuse-overlayfs", "-o", opts, target, (char *)NULL);
    dprintf(STDERR_FILENO, "nook: run `%s`: %s\n", helper, strerror(errno));
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return nook_err(err, errno, "wait for `%s`", helper);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return nook_errx(err, EIO, "mount the container's rootfs with `%s` at `%s` failed (status "
                               "%d; its message is above)", helper, target, status);
  return 0;
}

int rootfs_mount_in_userns(const struct rootfs_info *info, const char *target, nook_error *err) {
  if (info->driver == ROOTFS_FUSE)
    return mount_fuse(info, target, err);
  _cleanup_free_ char *lower = lower_option(info->lowerdirs, NULL);
  _cleanup_free_ char *opts = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s,userxattr", lower,
                                        info->upper, info->work);
  nook_debug("rootfs at `%s`: native overlay of %zu layers", target, strv_len(info->lowerdirs));
  if (strlen(opts) < 4000) {
    if (mount("overlay", target, "overlay", 0, opts) < 0)
      return nook_err(err, errno, "mount the container's rootfs (overlay) at `%s`", target);
    return 0;
  }
  /* Mount data is one page: many layers fit only as paths relative to the
   * layers dir, entered for the mount. */
  _cleanup_free_ char *root = store_root(NULL);
  _cleanup_free_ char *layers = xasprintf("%s/layers/", root);
  _cleanup_free_ char *short_lower = lower_option(info->lowerdirs, layers);
  free(opts);
  opts = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s,userxattr", short_lower, info->upper,
                   info->work);
  if (strlen(opts) >= 4096)
    return nook_errx(err, E2BIG, "the image has too many layers for one overlay mount (%zu)",
                     strv_len(info->lowerdirs));
  _cleanup_close_ int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (chdir(layers) < 0)
    return nook_err(err, errno, "enter `%s`", layers);
  int r = 0;
  if (mount("overlay", target, "overlay", 0, opts) < 0)
    r = nook_err(err, errno, "mount the container's rootfs (overlay) at `%s`", target);
  if (cwd >= 0 && fchdir(cwd) < 0 && r == 0)
    r = nook_err(err, errno, "return to the working directory");
  return r;
}

int rootfs_remove(const char *container_id, nook_error *err) {
  if (!valid_container_id(container_id))
    return nook_errx(err, EINVAL, "`%s` is not a valid container id", container_id);
  _cleanup_free_ char *root = store_root(NULL);
  _cleanup_free_ char *cdir = xasprintf("%s/containers", root);
  int r = store_rm_rf_in_userns(cdir, container_id, err);
  return r < 0 ? nook_err_prefix(err, r, "remove the rootfs of container `%s`", container_id) : 0;
}
