#include "linux.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <linux/sched.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hooks.h"
#include "log.h"
#include "mounts.h"
#include "rootless/idmap.h"
#include "process-security.h"
#include "terminal.h"
#include "util.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#define KEYCTL_JOIN_SESSION_KEYRING 1

static const int ns_clone_flags[SPEC_NS_COUNT] = {
    [SPEC_NS_USER] = CLONE_NEWUSER,  [SPEC_NS_MOUNT] = CLONE_NEWNS,
    [SPEC_NS_PID] = CLONE_NEWPID,    [SPEC_NS_NET] = CLONE_NEWNET,
    [SPEC_NS_UTS] = CLONE_NEWUTS,    [SPEC_NS_IPC] = CLONE_NEWIPC,
    [SPEC_NS_CGROUP] = CLONE_NEWCGROUP, [SPEC_NS_TIME] = CLONE_NEWTIME,
};

/* ---- the set-up protocol ---- */

enum sync_type {
  SYNC_MAPS_DONE = 1, /* runtime -> init: ids mapped; value: setgroups allowed; pid: the init's */
  SYNC_INIT_PID,      /* init -> runtime: the init was re-forked; pid: the new one */
  SYNC_INIT_PID_SEEN, /* runtime -> re-forked init; pid: its pid as the runtime sees it */
  SYNC_CGROUP_READY,  /* runtime -> init: it is in its cgroup (the namespace can be made) */
  SYNC_CREATE_RUNTIME,/* init -> runtime: run prestart/createRuntime hooks now */
  SYNC_HOOKS_DONE,    /* runtime -> init */
  SYNC_PTY,           /* init -> runtime: the pty master follows as SCM_RIGHTS */
  SYNC_READY,         /* init -> runtime: set up, waiting to be released */
  SYNC_ERROR,         /* init -> runtime: text says what failed */
  SYNC_RELEASE,       /* runtime -> init: created; wait on the exec fifo */
};

struct sync_msg {
  int type;
  int value;
  int pid;
  int errnum;
  char text[1800];
};

static int sync_send_pid(int fd, int type, int value, pid_t pid) {
  struct sync_msg m = {.type = type, .value = value, .pid = pid};
  for (;;) {
    if (send(fd, &m, offsetof(struct sync_msg, text), MSG_NOSIGNAL) >= 0)
      return 0;
    if (errno != EINTR)
      return -errno;
  }
}

static int sync_send(int fd, int type, int value) { return sync_send_pid(fd, type, value, 0); }

/* 0 and the message, -EPIPE when the other side is gone, or -errno.
 * flags: MSG_DONTWAIT for a message only if one is there. */
static int sync_recv(int fd, struct sync_msg *m, int flags) {
  memset(m, 0, sizeof(*m));
  ssize_t n;
  /* A peer that exits with our messages unread leaves ECONNRESET, read
   * once and before the messages it sent (an init's SYNC_ERROR). */
  do
    n = recv(fd, m, sizeof(*m), flags);
  while (n < 0 && (errno == EINTR || errno == ECONNRESET));
  if (n < 0)
    return -errno;
  if (n == 0)
    return -EPIPE;
  m->text[sizeof(m->text) - 1] = '\0';
  return 0;
}

/* ---- the init (child) side ---- */

struct init_child {
  const struct init_request *req;
  int sync_fd;
  bool setgroups_allowed;
  pid_t host_pid; /* the init's pid as the runtime sees it, for hook state */
  int ns_fds[SPEC_NS_COUNT];
  const struct seccomp_program *seccomp; /* compiled by the runtime; NULL: none */
  unsigned long late_flags; /* namespaces created by unshare after joining a user namespace */
  bool needs_fork;          /* a pid or time namespace takes effect only in a child */
};

__attribute__((noreturn)) static void init_fail(struct init_child *c, const nook_error *err) {
  struct sync_msg m = {.type = SYNC_ERROR, .errnum = err->code};
  snprintf(m.text, sizeof(m.text), "%s", err->msg);
  ssize_t n;
  do
    n = send(c->sync_fd, &m, sizeof(m), MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  _exit(1);
}

static int init_expect(struct init_child *c, int type, struct sync_msg *m) {
  int r = sync_recv(c->sync_fd, m, 0);
  if (r < 0 || m->type != type)
    _exit(1); /* the runtime is gone or gave up: leave nothing running */
  return 0;
}

static void reset_signals(const sigset_t *mask) {
  struct sigaction sa = {.sa_handler = SIG_DFL};
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      sigaction(sig, &sa, NULL);
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, mask ? mask : &empty, NULL);
}

static bool id_is_mapped(const char *map_file, unsigned id) {
  _cleanup_free_ char *text = NULL;
  if (read_file_at(AT_FDCWD, map_file, &text, NULL, NULL) < 0)
    return false;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    unsigned inside, outside, count;
    if (sscanf(line, "%u %u %u", &inside, &outside, &count) == 3 && id >= inside &&
        id - inside < count)
      return true;
  }
  return false;
}

static int join_namespaces(struct init_child *c, bool user, nook_error *err) {
  for (int t = 0; t < SPEC_NS_COUNT; t++) {
    if (c->ns_fds[t] < 0 || (t == SPEC_NS_USER) != user)
      continue;
    if (setns(c->ns_fds[t], ns_clone_flags[t]) < 0)
      return nook_err(err, errno, "join the %s namespace `%s`", spec_ns_names[t],
                      c->req->spec->namespaces[t].path);
    close(c->ns_fds[t]);
    c->ns_fds[t] = -1;
  }
  return 0;
}

static const char *const namespaced_sysctl_prefixes[] = {
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
    "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced", "fs.mqueue.", "net.",
    "kernel.hostname", "kernel.domainname",
};

static int apply_sysctls(const struct spec *spec, nook_error *err) {
  for (size_t i = 0; i < spec->n_sysctl; i++) {
    const char *key = spec->sysctl[i].key;
    bool ok = false;
    for (size_t j = 0; j < ARRAY_SIZE(namespaced_sysctl_prefixes); j++)
      if (str_has_prefix(key, namespaced_sysctl_prefixes[j]))
        ok = true;
    if (str_has_prefix(key, "net.") && !spec->namespaces[SPEC_NS_NET].enabled)
      ok = false;
    if (!ok)
      return nook_errx(err, EINVAL,
                       "sysctl `%s` is not namespaced for this container: setting it would "
                       "change the host (net.* needs a network namespace)",
                       key);
    _cleanup_free_ char *path = xasprintf("/proc/sys/%s", key);
    for (char *p = path + strlen("/proc/sys/"); *p; p++)
      if (*p == '.')
        *p = '/';
    const char *value = spec->sysctl[i].value;
    if (write_file_at(AT_FDCWD, path, value, strlen(value), 0644, err) < 0)
      return nook_err_prefix(err, -err->code, "sysctl `%s`", key);
  }
  return 0;
}

static const char *env_get(char *const *env, const char *name) {
  size_t len = strlen(name);
  for (size_t i = 0; env && env[i]; i++)
    if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
      return env[i] + len + 1;
  return NULL;
}

/* Finds args[0] as execve will see it, so that a missing command fails
 * `create` with a clear line instead of `start` with nothing to tell. */
static int resolve_executable(const struct spec_process *p, char **out, nook_error *err) {
  const char *name = p->args[0];
  struct stat st;
  if (strchr(name, '/')) {
    if (stat(name, &st) < 0)
      return nook_err(err, errno, "exec: \"%s\"", name);
    if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111))
      return nook_errx(err, EACCES, "exec: \"%s\": permission denied", name);
    *out = xstrdup(name);
    return 0;
  }
  const char *path = env_get(p->env, "PATH");
  if (!path)
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  _cleanup_free_ char *copy = xstrdup(path);
  char *save = NULL;
  for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
    _cleanup_free_ char *cand = xasprintf("%s/%s", *dir ? dir : ".", name);
    if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111)) {
      *out = steal_pointer(&cand);
      return 0;
    }
  }
  return nook_errx(err, ENOENT, "exec: \"%s\": executable file not found in $PATH", name);
}

static char **build_env(const struct spec_process *p) {
  char **env = strv_dup(p->env);
  if (!env_get(env, "HOME")) {
    const char *home = "/";
    _cleanup_fclose_ FILE *f = fopen("/etc/passwd", "re");
    struct passwd *pw;
    while (f && (pw = fgetpwent(f)))
      if (pw->pw_uid == p->user.uid) {
        home = pw->pw_dir;
        break;
      }
    _cleanup_free_ char *h = xasprintf("HOME=%s", home);
    strv_push(&env, h);
  }
  return env;
}

static int write_time_offsets(const struct spec *spec, nook_error *err) {
  char buf[128];
  int n = 0;
  if (spec->time_offset_monotonic.set)
    n += snprintf(buf + n, sizeof(buf) - n, "monotonic %lld %u\n",
                  (long long)spec->time_offset_monotonic.secs, spec->time_offset_monotonic.nanosecs);
  if (spec->time_offset_boottime.set)
    n += snprintf(buf + n, sizeof(buf) - n, "boottime %lld %u\n",
                  (long long)spec->time_offset_boottime.secs, spec->time_offset_boottime.nanosecs);
  if (n && write_file_at(AT_FDCWD, "/proc/self/timens_offsets", buf, (size_t)n, 0644, err) < 0)
    return nook_err_prefix(err, -err->code, "linux.timeOffsets");
  return 0;
}

/* Hostname, domainname, sysctls and the OOM score: the kernel state of the
 * container's own namespaces, set while the host's /proc is still there. */
static int init_configure_kernel(const struct spec *spec, nook_error *err) {
  if (spec->hostname && *spec->hostname) {
    if (!spec->namespaces[SPEC_NS_UTS].enabled)
      return nook_errx(err, EINVAL,
                       "config.json: hostname needs a UTS namespace in linux.namespaces");
    if (sethostname(spec->hostname, strlen(spec->hostname)) < 0)
      return nook_err(err, errno, "set hostname `%s`", spec->hostname);
  }
  if (spec->domainname && *spec->domainname &&
      setdomainname(spec->domainname, strlen(spec->domainname)) < 0)
    return nook_err(err, errno, "set domainname `%s`", spec->domainname);
  int r = apply_sysctls(spec, err);
  if (r < 0)
    return r;
  return spec->has_process ? process_apply_oom_score_adj(&spec->process, err) : 0;
}

/* process.terminal: a pty of the container's devpts, its master handed to
 * the runtime, its slave the init's stdio and /dev/console. */
static int init_setup_terminal(struct init_child *c, nook_error *err) {
  const struct spec_process *p = &c->req->spec->process;
  int master, slave;
  _cleanup_free_ char *slave_path = NULL;
  int r = terminal_open_pty(&master, &slave, &slave_path, p->console_height, p->console_width,
                            err);
  if (r < 0)
    return r;
  sync_send(c->sync_fd, SYNC_PTY, 0);
  r = send_fd(c->sync_fd, master, "pty");
  close(master);
  if (r < 0)
    _exit(1); /* the runtime is gone */
  r = terminal_make_controlling(slave, err);
  if (r == 0)
    r = mounts_bind_console(slave_path, err);
  close(slave);
  return r;
}

/* Blocks until `start` writes its byte to the exec fifo. */
static int wait_for_start(int fifo) {
  int fl = fcntl(fifo, F_GETFL);
  fcntl(fifo, F_SETFL, fl & ~O_NONBLOCK);
  char byte;
  ssize_t n;
  do
    n = read(fifo, &byte, 1);
  while (n < 0 && errno == EINTR);
  return n == 1 ? 0 : -EPIPE;
}

/* A new pid or time namespace holds only the children of whoever made it:
 * the init forks once more (as the runtime's child, CLONE_PARENT), the
 * runtime learns the new pid, and this process leaves. */
static void init_refork(struct init_child *c, nook_error *err) {
  const struct spec *spec = c->req->spec;
  if ((c->late_flags & CLONE_NEWTIME) && write_time_offsets(spec, err) < 0)
    init_fail(c, err);
  struct clone_args args = {.flags = CLONE_PARENT, .exit_signal = 0};
  pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
  if (pid < 0) {
    nook_err(err, errno, "fork the container's init into its pid namespace");
    init_fail(c, err);
  }
  if (pid > 0) {
    sync_send_pid(c->sync_fd, SYNC_INIT_PID, 0, pid);
    _exit(0);
  }
  struct sync_msg m;
  init_expect(c, SYNC_INIT_PID_SEEN, &m);
  c->host_pid = m.pid;
}

/* The runtime's cgroup manager works while the init sets up its mounts;
 * the init waits for it only here, before its first step that depends on
 * the cgroup. A cgroup namespace is rooted where its maker is. */
static int init_enter_cgroup(void *data, nook_error *err) {
  struct init_child *c = data;
  const struct spec *spec = c->req->spec;
  struct sync_msg m;
  init_expect(c, SYNC_CGROUP_READY, &m);
  if (spec->namespaces[SPEC_NS_CGROUP].enabled && !spec->namespaces[SPEC_NS_CGROUP].path &&
      unshare(CLONE_NEWCGROUP) < 0)
    return nook_err(err, errno, "create the cgroup namespace");
  return 0;
}

__attribute__((noreturn)) static void init_main(struct init_child *c) {
  const struct init_request *req = c->req;
  const struct spec *spec = req->spec;
  nook_error err;
  nook_err_clear(&err);
  struct sync_msg m;

  int keep[SPEC_NS_COUNT + 3 + 65536];
  size_t nkeep = 0;
  for (int i = 0; i < req->preserve_fds; i++)
    keep[nkeep++] = 3 + i;
  keep[nkeep++] = c->sync_fd;
  keep[nkeep++] = req->exec_fifo_fd;
  keep[nkeep++] = req->exec_fifo_keepalive_fd;
  for (int t = 0; t < SPEC_NS_COUNT; t++)
    if (c->ns_fds[t] >= 0)
      keep[nkeep++] = c->ns_fds[t];
  close_fds_except(keep, nkeep);

  reset_signals(req->saved_sigmask);
  init_expect(c, SYNC_MAPS_DONE, &m);
  c->setgroups_allowed = m.value != 0;
  c->host_pid = m.pid;

  if (join_namespaces(c, true, &err) < 0)
    init_fail(c, &err);
  /* Whoever wrote the maps decided whether setgroups(2) is allowed; a joined
   * namespace may have denied it. */
  _cleanup_free_ char *setgroups = NULL;
  if (read_file_at(AT_FDCWD, "/proc/self/setgroups", &setgroups, NULL, NULL) == 0)
    c->setgroups_allowed = str_has_prefix(setgroups, "allow");
  /* Root of the user namespace, where root is mapped: mounts and files made
   * during set-up then belong to the container's root. */
  if (id_is_mapped("/proc/self/gid_map", 0) && setresgid(0, 0, 0) < 0) {
    nook_err(&err, errno, "become gid 0 in the user namespace");
    init_fail(c, &err);
  }
  if (id_is_mapped("/proc/self/uid_map", 0) && setresuid(0, 0, 0) < 0) {
    nook_err(&err, errno, "become uid 0 in the user namespace");
    init_fail(c, &err);
  }
  if (join_namespaces(c, false, &err) < 0)
    init_fail(c, &err);
  if (c->late_flags && unshare((int)c->late_flags) < 0) {
    nook_err(&err, errno, "create the container's namespaces in the joined user namespace");
    init_fail(c, &err);
  }
  if (c->needs_fork)
    init_refork(c, &err);

  if (init_configure_kernel(spec, &err) < 0)
    init_fail(c, &err);

  nook_stage("init: namespaces set");
  /* Hooks may look at the container's cgroup: with none, the init waits
   * for it only at the end of its set-up. */
  bool cgroup_late = !spec->hooks[SPEC_HOOK_PRESTART].n &&
                     !spec->hooks[SPEC_HOOK_CREATE_RUNTIME].n &&
                     !spec->hooks[SPEC_HOOK_CREATE_CONTAINER].n;
  struct mount_context mc = {.spec = spec, .in_userns = req->in_userns, .no_pivot = req->no_pivot,
                             .rootfd = -1, .enter_cgroup = init_enter_cgroup, .data = c,
                             .cgroup_late = cgroup_late};
  if (mounts_prepare_rootfs(&mc, &err) < 0)
    init_fail(c, &err);
  nook_stage("init: rootfs mounted");

  if (spec->hooks[SPEC_HOOK_PRESTART].n || spec->hooks[SPEC_HOOK_CREATE_RUNTIME].n) {
    sync_send(c->sync_fd, SYNC_CREATE_RUNTIME, 0);
    init_expect(c, SYNC_HOOKS_DONE, &m);
  }
  if (spec->hooks[SPEC_HOOK_CREATE_CONTAINER].n) {
    _cleanup_free_ char *state = req->hooks.state_json(req->hooks.data, c->host_pid, "creating");
    if (hooks_run(spec, SPEC_HOOK_CREATE_CONTAINER, state, &err) < 0)
      init_fail(c, &err);
  }

  if (mounts_enter_rootfs(&mc, &err) < 0)
    init_fail(c, &err);
  nook_stage("init: rootfs entered");

  const struct spec_process *p = &spec->process;
  if (p->terminal && init_setup_terminal(c, &err) < 0)
    init_fail(c, &err);

  const char *cwd = p->cwd && *p->cwd ? p->cwd : "/";
  if (chdir(cwd) < 0) {
    if (errno != ENOENT || mkdir_p(cwd, 0755, &err) < 0 || chdir(cwd) < 0) {
      nook_err(&err, errno ? errno : ENOENT, "process.cwd `%s`", cwd);
      init_fail(c, &err);
    }
  }
  _cleanup_free_ char *exe = NULL;
  if (resolve_executable(p, &exe, &err) < 0)
    init_fail(c, &err);
  char **env = build_env(p);
  if (mounts_enter_cgroup_late(&mc, &err) < 0)
    init_fail(c, &err);
  close(mc.rootfd);

  sync_send(c->sync_fd, SYNC_READY, 0);
  init_expect(c, SYNC_RELEASE, &m);
  close(c->sync_fd);

  if (wait_for_start(req->exec_fifo_fd) < 0)
    _exit(1);
  close(req->exec_fifo_fd);
  close(req->exec_fifo_keepalive_fd);

  /* From here errors have nobody to go to but the container's stderr. */
  if (spec->hooks[SPEC_HOOK_START_CONTAINER].n) {
    _cleanup_free_ char *state = req->hooks.state_json(req->hooks.data, c->host_pid, "created");
    if (hooks_run(spec, SPEC_HOOK_START_CONTAINER, state, &err) < 0)
      goto fail_late;
  }
  if (!req->no_new_keyring)
    (void)syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL);
  nook_stage("init: started");
  if (process_apply_security(p, c->seccomp, c->setgroups_allowed, &err) < 0)
    goto fail_late;
  /* Nothing of nook's may reach the container: only stdio and the fds the
   * caller asked to preserve survive exec. */
  syscall(SYS_close_range, 3 + req->preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC);
  nook_stage("init: exec");
  execve(exe, p->args, env);
  nook_err(&err, errno, "exec `%s`", exe);
fail_late:
  dprintf(STDERR_FILENO, "nook: %s\n", err.msg);
  _exit(127);
}

/* ---- the runtime (parent) side ---- */

static int rootless_override = -1;

void linux_set_rootless_override(int rootless) { rootless_override = rootless; }

bool linux_running_rootless(void) {
  if (rootless_override >= 0)
    return rootless_override;
  if (geteuid() != 0)
    return true;
  /* Root inside a user namespace is not root on the host. */
  _cleanup_free_ char *map = NULL;
  if (read_file_at(AT_FDCWD, "/proc/self/uid_map", &map, NULL, NULL) < 0)
    return false;
  unsigned a, b, n;
  return !(sscanf(map, "%u %u %u", &a, &b, &n) == 3 && a == 0 && b == 0 && n == 4294967295U);
}

static bool maps_are_own_single_id(const struct spec_idmap *maps, size_t n, uint32_t own) {
  return n == 1 && maps[0].host_id == own && maps[0].size == 1;
}

/* Names the first host range of maps that is neither the caller's own id
 * nor inside one of its subordinate ranges. */
static int check_subid_coverage(const char *file, bool gid, const struct spec_idmap *maps,
                                size_t n, nook_error *err) {
  uid_t own = gid ? getegid() : geteuid();
  _cleanup_free_ struct subid_range *ranges = NULL;
  size_t nr = 0;
  int r = idmap_read_subids(file, geteuid(), NULL, &ranges, &nr, err);
  if (r < 0)
    return r;
  for (size_t i = 0; i < n; i++) {
    uint64_t start = maps[i].host_id, end = start + maps[i].size;
    if (maps[i].size == 1 && start == own)
      continue;
    bool covered = false;
    for (size_t j = 0; j < nr && !covered; j++)
      covered = start >= ranges[j].start && end <= (uint64_t)ranges[j].start + ranges[j].count;
    if (!covered)
      return nook_errx(err, EPERM,
                       "config.json: linux.%s[%zu] maps host ids %llu-%llu, which %s does not "
                       "give you: add the range (usermod --add-sub%cids %llu-%llu USER) or change "
                       "the mapping",
                       gid ? "gidMappings" : "uidMappings", i, (unsigned long long)start,
                       (unsigned long long)end - 1, file, gid ? 'g' : 'u',
                       (unsigned long long)start, (unsigned long long)end - 1);
  }
  return 0;
}

/* One of the two maps of the init, on its way. */
struct map_write {
  bool gid;
  const struct spec_idmap *maps;
  size_t n;
  bool helper_started;
  struct idmap_helper helper;
};

/* A single-id map of our own id, when the ranges cannot be had and the
 * spec accepts it. */
static int map_fall_back(pid_t pid, const struct init_request *req, struct map_write *w,
                         bool *setgroups_allowed, int r, nook_error *err) {
  if (!req->idmap_fallback)
    return r;
  nook_warn("%s; falling back to a single-id map (only your own id exists in the container)",
            err->msg);
  if (w->gid)
    *setgroups_allowed = false;
  struct spec_idmap self_map = {.container_id = w->maps[0].container_id,
                                .host_id = w->gid ? getegid() : geteuid(), .size = 1};
  return idmap_write_direct(pid, w->gid, &self_map, 1, err);
}

/* Writes a map that needs no helper, or starts newuidmap/newgidmap. */
static int map_write_start(pid_t pid, const struct init_request *req, bool gid,
                           struct map_write *w, bool *setgroups_allowed, nook_error *err) {
  const struct spec *spec = req->spec;
  *w = (struct map_write){.gid = gid, .maps = gid ? spec->gid_mappings : spec->uid_mappings,
                          .n = gid ? spec->n_gid_mappings : spec->n_uid_mappings};
  uint32_t own = gid ? getegid() : geteuid();
  struct spec_idmap self_map = {.container_id = 0, .host_id = own, .size = 1};

  if (geteuid() == 0) {
    if (w->n == 0)
      return nook_errx(err, EINVAL, "config.json: a user namespace needs linux.%s",
                       gid ? "gidMappings" : "uidMappings");
    return idmap_write_direct(pid, gid, w->maps, w->n, err);
  }
  if (w->n == 0 || maps_are_own_single_id(w->maps, w->n, own)) {
    if (gid)
      *setgroups_allowed = false;
    return idmap_write_direct(pid, gid, w->n ? w->maps : &self_map, w->n ? w->n : 1, err);
  }
  const char *file = gid ? "/etc/subgid" : "/etc/subuid";
  int r = check_subid_coverage(file, gid, w->maps, w->n, err);
  if (r == 0)
    r = idmap_helper_start(pid, gid, w->maps, w->n, &w->helper, err);
  if (r < 0)
    return map_fall_back(pid, req, w, setgroups_allowed, r, err);
  w->helper_started = true;
  return 0;
}

static int map_write_finish(pid_t pid, const struct init_request *req, struct map_write *w,
                            bool *setgroups_allowed, nook_error *err) {
  if (!w->helper_started)
    return 0;
  w->helper_started = false;
  int r = idmap_helper_finish(&w->helper, err);
  return r < 0 ? map_fall_back(pid, req, w, setgroups_allowed, r, err) : 0;
}

/* The uid and the gid map: newuidmap and newgidmap run side by side, and
 * the caller may do other work until maps_finish. */
struct maps_write {
  struct map_write uid, gid;
  int gid_r;
  nook_error gid_err;
};

static int maps_start(pid_t pid, const struct init_request *req, struct maps_write *m,
                      bool *setgroups_allowed, nook_error *err) {
  int r = map_write_start(pid, req, false, &m->uid, setgroups_allowed, err);
  if (r < 0)
    return r;
  m->gid_r = map_write_start(pid, req, true, &m->gid, setgroups_allowed, &m->gid_err);
  return 0;
}

/* Always called after a successful maps_start: it reaps the helpers. */
static int maps_finish(pid_t pid, const struct init_request *req, struct maps_write *m,
                       bool *setgroups_allowed, nook_error *err) {
  int r = map_write_finish(pid, req, &m->uid, setgroups_allowed, err);
  int rg = m->gid_r;
  if (rg == 0)
    rg = map_write_finish(pid, req, &m->gid, setgroups_allowed, &m->gid_err);
  if (r == 0 && rg < 0) {
    *err = m->gid_err;
    r = rg;
  }
  return r;
}

static int open_ns_paths(const struct spec *spec, int fds[SPEC_NS_COUNT], nook_error *err) {
  for (int t = 0; t < SPEC_NS_COUNT; t++) {
    fds[t] = -1;
    if (!spec->namespaces[t].enabled || !spec->namespaces[t].path)
      continue;
    fds[t] = open(spec->namespaces[t].path, O_RDONLY | O_CLOEXEC);
    if (fds[t] < 0)
      return nook_err(err, errno, "open the %s namespace `%s`", spec_ns_names[t],
                      spec->namespaces[t].path);
  }
  return 0;
}

static int open_netns_of(pid_t pid, nook_error *err) {
  _cleanup_free_ char *path = xasprintf("/proc/%d/ns/net", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return nook_err(err, errno, "open the container's network namespace (%s)", path);
  return fd;
}

static int receive_error(struct sync_msg *m, nook_error *err) {
  return nook_errx(err, m->errnum > 0 ? m->errnum : EIO, "%s", m->text);
}

/* An init that failed while the runtime waited elsewhere has said why, maybe
 * after its terminal (a SYNC_PTY and the fd's own message): that is the
 * error, in place of r's. */
static int init_error_queued(int sync_fd, int r, nook_error *err) {
  struct sync_msg m;
  while (sync_recv(sync_fd, &m, MSG_DONTWAIT) == 0) {
    if (m.type == SYNC_ERROR)
      return receive_error(&m, err);
    if (m.type == SYNC_PTY) {
      int fd = recv_fd(sync_fd);
      if (fd >= 0)
        close(fd);
    }
  }
  return r;
}

void linux_init_abort(struct init_process *init) {
  if (init->pid > 0) {
    kill(init->pid, SIGKILL);
    if (init->is_child)
      while (waitpid(init->pid, NULL, 0) < 0 && errno == EINTR)
        ;
  }
  if (init->sync_fd >= 0)
    close(init->sync_fd);
  if (init->pty_master >= 0)
    close(init->pty_master);
  init->pid = 0;
  init->sync_fd = init->pty_master = -1;
}

int linux_spawn_init(const struct init_request *req, struct init_process *out, nook_error *err) {
  const struct spec *spec = req->spec;
  *out = (struct init_process){.sync_fd = -1, .pty_master = -1};
  if (!spec->has_process)
    return nook_errx(err, EINVAL, "config.json: `process` is required to create a container");
  /* Root inside a user namespace (podman runs its runtime so) has every
   * capability there and needs no user namespace of the container's own. */
  if (geteuid() != 0 && !spec->namespaces[SPEC_NS_USER].enabled)
    return nook_errx(err, EINVAL,
                     "config.json: running without root needs a user namespace: add "
                     "{\"type\": \"user\"} to linux.namespaces (see 'nook spec --rootless')");
  bool time_offsets = spec->time_offset_monotonic.set || spec->time_offset_boottime.set;
  if (time_offsets && !spec->namespaces[SPEC_NS_TIME].enabled)
    return nook_errx(err, EINVAL, "config.json: linux.timeOffsets need a time namespace");

  /* Compiled here, before anything exists, so a bad profile fails `create`
   * cleanly; the init gets its own copy of it with the clone. */
  __attribute__((cleanup(seccomp_program_clear))) struct seccomp_program seccomp = {0};
  if (spec->seccomp) {
    int r = seccomp_program_prepare(spec->seccomp, req->seccomp_cache_dir, &seccomp, err);
    if (r < 0)
      return r;
  }

  struct init_child child = {.req = req, .seccomp = spec->seccomp ? &seccomp : NULL};
  int r = open_ns_paths(spec, child.ns_fds, err);
  if (r < 0) {
    for (int t = 0; t < SPEC_NS_COUNT; t++)
      if (child.ns_fds[t] >= 0)
        close(child.ns_fds[t]);
    return r;
  }

  unsigned long long flags = 0;
  for (int t = 0; t < SPEC_NS_COUNT; t++)
    if (spec->namespaces[t].enabled && !spec->namespaces[t].path && t != SPEC_NS_CGROUP)
      flags |= (unsigned long long)ns_clone_flags[t];
  /* Namespaces made inside a joined user namespace, and a time namespace
   * that needs offsets written first, are made by the init itself. */
  if (spec->namespaces[SPEC_NS_USER].path) {
    child.late_flags = flags;
    flags = 0;
  } else if (time_offsets) {
    /* The re-fork needs CLONE_PARENT, which a pid namespace's init may not
     * use: the pid namespace is made late too. */
    child.late_flags = flags & (CLONE_NEWTIME | CLONE_NEWPID);
    flags &= ~(unsigned long long)(CLONE_NEWTIME | CLONE_NEWPID);
  }
  child.needs_fork = spec->namespaces[SPEC_NS_PID].path != NULL ||
                     (child.late_flags & (CLONE_NEWPID | CLONE_NEWTIME)) != 0;

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return nook_err(err, errno, "socketpair");

  struct clone_args args = {.flags = flags, .exit_signal = SIGCHLD};
  nook_stage("clone3");
  pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
  if (pid < 0) {
    int e = errno;
    close(sv[0]);
    close(sv[1]);
    for (int t = 0; t < SPEC_NS_COUNT; t++)
      if (child.ns_fds[t] >= 0)
        close(child.ns_fds[t]);
    if (e == EPERM || e == ENOSPC || e == EUSERS)
      return nook_err(err, e,
                      "create the container's namespaces (are unprivileged user namespaces "
                      "enabled? see /proc/sys/user/max_user_namespaces)");
    return nook_err(err, e, "create the container's namespaces");
  }
  if (pid == 0) {
    close(sv[0]);
    child.sync_fd = sv[1];
    init_main(&child);
  }
  close(sv[1]);
  for (int t = 0; t < SPEC_NS_COUNT; t++)
    if (child.ns_fds[t] >= 0)
      close(child.ns_fds[t]);
  out->pid = pid;
  out->is_child = true;
  out->sync_fd = sv[0];

  /* The init is ours to open in /proc until it changes its ids. */
  _cleanup_close_ int netns_fd = -1;
  bool netns_early = (flags & CLONE_NEWNET) && req->hooks.netns_created;
  if (netns_early && (netns_fd = open_netns_of(pid, err)) < 0) {
    r = netns_fd;
    goto fail;
  }
  /* The cgroup manager starts now and is waited for only before
   * SYNC_CGROUP_READY: systemd makes the scope while ids are mapped and
   * the init mounts. */
  if (!child.needs_fork && req->hooks.init_created &&
      (r = req->hooks.init_created(req->hooks.data, pid, err)) < 0)
    goto fail;
  bool setgroups_allowed = true;
  bool own_userns = spec->namespaces[SPEC_NS_USER].enabled && !spec->namespaces[SPEC_NS_USER].path;
  struct maps_write maps;
  if (own_userns && (r = maps_start(pid, req, &maps, &setgroups_allowed, err)) < 0)
    goto fail;
  /* The id map helpers take a few ms: the network helper loads meanwhile. */
  r = 0;
  if (netns_early && !child.needs_fork)
    r = req->hooks.netns_created(req->hooks.data, pid, netns_fd, err);
  if (own_userns) {
    nook_error maps_err;
    int rm = maps_finish(pid, req, &maps, &setgroups_allowed, r < 0 ? &maps_err : err);
    if (r == 0)
      r = rm;
    nook_stage("id maps");
  }
  if (r == 0 && own_userns)
    r = process_check_groups(&spec->process.user, setgroups_allowed, err);
  if (r < 0)
    goto fail;
  if (!child.needs_fork && req->hooks.ids_mapped &&
      (r = req->hooks.ids_mapped(req->hooks.data, pid, err)) < 0)
    goto fail;
  if ((r = sync_send_pid(out->sync_fd, SYNC_MAPS_DONE, setgroups_allowed, pid)) < 0) {
    r = nook_err(err, -r, "the container's init exited during set-up");
    r = init_error_queued(out->sync_fd, r, err);
    goto fail;
  }
  if (child.needs_fork) {
    struct sync_msg m;
    r = sync_recv(out->sync_fd, &m, 0);
    if (r < 0 || m.type != SYNC_INIT_PID) {
      if (r == 0 && m.type == SYNC_ERROR)
        r = receive_error(&m, err);
      else
        r = nook_errx(err, EIO, "the container's init exited during set-up");
      goto fail;
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
      ;
    out->pid = pid = m.pid;
    if (netns_early && (r = req->hooks.netns_created(req->hooks.data, pid, netns_fd, err)) < 0)
      goto fail;
    if (req->hooks.ids_mapped && (r = req->hooks.ids_mapped(req->hooks.data, pid, err)) < 0)
      goto fail;
    if (req->hooks.init_created && (r = req->hooks.init_created(req->hooks.data, pid, err)) < 0)
      goto fail;
    sync_send_pid(out->sync_fd, SYNC_INIT_PID_SEEN, 0, pid);
  }
  if (req->hooks.cgroup_wait && (r = req->hooks.cgroup_wait(req->hooks.data, err)) < 0) {
    r = init_error_queued(out->sync_fd, r, err);
    goto fail;
  }
  nook_stage("cgroup joined");
  /* An init that failed meanwhile has left its SYNC_ERROR to read below. */
  (void)sync_send(out->sync_fd, SYNC_CGROUP_READY, 0);

  for (;;) {
    struct sync_msg m;
    r = sync_recv(out->sync_fd, &m, 0);
    if (r < 0) {
      r = nook_errx(err, EIO, "the container's init exited during set-up");
      goto fail;
    }
    switch (m.type) {
    case SYNC_CREATE_RUNTIME:
      if (req->hooks.create_runtime &&
          (r = req->hooks.create_runtime(req->hooks.data, pid, err)) < 0)
        goto fail;
      sync_send(out->sync_fd, SYNC_HOOKS_DONE, 0);
      break;
    case SYNC_PTY:
      out->pty_master = recv_fd(out->sync_fd);
      if (out->pty_master < 0) {
        r = nook_err(err, -out->pty_master, "receive the container's terminal");
        out->pty_master = -1;
        goto fail;
      }
      break;
    case SYNC_READY:
      if (!netns_early && req->hooks.netns_created &&
          (r = req->hooks.netns_created(req->hooks.data, pid, -1, err)) < 0)
        goto fail;
      return 0;
    case SYNC_ERROR:
      r = receive_error(&m, err);
      goto fail;
    default:
      r = nook_errx(err, EPROTO, "unexpected message %d from the container's init", m.type);
      goto fail;
    }
  }
fail:
  linux_init_abort(out);
  return r;
}

int linux_init_release(struct init_process *init, nook_error *err) {
  int r = sync_send(init->sync_fd, SYNC_RELEASE, 0);
  close(init->sync_fd);
  init->sync_fd = -1;
  if (r < 0)
    return nook_err(err, -r, "the container's init exited before it was released");
  return 0;
}

/* For exec, which finishes a process the same way the init does. */
int linux_resolve_executable(const struct spec_process *p, char **out, nook_error *err) {
  return resolve_executable(p, out, err);
}

char **linux_process_env(const struct spec_process *p) { return build_env(p); }
