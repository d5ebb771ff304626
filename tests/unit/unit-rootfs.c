/* storage/rootfs: a container rootfs from a store image, mounted with the
 * kernel's overlay and with the FUSE overlay inside a real user and mount
 * namespace. The store is written by hand: two layers, the upper one with a
 * whiteout and an opaque dir, as nook-image leaves them. */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "storage/rootfs.h"
#include "unit.h"
#include "util.h"


static const char *L1 = "1111111111111111111111111111111111111111111111111111111111111111";
static const char *L2 = "2222222222222222222222222222222222222222222222222222222222222222";
static const char *ID = "abababababababababababababababababababababababababababababababab";

static void put(const char *root, const char *rel, const char *text) {
  _cleanup_free_ char *p = xasprintf("%s/%s", root, rel);
  nook_error err;
  _cleanup_free_ char *dir = xstrdup(p);
  *strrchr(dir, '/') = '\0';
  if (mkdir_p(dir, 0755, &err) < 0 || write_file_at(AT_FDCWD, p, text, strlen(text), 0644, &err))
    fprintf(stderr, "setup: %s\n", err.msg), exit(2);
}

/* Whiteouts are made the way nook-image makes them: inside a user namespace. */
static void make_whiteout_in_userns(const char *path) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    int step = unit_enter_single_id_userns(0);
    if (step)
      _exit(1 + step);
    _exit(mknod(path, S_IFCHR, makedev(0, 0)) < 0 ? 4 : 0);
  }
  int status;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fprintf(stderr, "setup: whiteout `%s` failed (%d)\n", path, status), exit(2);
}

static char *make_store(void) {
  char tmpl[] = "/tmp/unit-rootfs-XXXXXX";
  char *root = xstrdup(mkdtemp(tmpl));
  _cleanup_free_ char *l1 = xasprintf("layers/%s/diff", L1);
  _cleanup_free_ char *l2 = xasprintf("layers/%s/diff", L2);
  _cleanup_free_ char *p = NULL;
#define PUT(layer, rel, text)                                                                      \
  do {                                                                                             \
    free(p);                                                                                       \
    p = xasprintf("%s/%s", layer, rel);                                                            \
    put(root, p, text);                                                                            \
  } while (0)
  PUT(l1, "etc/keep", "keep\n");
  PUT(l1, "etc/gone", "gone\n");
  PUT(l1, "opt/old", "old\n");
  PUT(l2, "opt/new", "new\n");
  PUT(l2, "etc/added", "added\n");
  _cleanup_free_ char *wh = xasprintf("%s/%s/etc/gone", root, l2);
  make_whiteout_in_userns(wh);
  _cleanup_free_ char *opq = xasprintf("%s/%s/opt", root, l2);
  if (setxattr(opq, "user.overlay.opaque", "y", 1, 0) < 0)
    perror("setup: setxattr"), exit(2);
  free(p);
  p = xasprintf("blobs/sha256/%s", ID);
  put(root, p, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"FOO=bar\"],"
               "\"Cmd\":[\"/bin/sh\"],\"Entrypoint\":[\"/init\"],\"WorkingDir\":\"/data\","
               "\"User\":\"1000:1000\",\"ExposedPorts\":{\"80/tcp\":{}},\"Volumes\":{\"/v\":{}}},"
               "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}");
  free(p);
  p = xasprintf("images/%s.json", ID);
  _cleanup_free_ char *rec = xasprintf(
      "{\"id\":\"%s\",\"names\":[\"localhost/unit:1\"],\"manifest\":\"sha256:%s\","
      "\"config\":\"sha256:%s\",\"layers\":[\"%s\",\"%s\"],\"size\":1}",
      ID, ID, ID, L1, L2);
  put(root, p, rec);
  return root;
}

static bool file_is(const char *path, const char *want) {
  _cleanup_free_ char *text = NULL;
  nook_error err;
  return read_file_at(AT_FDCWD, path, &text, NULL, &err) == 0 && strcmp(text, want) == 0;
}

/* In a child with its own user and mount namespaces: mount, look, write. */
static int mount_and_check(const struct rootfs_info *info, const char *target) {
  int step = unit_enter_single_id_userns(CLONE_NEWNS);
  if (step)
    return 9 + step;
  nook_error err;
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return 12;
  if (rootfs_mount_in_userns(info, target, &err) < 0) {
    fprintf(stderr, "%s\n", err.msg);
    return 13;
  }
  _cleanup_free_ char *keep = xasprintf("%s/etc/keep", target);
  _cleanup_free_ char *added = xasprintf("%s/etc/added", target);
  _cleanup_free_ char *gone = xasprintf("%s/etc/gone", target);
  _cleanup_free_ char *old = xasprintf("%s/opt/old", target);
  _cleanup_free_ char *newf = xasprintf("%s/opt/new", target);
  _cleanup_free_ char *written = xasprintf("%s/written", target);
  int ret = 0;
  struct stat st;
  if (!file_is(keep, "keep\n") || !file_is(added, "added\n") || !file_is(newf, "new\n"))
    ret = 14;
  else if (lstat(gone, &st) == 0 || lstat(old, &st) == 0)
    ret = 15; /* the whiteout or the opaque dir did not hide the lower file */
  else if (write_file_at(AT_FDCWD, written, "w", 1, 0644, &err) < 0)
    ret = 16;
  umount2(target, MNT_DETACH);
  return ret;
}

static void run_driver(const char *driver, const char *root) {
  setenv("NOOK_OVERLAY_DRIVER", driver, 1);
  _cleanup_free_ char *cid = xasprintf("unit-%s", driver);
  struct rootfs_info info;
  nook_error err;
  int r = rootfs_prepare("unit:1", cid, &info, &err);
  _cleanup_free_ char *name = xasprintf("prepare-%s", driver);
  UNIT_REPORT(name, r == 0, "%s", err.msg);
  if (r < 0)
    return;
  free(name);
  name = xasprintf("lowerdirs-%s", driver);
  UNIT_REPORT(name, strv_len(info.lowerdirs) == 2 && strstr(info.lowerdirs[0], L2) &&
                  strstr(info.lowerdirs[1], L1),
        "lowerdirs not topmost first");
  free(name);
  name = xasprintf("config-%s", driver);
  UNIT_REPORT(name, info.config.env && !strcmp(info.config.env[0], "FOO=bar") && info.config.cmd &&
                  !strcmp(info.config.cmd[0], "/bin/sh") && info.config.entrypoint &&
                  !strcmp(info.config.working_dir, "/data") &&
                  !strcmp(info.config.user, "1000:1000") && info.config.exposed_ports &&
                  !strcmp(info.config.exposed_ports[0], "80/tcp") && info.config.volumes &&
                  !strcmp(info.config.volumes[0], "/v"),
        "image config not parsed");
  _cleanup_free_ char *target = xasprintf("%s/mnt-%s", root, driver);
  mkdir(target, 0755);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0)
    _exit(mount_and_check(&info, target));
  int status;
  waitpid(pid, &status, 0);
  free(name);
  name = xasprintf("mount-%s", driver);
  UNIT_REPORT(name, WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d",
        WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  _cleanup_free_ char *written = xasprintf("%s/written", info.upper);
  free(name);
  name = xasprintf("upper-%s", driver);
  UNIT_REPORT(name, file_is(written, "w"), "the write did not land in the upper dir");
  _cleanup_free_ char *cdir = xstrdup(info.container_dir);
  rootfs_info_free(&info);
  r = rootfs_remove(cid, &err);
  free(name);
  name = xasprintf("remove-%s", driver);
  UNIT_REPORT(name, r == 0 && access(cdir, F_OK) < 0, "%s", r ? err.msg : "dir still there");
}

int main(void) {
  _cleanup_free_ char *root = make_store();
  setenv("NOOK_STORAGE", root, 1);

  struct rootfs_info info;
  nook_error err;
  int r = rootfs_prepare("nosuch:1", "c", &info, &err);
  UNIT_REPORT("unknown-image", r == -ENOENT && strstr(err.msg, "nosuch:1") && !strchr(err.msg, '\n'),
        "ret %d msg %s", r, err.msg);
  r = rootfs_prepare("unit:1", "../x", &info, &err);
  UNIT_REPORT("bad-container-id", r == -EINVAL, "ret %d", r);

  unsetenv("NOOK_OVERLAY_DRIVER");
  enum rootfs_driver d;
  r = overlay_driver_detect(root, &d, &err);
  UNIT_REPORT("detect", r == 0, "%s", err.msg);
  printf("# overlay driver detected here: %s\n", rootfs_driver_name(d));

  run_driver("native", root);
  /* The FUSE overlay: nook's own when built beside the test, else the
   * fuse-overlayfs it mimics (same command line). */
  _cleanup_free_ char *own = nook_helper_path("nook-fuse-overlayfs");
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (!own && n > 0) {
    self[n] = '\0';
    *strrchr(self, '/') = '\0';
    /* the unit tests live in build/tests, the helpers in build */
    _cleanup_free_ char *up = xasprintf("%s/../nook-fuse-overlayfs", self);
    if (access(up, X_OK) == 0)
      own = realpath(up, NULL);
  }
  printf("# FUSE overlay: %s\n", own ? own : "fuse-overlayfs");
  if (own)
    setenv("NOOK_FUSE_OVERLAYFS", own, 1);
  else if (access("/usr/bin/fuse-overlayfs", X_OK) == 0)
    setenv("NOOK_FUSE_OVERLAYFS", "/usr/bin/fuse-overlayfs", 1);
  if (getenv("NOOK_FUSE_OVERLAYFS") && access("/dev/fuse", R_OK | W_OK) == 0)
    run_driver("fuse", root);
  else
    printf("ok fuse # SKIP no FUSE overlay executable or /dev/fuse\n");

  rm_rf_at(AT_FDCWD, root);
  return unit_failures ? 1 : 0;
}
