/* Choosing a cgroup driver, falling back with one line of explanation, and
 * the operations on a container's cgroup that do not depend on the driver:
 * freeze, kill, list, update, destroy. */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "cgroup.h"
#include "log.h"
#include "state.h"
#include "util.h"

#define SETTLE_TIMEOUT_NS (10ULL * 1000000000ULL)

bool cgroup_handle_active(const struct cgroup_handle *h) {
  return h && h->path && *h->path && !(h->manager && strcmp(h->manager, "disabled") == 0);
}

void cgroup_handle_clear(struct cgroup_handle *h) {
  free(h->path);
  free(h->manager);
  free(h->unit);
  h->path = h->manager = h->unit = NULL;
}

/* Requested limits whose controller the cgroup at path does not offer,
 * with the controllers missing. */
static void missing_limits(const char *path, const struct cgroup_limits *l, char ***names,
                           char ***ctrls) {
  _cleanup_strv_ char **want = NULL, **want_ctrl = NULL;
  cgroup_limits_requested(l, &want, &want_ctrl);
  for (size_t i = 0; want[i]; i++) {
    if (path && cgroup_has_controller(path, want_ctrl[i]))
      continue;
    if (!strv_contains(*names, want[i]))
      strv_push(names, want[i]);
    if (*want_ctrl[i] && !strv_contains(*ctrls, want_ctrl[i]))
      strv_push(ctrls, want_ctrl[i]);
  }
}

/* The one line on limits that do not take effect: which, and why. */
static char *not_applied_line(const char *path, char **missing, char **missing_ctrls,
                              char **inexpressible) {
  char *line = xstrdup("");
  if (missing && missing[0]) {
    _cleanup_free_ char *names = strv_join(missing, ", ");
    _cleanup_free_ char *ctrls = strv_join(missing_ctrls, ", ");
    char *n = path ? xasprintf("%s (controllers not available in " CGROUP_MOUNT "%s: %s)", names,
                               path, ctrls)
                   : xasprintf("%s", names);
    free(line);
    line = n;
  }
  if (inexpressible && inexpressible[0]) {
    _cleanup_free_ char *names = strv_join(inexpressible, ", ");
    char *n = xasprintf("%s%s%s (no cgroup v2 equivalent)", line, *line ? "; " : "", names);
    free(line);
    line = n;
  }
  return line;
}

static void handle_disabled(struct cgroup_handle *out) {
  out->path = xstrdup("");
  out->manager = xstrdup("disabled");
  out->unit = NULL;
}

/* The kernel makes a move into a cgroup (a pid written to cgroup.procs)
 * wait for an RCU grace period, some 8 ms on a small VM, unless another
 * move ended less than about a grace period before; it holds cgroup_mutex
 * meanwhile, so moves queued behind it do not wait again. The container's
 * own move (systemd's scope job, or ours) comes late, after clone3 and a
 * round trip to the manager: a child re-joining its own cgroup now starts
 * that wait beside nook's set-up instead. Where nook's cgroup is not the
 * user's to write (a login session's scope) there is nothing to start. */
static pid_t migration_warmer = -1;

static void start_migration_wait(void) {
  if (migration_warmer > 0)
    return;
  _cleanup_free_ char *own = NULL;
  nook_error ignored;
  if (cgroup_of_pid(getpid(), &own, &ignored) < 0)
    return;
  _cleanup_free_ char *procs = xasprintf(CGROUP_MOUNT "%s/cgroup.procs", own);
  _cleanup_close_ int fd = open(procs, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  pid_t pid = fork();
  if (pid == 0) {
    (void)!write(fd, "0", 1);
    _exit(0);
  }
  if (pid > 0)
    migration_warmer = pid;
}

/* Its write is done by the time the container's move is: that one waited
 * for cgroup_mutex behind it. */
static void reap_migration_warmer(void) {
  if (migration_warmer <= 0)
    return;
  while (waitpid(migration_warmer, NULL, 0) < 0 && errno == EINTR)
    ;
  migration_warmer = -1;
}

void cgroup_connect_early(const char *manager, bool rootless) {
  bool systemd = !manager || strcmp(manager, "systemd") == 0;
  if ((systemd || strcmp(manager, "cgroupfs") == 0) && cgroup_v2_mounted())
    start_migration_wait();
  if (systemd && cgroup_v2_mounted())
    cgroup_systemd_connect_early(rootless);
}

static bool user_manager_unit(const struct cgroup_handle *h) {
  return strstr(h->path, "/user@") && strstr(h->path, ".service/");
}

/* What a cgroup_enter_begin has found out, for its cgroup_enter_finish. */
struct cgroup_pending {
  struct cgroup_request req;
  struct cgroup_limits l;
  pid_t pid;
  bool explicit_;
  bool want_limits;
  bool try_fs;
  char *why; /* why the drivers tried so far cannot be used */
  struct cgroup_systemd_start *systemd;
};

void cgroup_pending_free(struct cgroup_pending *p) {
  if (!p)
    return;
  cgroup_systemd_abandon(p->systemd);
  reap_migration_warmer();
  cgroup_limits_clear(&p->l);
  free(p->why);
  free(p);
}

/* A bad cgroupsPath, or a scope of that name already there, is the user's
 * to fix whichever driver is tried next: those end the attempt; anything
 * else is a reason to fall back. */
static int systemd_failed(struct cgroup_pending *p, int r, nook_error *e, nook_error *err) {
  if (r == -EINVAL || r == -EEXIST || (p->explicit_ && p->want_limits)) {
    *err = *e;
    return nook_err_prefix(err, r, "systemd cgroup");
  }
  p->why = xasprintf("systemd: %s", e->msg);
  if (r == -EIO && p->try_fs)
    nook_warn("container `%s`: systemd refused its scope (%s); trying cgroupfs",
              p->req.container_id, e->msg);
  return 0;
}

int cgroup_enter_begin(const struct cgroup_request *req, pid_t pid, struct cgroup_pending **out,
                       nook_error *err) {
  const char *manager = req->manager;
  if (manager && strcmp(manager, "systemd") != 0 && strcmp(manager, "cgroupfs") != 0 &&
      strcmp(manager, "disabled") != 0)
    return nook_errx(err, EINVAL, "unknown cgroup manager `%s` (use systemd, cgroupfs or disabled)",
                     manager);
  struct cgroup_pending *p = xcalloc(1, sizeof(*p));
  int r = cgroup_limits_parse(req->resources, &p->l, err);
  if (r < 0) {
    free(p);
    return r;
  }
  p->req = *req;
  p->pid = pid;
  p->explicit_ = req->manager_explicit && manager;
  p->want_limits = !cgroup_limits_empty(&p->l);
  bool try_systemd = !manager || strcmp(manager, "systemd") == 0;
  p->try_fs = !manager || strcmp(manager, "cgroupfs") == 0;
  if ((try_systemd || p->try_fs) && !cgroup_v2_mounted()) {
    if (p->explicit_ && p->want_limits) {
      cgroup_pending_free(p);
      return nook_errx(err, ENOTSUP, "--cgroup-manager %s: " CGROUP_MOUNT " is not cgroup v2 (a "
                                     "hybrid or v1 hierarchy), so the limits cannot be applied",
                       manager);
    }
    p->why = xstrdup(CGROUP_MOUNT " is not cgroup v2 (a hybrid or v1 hierarchy)");
    try_systemd = p->try_fs = false;
  }
  if (try_systemd) {
    nook_error e = {0};
    r = cgroup_systemd_begin(&p->req, &p->l, pid, &p->systemd, &e);
    if (r < 0 && (r = systemd_failed(p, r, &e, err)) < 0) {
      cgroup_pending_free(p);
      return r;
    }
  }
  *out = p;
  return 0;
}

/* The init goes on with its set-up while its cgroup is made, and may fail
 * meanwhile: then no driver could have placed it, and none is to blame. */
static int init_gone(nook_error *err) {
  return nook_errx(err, ESRCH, "the container's init exited during set-up");
}

static int enter_finish(struct cgroup_pending *p, struct cgroup_handle *out, nook_error *err) {
  const struct cgroup_request *req = &p->req;
  const struct cgroup_limits *l = &p->l;
  const char *manager = req->manager;
  _cleanup_strv_ char **not_applied = NULL;
  int r;
  if (p->systemd) {
    nook_error e = {0};
    r = cgroup_systemd_finish(p->systemd, out, &not_applied, &e);
    p->systemd = NULL;
    if (r < 0 && pid_is_exiting_or_gone(p->pid))
      return init_gone(err);
    if (r < 0 && (r = systemd_failed(p, r, &e, err)) < 0)
      return r;
  }
  if (!out->manager && p->try_fs) {
    nook_error e = {0};
    r = cgroup_fs_enter(req, l, p->pid, out, &not_applied, &e);
    if (r < 0 && pid_is_exiting_or_gone(p->pid))
      return init_gone(err);
    if (r < 0 && (r == -EINVAL || (p->explicit_ && p->want_limits))) {
      *err = e;
      return nook_err_prefix(err, r, "cgroupfs");
    }
    if (r < 0) {
      char *n = xasprintf("%s%scgroupfs: %s", p->why ? p->why : "", p->why ? "; " : "", e.msg);
      free(p->why);
      p->why = n;
    }
  }

  _cleanup_strv_ char **missing = NULL, **missing_ctrls = NULL;
  if (out->manager) {
    missing_limits(out->path, l, &missing, &missing_ctrls);
    for (size_t i = 0; not_applied && not_applied[i]; i++)
      if (!strv_contains(missing, not_applied[i]))
        strv_push(&missing, not_applied[i]);
    if ((missing && missing[0]) || l->inexpressible) {
      _cleanup_free_ char *line =
          not_applied_line(out->path, missing, missing_ctrls, l->inexpressible);
      if (p->explicit_) {
        nook_error ignored;
        cgroup_destroy(out, &ignored);
        cgroup_handle_clear(out);
        return nook_errx(err, ENOTSUP,
                         "container `%s`: limits that cannot be applied with --cgroup-manager %s: "
                         "%s",
                         req->container_id, manager, line);
      }
      nook_warn("container `%s`: limits not applied: %s", req->container_id, line);
    }
  } else {
    handle_disabled(out);
    if (p->want_limits || l->inexpressible) {
      missing_limits(NULL, l, &missing, &missing_ctrls);
      _cleanup_free_ char *line = not_applied_line(NULL, missing, NULL, l->inexpressible);
      nook_warn("running container `%s` without a cgroup (%s); limits not applied: %s",
                req->container_id, p->why ? p->why : "the cgroup manager is disabled", line);
    } else if (p->why) {
      nook_warn("running container `%s` without a cgroup (%s)", req->container_id, p->why);
    }
  }
  return 0;
}

int cgroup_enter_finish(struct cgroup_pending *p, struct cgroup_handle *out, nook_error *err) {
  memset(out, 0, sizeof(*out));
  int r = enter_finish(p, out, err);
  cgroup_pending_free(p);
  return r;
}

void cgroup_connect_early_to_destroy(const struct cgroup_handle *h) {
  if (cgroup_handle_active(h) && h->unit)
    cgroup_systemd_connect_early(user_manager_unit(h));
}

int cgroup_enter(const struct cgroup_request *req, pid_t pid, struct cgroup_handle *out,
                 nook_error *err) {
  struct cgroup_pending *p;
  int r = cgroup_enter_begin(req, pid, &p, err);
  return r < 0 ? r : cgroup_enter_finish(p, out, err);
}

/* ---- operations on a live cgroup ---- */

static char *node_path(const struct cgroup_handle *h, const char *file) {
  const char *p = h->path;
  while (*p == '/')
    p++;
  return xasprintf(CGROUP_MOUNT "/%s%s%s", p, *p ? "/" : "", file);
}

/* The value of key in a "key value" file such as cgroup.events, or -1. */
static long long keyed_value(const char *text, const char *key) {
  size_t n = strlen(key);
  for (const char *line = text; line && *line;) {
    if (strncmp(line, key, n) == 0 && line[n] == ' ')
      return strtoll(line + n + 1, NULL, 10);
    line = strchr(line, '\n');
    if (line)
      line++;
  }
  return -1;
}

/* Waits until cgroup.events has key == want; the kernel signals changes of
 * the file as POLLPRI. */
static int wait_events(const struct cgroup_handle *h, const char *key, long long want,
                       nook_error *err) {
  _cleanup_free_ char *file = node_path(h, "cgroup.events");
  _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return nook_err(err, errno, "open `%s`", file);
  unsigned long long deadline = now_ns() + SETTLE_TIMEOUT_NS;
  for (;;) {
    char buf[512];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n < 0)
      return nook_err(err, errno, "read `%s`", file);
    buf[n] = '\0';
    if (keyed_value(buf, key) == want)
      return 0;
    unsigned long long now = now_ns();
    if (now >= deadline)
      return nook_errx(err, ETIMEDOUT, "%s: `%s` did not become %lld in %llu s", file, key, want,
                       SETTLE_TIMEOUT_NS / 1000000000ULL);
    struct pollfd p = {.fd = fd, .events = POLLPRI};
    long long ms = (long long)((deadline - now) / 1000000ULL);
    if (poll(&p, 1, ms > 100 ? 100 : (int)ms + 1) < 0 && errno != EINTR)
      return nook_err(err, errno, "poll `%s`", file);
  }
}

int cgroup_freeze(const struct cgroup_handle *h, bool frozen, nook_error *err) {
  if (!cgroup_handle_active(h))
    return nook_errx(err, ENOTSUP, "the container has no cgroup (cgroup manager disabled), so it "
                                   "cannot be paused or resumed");
  _cleanup_free_ char *file = node_path(h, "cgroup.freeze");
  if (access(file, F_OK) < 0)
    return nook_err(err, errno, "%s: the kernel cannot freeze this cgroup", file);
  int r = cgroup_write_file(h->path, "cgroup.freeze", frozen ? "1" : "0", err);
  if (r < 0)
    return r;
  return wait_events(h, "frozen", frozen ? 1 : 0, err);
}

bool cgroup_is_frozen(const struct cgroup_handle *h) {
  if (!cgroup_handle_active(h))
    return false;
  _cleanup_free_ char *text = NULL;
  nook_error e;
  if (cgroup_read_file(h->path, "cgroup.events", &text, &e) < 0)
    return false;
  return keyed_value(text, "frozen") == 1;
}

static void collect_pids(const char *dir, pid_t **pids, size_t *n) {
  _cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", dir);
  _cleanup_free_ char *text = NULL;
  nook_error e;
  if (read_file_at(AT_FDCWD, procs, &text, NULL, &e) == 0) {
    for (char *p = text, *end; *p; p = end) {
      long v = strtol(p, &end, 10);
      if (end == p)
        break;
      *pids = xrealloc(*pids, (*n + 1) * sizeof(**pids));
      (*pids)[(*n)++] = (pid_t)v;
    }
  }
  _cleanup_closedir_ DIR *d = opendir(dir);
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    _cleanup_free_ char *child = xasprintf("%s/%s", dir, de->d_name);
    collect_pids(child, pids, n);
  }
}

int cgroup_pids(const struct cgroup_handle *h, pid_t **pids, size_t *n, nook_error *err) {
  *pids = NULL;
  *n = 0;
  if (!cgroup_handle_active(h))
    return nook_errx(err, ENOTSUP, "the container has no cgroup (cgroup manager disabled)");
  _cleanup_free_ char *dir = node_path(h, "");
  if (access(dir, F_OK) < 0)
    return nook_err(err, errno, "cgroup `%s`", dir);
  collect_pids(dir, pids, n);
  return 0;
}

int cgroup_kill_all(const struct cgroup_handle *h, int signal, nook_error *err) {
  if (!cgroup_handle_active(h))
    return nook_errx(err, ENOTSUP, "the container has no cgroup (cgroup manager disabled)");
  if (signal == SIGKILL) {
    nook_error e;
    int r = cgroup_write_file(h->path, "cgroup.kill", "1", &e);
    if (r == 0)
      return 0;
    if (r != -ENOENT) {
      *err = e;
      return r;
    }
  }
  /* No cgroup.kill (before Linux 5.14), or another signal: each process.
   * For SIGKILL repeat, since a process may fork while we walk. */
  for (int round = 0; round < 100; round++) {
    _cleanup_free_ pid_t *pids = NULL;
    size_t n;
    int r = cgroup_pids(h, &pids, &n, err);
    if (r < 0)
      return r;
    if (n == 0)
      return 0;
    for (size_t i = 0; i < n; i++)
      if (kill(pids[i], signal) < 0 && errno != ESRCH)
        return nook_err(err, errno, "kill %d", (int)pids[i]);
    if (signal != SIGKILL)
      return 0;
    usleep(10000);
  }
  return nook_errx(err, EBUSY, "processes of cgroup %s keep appearing after SIGKILL", h->path);
}

int cgroup_update(const struct cgroup_handle *h, yajl_val resources, nook_error *err) {
  if (!cgroup_handle_active(h))
    return nook_errx(err, ENOTSUP, "the container has no cgroup (cgroup manager disabled), so "
                                   "its limits cannot be updated");
  struct cgroup_limits l;
  int r = cgroup_limits_parse(resources, &l, err);
  if (r < 0)
    return r;
  _cleanup_strv_ char **missing = NULL, **ctrls = NULL;
  missing_limits(h->path, &l, &missing, &ctrls);
  if ((missing && missing[0]) || l.inexpressible) {
    _cleanup_free_ char *line = not_applied_line(h->path, missing, ctrls, l.inexpressible);
    cgroup_limits_clear(&l);
    return nook_errx(err, ENOTSUP, "cannot apply %s", line);
  }
  bool via_systemd = false;
  if (h->unit && h->manager && strcmp(h->manager, "systemd") == 0) {
    nook_error e;
    r = cgroup_systemd_update(h->unit, user_manager_unit(h), &l, &e);
    if (r == 0)
      via_systemd = true;
    else
      nook_debug("cgroup: %s; writing the cgroup files instead", e.msg);
  }
  struct cgroup_write *w = NULL;
  size_t n = 0;
  _cleanup_strv_ char **not_applied = NULL;
  cgroup_limits_writes(&l, via_systemd, &w, &n);
  r = cgroup_apply_writes(h->path, w, n, &not_applied, err);
  cgroup_writes_free(w, n);
  cgroup_limits_clear(&l);
  return r;
}

int cgroup_destroy(const struct cgroup_handle *h, nook_error *err) {
  if (!cgroup_handle_active(h))
    return 0;
  _cleanup_free_ char *dir = node_path(h, "");
  if (access(dir, F_OK) == 0) {
    nook_error e;
    int r = cgroup_kill_all(h, SIGKILL, &e);
    if (r < 0 && r != -ENOENT) {
      *err = e;
      return nook_err_prefix(err, r, "kill the container's processes");
    }
    /* populated 0 once the last process is gone; only then can it go. */
    if (wait_events(h, "populated", 0, &e) < 0 && access(dir, F_OK) == 0) {
      *err = e;
      return nook_err_prefix(err, -EBUSY, "container cgroup");
    }
  }
  /* systemd stops a scope by itself once it is empty and removes its
   * cgroup: with the directory gone there is nothing to stop. Removing the
   * directory ourselves instead would leave the unit behind. */
  if (h->unit && access(dir, F_OK) == 0) {
    nook_error e;
    if (cgroup_systemd_stop(h->unit, user_manager_unit(h), &e) < 0)
      nook_debug("cgroup: stop %s: %s", h->unit, e.msg);
  }
  return cgroup_fs_destroy(h->path, err);
}
