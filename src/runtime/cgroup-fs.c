/* The cgroupfs driver, and the file-level helpers every driver shares: a
 * container's node is a directory made directly in a subtree delegated to
 * the user (or anywhere, as root). */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "cgroup.h"
#include "log.h"
#include "util.h"

bool cgroup_v2_mounted(void) {
  struct statfs sf;
  return statfs(CGROUP_MOUNT, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

int cgroup_of_pid(pid_t pid, char **path, nook_error *err) {
  _cleanup_free_ char *file = xasprintf("/proc/%d/cgroup", (int)pid);
  _cleanup_free_ char *text = NULL;
  int r = read_file_at(AT_FDCWD, file, &text, NULL, err);
  if (r < 0)
    return r;
  for (char *line = text, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next)
      *next++ = '\0';
    if (str_has_prefix(line, "0::")) {
      *path = xstrdup(line + 3);
      return 0;
    }
  }
  return nook_errx(err, ENOENT, "%s: no cgroup v2 entry (0::)", file);
}

static char *node_dir(const char *path) {
  while (path && *path == '/')
    path++;
  return xasprintf(CGROUP_MOUNT "/%s", path ? path : "");
}

int cgroup_write_file(const char *path, const char *file, const char *value, nook_error *err) {
  _cleanup_free_ char *dir = node_dir(path);
  _cleanup_free_ char *full = xasprintf("%s/%s", dir, file);
  _cleanup_close_ int fd = open(full, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return nook_err(err, errno, "open `%s`", full);
  /* One write(): cgroup files take a value per call. */
  ssize_t w = write(fd, value, strlen(value));
  if (w < 0)
    return nook_err(err, errno, "write `%s` to `%s`", value, full);
  return 0;
}

int cgroup_read_file(const char *path, const char *file, char **out, nook_error *err) {
  _cleanup_free_ char *dir = node_dir(path);
  _cleanup_free_ char *full = xasprintf("%s/%s", dir, file);
  return read_file_at(AT_FDCWD, full, out, NULL, err);
}

static bool word_in(const char *list, const char *word) {
  size_t n = strlen(word);
  for (const char *p = list; p && *p;) {
    p += strspn(p, " \n");
    size_t len = strcspn(p, " \n");
    if (len == n && strncmp(p, word, n) == 0)
      return true;
    p += len;
  }
  return false;
}

bool cgroup_has_controller(const char *path, const char *controller) {
  if (!controller || !*controller)
    return true;
  nook_error e;
  _cleanup_free_ char *list = NULL;
  if (cgroup_read_file(path, "cgroup.controllers", &list, &e) < 0)
    return false;
  return word_in(list, controller);
}

int cgroup_apply_writes(const char *path, const struct cgroup_write *w, size_t n,
                        char ***not_applied, nook_error *err) {
  for (size_t i = 0; i < n; i++) {
    if (!cgroup_has_controller(path, w[i].controller)) {
      const char *name = strcmp(w[i].what, "unified") == 0 ? w[i].file : w[i].what;
      if (!strv_contains(*not_applied, name))
        strv_push(not_applied, name);
      continue;
    }
    nook_error e;
    int r = cgroup_write_file(path, w[i].file, w[i].value, &e);
    if (r == -ENOENT && w[i].optional)
      continue;
    if (r < 0) {
      *err = e;
      return nook_err_prefix(err, r, "linux.resources (%s)", w[i].what);
    }
  }
  return 0;
}

/* Makes the controllers the node may need available to it, top-down from
 * base (the deepest existing, delegated cgroup) to the node's parent. A controller that cannot
 * be enabled is only an error when a requested limit needs it, and that is
 * found out later from the node's cgroup.controllers. */
static void enable_controllers(const char *base, const char *node) {
  static const char *const wanted[] = {"cpuset", "cpu", "io", "memory", "pids", "hugetlb"};
  _cleanup_free_ char *level = xstrdup(base);
  const char *rest = node + strlen(base);
  for (;;) {
    rest += strspn(rest, "/");
    if (!*rest)
      break;
    _cleanup_free_ char *have = NULL, *on = NULL;
    nook_error e;
    if (cgroup_read_file(level, "cgroup.controllers", &have, &e) == 0 &&
        cgroup_read_file(level, "cgroup.subtree_control", &on, &e) == 0) {
      for (size_t i = 0; i < ARRAY_SIZE(wanted); i++) {
        if (!word_in(have, wanted[i]) || word_in(on, wanted[i]))
          continue;
        _cleanup_free_ char *plus = xasprintf("+%s", wanted[i]);
        if (cgroup_write_file(level, "cgroup.subtree_control", plus, &e) < 0)
          nook_debug("cgroup: %s", e.msg);
      }
    }
    size_t len = strcspn(rest, "/");
    char *next = xasprintf("%s/%.*s", strcmp(level, "/") == 0 ? "" : level, (int)len, rest);
    free(level);
    level = next;
    rest += len;
  }
}

static char *parent_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash || slash == path)
    return xstrdup("/");
  return xstrndup(path, (size_t)(slash - path));
}

static bool writable_dir(const char *path) {
  _cleanup_free_ char *dir = node_dir(path);
  _cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", dir);
  return access(dir, W_OK) == 0 && access(procs, W_OK) == 0;
}

/* An empty leftover of a container that died with its cgroup is reused; one
 * with processes is someone else's. */
static int make_node(const char *node, nook_error *err) {
  _cleanup_free_ char *dir = node_dir(node);
  if (mkdir(dir, 0755) == 0)
    return 0;
  if (errno != EEXIST)
    return nook_err(err, errno, "mkdir `%s`", dir);
  _cleanup_free_ char *procs = NULL;
  int r = cgroup_read_file(node, "cgroup.procs", &procs, err);
  if (r < 0)
    return r;
  if (*procs)
    return nook_errx(err, EEXIST, "cgroup `%s` already exists and has processes", dir);
  return 0;
}

int cgroup_fs_enter(const struct cgroup_request *req, const struct cgroup_limits *l, pid_t pid,
                    struct cgroup_handle *out, char ***not_applied, nook_error *err) {
  if (!cgroup_v2_mounted())
    return nook_errx(err, ENOTSUP, CGROUP_MOUNT " is not cgroup v2 (a hybrid or v1 hierarchy)");
  _cleanup_free_ char *own = NULL;
  int r = cgroup_of_pid(getpid(), &own, err);
  if (r < 0)
    return r;
  /* Our own cgroup holds processes (us), and the kernel lets no cgroup with
   * processes hand controllers down; so containers go beside it, in the
   * parent that a delegation makes ours too. */
  _cleanup_free_ char *base = parent_of(own);
  _cleanup_free_ char *node = NULL;
  const char *cp = req->cgroups_path;
  if (cp && *cp && !strchr(cp, ':')) {
    if (cp[0] == '/') {
      node = xstrdup(cp);
    } else {
      node = xasprintf("%s/%s", strcmp(base, "/") == 0 ? "" : base, cp);
    }
  } else {
    node = xasprintf("%s/nook-%s", strcmp(base, "/") == 0 ? "" : base, req->container_id);
  }
  if (strstr(node, "/../") || strstr(node, "/./") || str_has_prefix(node + strlen(node) - 3, "/.."))
    return nook_errx(err, EINVAL, "linux.cgroupsPath `%s` must not contain . or .. components", cp);

  /* The deepest existing ancestor of the node decides whether we may build it. */
  _cleanup_free_ char *existing = parent_of(node);
  for (;;) {
    _cleanup_free_ char *dir = node_dir(existing);
    struct stat st;
    if (stat(dir, &st) == 0 || strcmp(existing, "/") == 0)
      break;
    char *up = parent_of(existing);
    free(existing);
    existing = up;
  }
  if (!writable_dir(existing))
    return nook_errx(err, EACCES, "cgroup " CGROUP_MOUNT "%s is not delegated to uid %d (not writable)",
                     existing, (int)geteuid());
  _cleanup_free_ char *parent = parent_of(node);
  if (strcmp(parent, existing) != 0) {
    _cleanup_free_ char *pdir = node_dir(parent);
    if ((r = mkdir_p(pdir, 0755, err)) < 0)
      return r;
  }
  enable_controllers(existing, node);
  if ((r = make_node(node, err)) < 0)
    return r;

  _cleanup_free_ char *pidstr = xasprintf("%d", (int)pid);
  nook_stage("cgroupfs: move");
  r = cgroup_write_file(node, "cgroup.procs", pidstr, err);
  nook_stage("cgroupfs: moved");
  if (r < 0) {
    cgroup_fs_destroy(node, &(nook_error){0});
    return nook_err_prefix(err, r, "move the container into its cgroup");
  }

  struct cgroup_write *w = NULL;
  size_t n = 0;
  cgroup_limits_writes(l, false, &w, &n);
  r = cgroup_apply_writes(node, w, n, not_applied, err);
  cgroup_writes_free(w, n);
  if (r < 0) {
    /* The pid goes back where it came from so the node can go. */
    nook_error ignored;
    if (cgroup_write_file(own, "cgroup.procs", pidstr, &ignored) == 0)
      cgroup_fs_destroy(node, &ignored);
    return r;
  }
  out->path = steal_pointer(&node);
  out->manager = xstrdup("cgroupfs");
  out->unit = NULL;
  return 0;
}

/* Children first; a cgroup whose last process is still exiting is EBUSY for
 * a moment. */
static int remove_tree(const char *dir) {
  _cleanup_closedir_ DIR *d = opendir(dir);
  if (!d)
    return errno == ENOENT ? 0 : -errno;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    _cleanup_free_ char *child = xasprintf("%s/%s", dir, de->d_name);
    int r = remove_tree(child);
    if (r < 0)
      return r;
  }
  for (int tries = 0;; tries++) {
    if (rmdir(dir) == 0 || errno == ENOENT)
      return 0;
    if (errno != EBUSY || tries >= 200)
      return -errno;
    usleep(10000);
  }
}

int cgroup_fs_destroy(const char *path, nook_error *err) {
  if (!path || !*path || strcmp(path, "/") == 0)
    return 0;
  _cleanup_free_ char *dir = node_dir(path);
  int r = remove_tree(dir);
  if (r < 0)
    return nook_err(err, -r, "remove cgroup `%s`", dir);
  return 0;
}
