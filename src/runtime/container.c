#include "container.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "hooks.h"
#include "linux.h"
#include "log.h"
#include "net/net.h"
#include "process-security.h"
#include "spec.h"
#include "terminal.h"
#include "seccomp-filter.h"
#include "util.h"

/* Everything `create` builds, so that a failure at any step undoes exactly
 * what exists. */
struct creation {
  const struct create_options *opts;
  struct spec *spec;
  int dirfd;
  char *state_dir;
  struct container_state st;
  struct cgroup_handle cgroup;
  struct cgroup_pending *cgroup_pending; /* begun, not yet waited for */
  bool dir_created;
  struct init_process init;
  struct net_helper net;
  int fifo_read;
  int fifo_write;
  nook_error *err;
};

static char *now_rfc3339(void) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof(buf) - n, ".%09ldZ", ts.tv_nsec);
  return xstrdup(buf);
}

static char *owner_name(void) {
  struct passwd *pw = getpwuid(geteuid());
  return pw ? xstrdup(pw->pw_name) : xasprintf("%u", geteuid());
}

static char *creation_state_json(void *data, pid_t pid, const char *status) {
  struct creation *c = data;
  struct container_state copy = c->st;
  copy.pid = pid;
  enum container_status s = strcmp(status, "creating") == 0 ? STATUS_CREATING : STATUS_CREATED;
  return state_to_oci_json(&copy, s, false);
}

static int on_init_created(void *data, pid_t pid, nook_error *err) {
  struct creation *c = data;
  c->st.pid = pid;
  c->st.pid_start_time = pid_start_time(pid);
  /* With the init's pid recorded, a create killed before the cgroup is
   * joined leaves an init that `delete --force` can find and kill; with our
   * cgroup, the node cgroupfs makes beside it that it can remove. */
  nook_error ignored;
  if (cgroup_of_pid(getpid(), &c->st.creator_cgroup, &ignored) < 0)
    c->st.creator_cgroup = NULL;
  int r = state_save(c->dirfd, &c->st, err);
  if (r < 0)
    return r;
  const struct cgroup_request req = {
      .manager = c->opts->cgroup_manager,
      .manager_explicit = c->opts->cgroup_manager_explicit,
      .container_id = c->opts->id,
      .cgroups_path = c->spec->cgroups_path,
      .resources = c->spec->resources,
      .rootless = linux_running_rootless(),
      .annotations = c->spec->annotations,
      .n_annotations = c->spec->n_annotations,
  };
  return cgroup_enter_begin(&req, pid, &c->cgroup_pending, err);
}

static int on_cgroup_wait(void *data, nook_error *err) {
  struct creation *c = data;
  struct cgroup_pending *p = steal_pointer(&c->cgroup_pending);
  int r = cgroup_enter_finish(p, &c->cgroup, err);
  if (r < 0)
    return r;
  c->st.cgroup_path = c->cgroup.path ? xstrdup(c->cgroup.path) : NULL;
  c->st.cgroup_manager = c->cgroup.manager ? xstrdup(c->cgroup.manager) : NULL;
  c->st.cgroup_unit = c->cgroup.unit ? xstrdup(c->cgroup.unit) : NULL;
  /* Recorded now, so that a create killed from here on leaves a state that
   * `delete --force` can clear. */
  return state_save(c->dirfd, &c->st, err);
}

static int on_netns_created(void *data, pid_t pid, int netns_fd, nook_error *err) {
  struct creation *c = data;
  const struct spec_namespace *ns = &c->spec->namespaces[SPEC_NS_NET];
  struct net_target target = {.pid = pid, .netns_fd = netns_fd,
                              .own_netns = netns_fd >= 0 && ns->enabled && !ns->path,
                              .hold = netns_fd >= 0};
  int r = net_start(c->spec, &target, c->state_dir, &c->net, err);
  c->st.net_helper_pid = c->net.pid;
  nook_stage("network started");
  return r;
}

static int on_ids_mapped(void *data, pid_t pid, nook_error *err) {
  (void)pid;
  struct creation *c = data;
  return net_attach(&c->net, err);
}

static int on_create_runtime(void *data, pid_t pid, nook_error *err) {
  struct creation *c = data;
  _cleanup_free_ char *json = creation_state_json(c, pid, "creating");
  int r = hooks_run(c->spec, SPEC_HOOK_PRESTART, json, err);
  if (r == 0)
    r = hooks_run(c->spec, SPEC_HOOK_CREATE_RUNTIME, json, err);
  return r;
}

static void creation_undo(struct creation *c) {
  nook_error ignored;
  net_helper_close(&c->net); /* a helper still waiting to attach exits */
  if (c->init.pid > 0 || c->init.sync_fd >= 0)
    linux_init_abort(&c->init);
  if (c->st.net_helper_pid > 0)
    net_teardown(c->st.net_helper_pid, c->state_dir, &ignored);
  cgroup_pending_free(steal_pointer(&c->cgroup_pending));
  if (c->cgroup.manager)
    cgroup_destroy(&c->cgroup, &ignored);
  if (c->dir_created)
    state_dir_remove(c->opts->root, c->opts->id, &ignored);
}

static void creation_free(struct creation *c) {
  net_helper_close(&c->net);
  if (c->fifo_read >= 0)
    close(c->fifo_read);
  if (c->fifo_write >= 0)
    close(c->fifo_write);
  if (c->dirfd >= 0)
    close(c->dirfd);
  if (c->init.sync_fd >= 0)
    close(c->init.sync_fd);
  if (c->init.pty_master >= 0)
    close(c->init.pty_master);
  cgroup_handle_clear(&c->cgroup);
  state_clear(&c->st);
  spec_free(c->spec);
  free(c->state_dir);
}

int container_write_pid_file(const char *path, pid_t pid, nook_error *err) {
  char buf[32];
  int n = snprintf(buf, sizeof(buf), "%d", pid);
  int r = write_file_atomic_at(AT_FDCWD, path, buf, (size_t)n, 0644, err);
  return r < 0 ? nook_err_prefix(err, r, "--pid-file") : 0;
}

static int copy_config(const char *bundle, int dirfd, nook_error *err) {
  _cleanup_free_ char *src = xasprintf("%s/config.json", bundle);
  _cleanup_free_ char *text = NULL;
  size_t len;
  int r = read_file_at(AT_FDCWD, src, &text, &len, err);
  if (r < 0)
    return r;
  return write_file_at(dirfd, STATE_CONFIG_NAME, text, len, 0600, err);
}

/* Steps 1..n of create, shared by `create` and `run`. On failure every step
 * taken is undone. keep_pty: `run` relays the terminal itself. */
static int creation_run(struct creation *c, bool keep_pty, const sigset_t *saved_mask) {
  const struct create_options *o = c->opts;
  nook_error *err = c->err;
  char cwd[PATH_MAX];
  const char *bundle = o->bundle;
  if (!bundle) {
    if (!getcwd(cwd, sizeof(cwd)))
      return nook_err(err, errno, "current directory");
    bundle = cwd;
  }
  int r = state_validate_id(o->id, err);
  if (r < 0)
    return r;
  cgroup_connect_early(o->cgroup_manager, linux_running_rootless());
  r = spec_load(bundle, &c->spec, err);
  if (r < 0)
    return r;
  nook_stage("spec loaded");
  const struct spec *spec = c->spec;
  if (!spec->has_process)
    return nook_errx(err, EINVAL, "config.json: `process` is required to create a container");
  if (spec->process.terminal && !o->console_socket && !keep_pty)
    return nook_errx(err, EINVAL,
                     "config.json: process.terminal is true: pass --console-socket to receive "
                     "the terminal, or set it to false");
  if (!spec->process.terminal && o->console_socket)
    return nook_errx(err, EINVAL,
                     "--console-socket was given but process.terminal is false in config.json");
  process_warn_unapplied_lsm(&spec->process, NULL);
  struct stat rst;
  if (stat(spec->root_path, &rst) < 0 || !S_ISDIR(rst.st_mode))
    return nook_errx(err, ENOENT, "config.json: root.path `%s` is not a directory",
                     spec->root_path);

  c->dirfd = state_dir_create(o->root, o->id, err);
  if (c->dirfd < 0)
    return c->dirfd;
  c->dir_created = true;
  c->state_dir = xasprintf("%s/%s", o->root, o->id);
  _cleanup_close_ int lock = state_lock(c->dirfd, err);
  if (lock < 0)
    return lock;
  if ((r = copy_config(spec->bundle, c->dirfd, err)) < 0)
    return r;

  c->st.id = xstrdup(o->id);
  c->st.bundle = xstrdup(spec->bundle);
  c->st.rootfs = xstrdup(spec->root_path);
  c->st.created = now_rfc3339();
  c->st.owner = owner_name();
  c->st.creating = true;
  c->st.n_annotations = spec->n_annotations;
  c->st.annotations = xcalloc(spec->n_annotations, sizeof(struct spec_kv));
  for (size_t i = 0; i < spec->n_annotations; i++) {
    c->st.annotations[i].key = xstrdup(spec->annotations[i].key);
    c->st.annotations[i].value = xstrdup(spec->annotations[i].value);
  }

  /* Saved before anything is started, so that a create killed at any later
   * step leaves a state that `delete --force` can clear, never a bare
   * directory that holds the name. */
  if ((r = state_save(c->dirfd, &c->st, err)) < 0)
    return r;

  if (mkfifoat(c->dirfd, EXEC_FIFO_NAME, 0600) < 0)
    return nook_err(err, errno, "create the exec fifo");
  c->fifo_read = openat(c->dirfd, EXEC_FIFO_NAME, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (c->fifo_read < 0)
    return nook_err(err, errno, "open the exec fifo");
  c->fifo_write = openat(c->dirfd, EXEC_FIFO_NAME, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (c->fifo_write < 0)
    return nook_err(err, errno, "open the exec fifo");

  _cleanup_free_ char *seccomp_cache = seccomp_cache_dir(o->root);
  struct init_request req = {
      .spec = spec,
      .seccomp_cache_dir = seccomp_cache,
      .in_userns = linux_running_rootless(),
      .idmap_fallback = spec_annotation(spec, "nook.idmap.fallback") &&
                        strcmp(spec_annotation(spec, "nook.idmap.fallback"), "single") == 0,
      .no_pivot = o->no_pivot,
      .no_new_keyring = o->no_new_keyring,
      .preserve_fds = o->preserve_fds,
      .exec_fifo_fd = c->fifo_read,
      .exec_fifo_keepalive_fd = c->fifo_write,
      .saved_sigmask = saved_mask,
      .hooks = {.init_created = on_init_created, .cgroup_wait = on_cgroup_wait,
                .netns_created = on_netns_created, .ids_mapped = on_ids_mapped,
                .create_runtime = on_create_runtime,
                .state_json = creation_state_json, .data = c},
  };
  nook_stage("state dir ready");
  r = linux_spawn_init(&req, &c->init, err);
  if (r < 0)
    return r;
  nook_stage("init ready");
  close(c->fifo_read);
  close(c->fifo_write);
  c->fifo_read = c->fifo_write = -1;

  r = net_wait_ready(&c->net, err);
  c->st.net_helper_pid = c->net.pid;
  if (r < 0)
    return r;
  nook_stage("network ready");
  if (c->init.pty_master >= 0 && o->console_socket) {
    r = console_socket_send(o->console_socket, c->init.pty_master, err);
    if (r < 0)
      return r;
    close(c->init.pty_master);
    c->init.pty_master = -1;
  }
  c->st.creating = false;
  if ((r = state_save(c->dirfd, &c->st, err)) < 0)
    return r;
  if (o->pid_file && (r = container_write_pid_file(o->pid_file, c->init.pid, err)) < 0)
    return r;
  return linux_init_release(&c->init, err);
}

int container_create(const struct create_options *o, nook_error *err) {
  struct creation c = {.opts = o, .dirfd = -1, .fifo_read = -1, .fifo_write = -1, .err = err,
                       .init = {.sync_fd = -1, .pty_master = -1},
                       .net = NET_HELPER_NONE};
  int r = creation_run(&c, false, NULL);
  if (r < 0)
    creation_undo(&c);
  creation_free(&c);
  return r < 0 ? r : 0;
}

/* ---- start ---- */

static int release_init(int dirfd, const char *id, nook_error *err) {
  _cleanup_close_ int fifo = openat(dirfd, EXEC_FIFO_NAME, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fifo < 0) {
    if (errno == ENXIO)
      return nook_errx(err, ESRCH, "container \"%s\" cannot start: its init is gone", id);
    return nook_err(err, errno, "open the exec fifo of container \"%s\"", id);
  }
  if (write(fifo, "0", 1) != 1)
    return nook_err(err, errno, "start container \"%s\"", id);
  if (unlinkat(dirfd, EXEC_FIFO_NAME, 0) < 0)
    return nook_err(err, errno, "remove the exec fifo of container \"%s\"", id);
  return 0;
}

static int load_spec_of(int dirfd, const struct container_state *st, struct spec **spec,
                        nook_error *err) {
  _cleanup_free_ char *text = NULL;
  int r = read_file_at(dirfd, STATE_CONFIG_NAME, &text, NULL, err);
  if (r < 0)
    return r;
  return spec_parse(text, st->bundle, spec, err);
}

/* spec: the container's, when the caller has it; NULL: read from the state. */
static void run_poststart(int dirfd, struct container_state *st, const struct spec *spec) {
  _cleanup_spec_ struct spec *loaded = NULL;
  nook_error err;
  if (!spec && load_spec_of(dirfd, st, &loaded, &err) < 0)
    return;
  if (!spec)
    spec = loaded;
  if (!spec->hooks[SPEC_HOOK_POSTSTART].n)
    return;
  _cleanup_free_ char *json = state_to_oci_json(st, STATUS_RUNNING, false);
  if (hooks_run(spec, SPEC_HOOK_POSTSTART, json, &err) < 0)
    nook_warn("%s", err.msg);
}

int container_start(const char *root, const char *id, nook_error *err) {
  _cleanup_container_ struct container c = {.dirfd = -1};
  int r = container_load(root, id, &c, err);
  if (r < 0)
    return r;
  _cleanup_close_ int lock = state_lock(c.dirfd, err);
  if (lock < 0)
    return lock;
  c.status = state_status(c.dirfd, &c.state);
  if (c.status != STATUS_CREATED)
    return nook_errx(err, EINVAL, "cannot start a container that is %s: \"%s\" must be created",
                     state_status_name(c.status), id);
  r = release_init(c.dirfd, id, err);
  if (r < 0)
    return r;
  run_poststart(c.dirfd, &c.state, NULL);
  return 0;
}

/* ---- load, kill, delete ---- */

int container_load(const char *root, const char *id, struct container *c, nook_error *err) {
  c->dirfd = state_dir_open(root, id, err);
  if (c->dirfd < 0)
    return c->dirfd;
  int r = state_load(c->dirfd, id, &c->state, err);
  if (r < 0)
    return r;
  c->status = state_status(c->dirfd, &c->state);
  return 0;
}

void container_release(struct container *c) {
  state_clear(&c->state);
  if (c->dirfd >= 0)
    close(c->dirfd);
  c->dirfd = -1;
}

int container_load_for(const char *root, const char *id, const char *command, unsigned allowed,
                       struct container *c, nook_error *err) {
  int r = container_load(root, id, c, err);
  if (r < 0)
    return r;
  if (!(allowed & (1u << c->status)))
    return nook_errx(err, EINVAL, "cannot %s container \"%s\": it is %s", command, id,
                     state_status_name(c->status));
  return 0;
}

/* Signals the init through a pidfd checked against the recorded start time,
 * so a recycled pid is never signalled. */
static int signal_init(const struct container_state *st, int sig) {
  _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, st->pid, 0);
  if (pidfd < 0)
    return -errno;
  if (!pid_is_same_process(st->pid, st->pid_start_time))
    return -ESRCH;
  if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
    return -errno;
  return 0;
}

int container_kill(const char *root, const char *id, int sig, bool all, nook_error *err) {
  _cleanup_container_ struct container c = {.dirfd = -1};
  int r = container_load(root, id, &c, err);
  if (r < 0)
    return r;
  struct cgroup_handle h = state_cgroup(&c.state);
  /* --all reaches what a stopped init left in the cgroup (without a pid
   * namespace its children outlive it): containerd kills them so after the
   * exit, and runc answers it. */
  if (all && c.state.cgroup_path && (c.status != STATUS_STOPPED || cgroup_handle_active(&h))) {
    r = cgroup_kill_all(&h, sig, err);
    /* with the last process the cgroup may be gone: nothing was left */
    return r == -ENOENT && c.status == STATUS_STOPPED ? 0 : r;
  }
  /* containerd matches "container not running" to treat the kill of an
   * exited task as done (its shim's checkKillError). */
  if (c.status == STATUS_STOPPED)
    return nook_errx(err, ESRCH, "cannot signal \"%s\": container not running", id);
  r = signal_init(&c.state, sig);
  if (r == -ESRCH)
    return nook_errx(err, ESRCH, "cannot signal \"%s\": container not running", id);
  if (r < 0)
    return nook_err(err, -r, "signal container \"%s\"", id);
  return 0;
}

static int wait_gone(const struct container_state *st, int timeout_ms) {
  _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, st->pid, 0);
  if (pidfd < 0)
    return 0;
  if (!pid_is_same_process(st->pid, st->pid_start_time))
    return 0;
  struct pollfd p = {.fd = pidfd, .events = POLLIN};
  int n;
  do
    n = poll(&p, 1, timeout_ms);
  while (n < 0 && errno == EINTR);
  return n > 0 ? 0 : -ETIMEDOUT;
}

static void run_poststop(int dirfd, struct container_state *st) {
  _cleanup_spec_ struct spec *spec = NULL;
  nook_error err;
  if (load_spec_of(dirfd, st, &spec, &err) < 0 || !spec->hooks[SPEC_HOOK_POSTSTOP].n)
    return;
  _cleanup_free_ char *json = state_to_oci_json(st, STATUS_STOPPED, false);
  if (hooks_run(spec, SPEC_HOOK_POSTSTOP, json, &err) < 0)
    nook_warn("%s", err.msg);
}

/* A create killed after it made the container's cgroup but before it
 * recorded it: cgroupfs's node beside the creator's own cgroup, or the
 * default systemd scope in the user manager's user.slice (a scope whose
 * init died before systemd moved it stays active, empty, for ever). */
static bool adopt_unrecorded_cgroup(struct container_state *st, const char *id) {
  const char *creator = st->creator_cgroup;
  const char *slash = creator ? strrchr(creator, '/') : NULL;
  if (!slash)
    return false;
  _cleanup_free_ char *node = xasprintf("%.*s/nook-%s", (int)(slash - creator), creator, id);
  _cleanup_free_ char *dir = xasprintf(CGROUP_MOUNT "%s", node);
  if (access(dir, F_OK) == 0) {
    st->cgroup_path = steal_pointer(&node);
    st->cgroup_manager = xstrdup("cgroupfs");
    return true;
  }
  const char *manager = strstr(creator, "/user@");
  const char *end = manager ? strstr(manager, ".service") : NULL;
  if (!end)
    return false;
  end += strlen(".service");
  _cleanup_free_ char *scope = xasprintf("%.*s/user.slice/nook-%s.scope",
                                         (int)(end - creator), creator, id);
  _cleanup_free_ char *scope_dir = xasprintf(CGROUP_MOUNT "%s", scope);
  if (access(scope_dir, F_OK) < 0)
    return false;
  st->cgroup_path = steal_pointer(&scope);
  st->cgroup_manager = xstrdup("systemd");
  st->cgroup_unit = xasprintf("nook-%s.scope", id);
  return true;
}

int container_delete(const char *root, const char *id, bool force, nook_error *err) {
  _cleanup_close_ int dirfd = state_dir_open(root, id, err);
  if (dirfd < 0)
    return dirfd;
  _cleanup_close_ int lock = state_lock(dirfd, err);
  if (lock < 0)
    return lock;
  struct container_state st;
  int r = state_load(dirfd, id, &st, err);
  if (r == -ENOENT && !force)
    /* A create killed before it wrote any state left only the directory. */
    return nook_errx(err, EINVAL,
                     "container \"%s\" has no state (its creation was interrupted): use "
                     "delete --force",
                     id);
  if (r < 0 && !force)
    return r;
  if (r < 0) {
    /* Without a readable state nook cannot find the processes: say so
     * rather than pretend they were stopped. */
    if (r != -ENOENT)
      nook_warn("the state of container \"%s\" is unreadable, so it was removed without "
                "stopping its processes: any still running must be killed by hand",
                id);
    return state_dir_remove(root, id, err);
  }
  enum container_status status = state_status(dirfd, &st);
  if (!st.cgroup_manager && st.creating)
    adopt_unrecorded_cgroup(&st, id);
  struct cgroup_handle h = state_cgroup(&st);
  cgroup_connect_early_to_destroy(&h);
  if (status != STATUS_STOPPED) {
    if (!force && status != STATUS_CREATED) {
      r = nook_errx(err, EBUSY,
                    "cannot delete container \"%s\" that is not stopped: %s (use delete --force)",
                    id, state_status_name(status));
      state_clear(&st);
      return r;
    }
    if (st.cgroup_path && st.cgroup_manager && strcmp(st.cgroup_manager, "disabled") != 0) {
      nook_error ignored;
      if (status == STATUS_PAUSED)
        cgroup_freeze(&h, false, &ignored);
      cgroup_kill_all(&h, SIGKILL, &ignored);
    }
    signal_init(&st, SIGKILL);
    if (wait_gone(&st, 10000) < 0) {
      r = nook_errx(err, ETIMEDOUT, "container \"%s\" did not die after SIGKILL", id);
      state_clear(&st);
      return r;
    }
  }
  nook_error warn;
  if (st.net_helper_pid > 0) {
    _cleanup_free_ char *dir = xasprintf("%s/%s", root, id);
    if (net_teardown(st.net_helper_pid, dir, &warn) < 0)
      nook_warn("%s", warn.msg);
  }
  nook_stage("delete: network stopped");
  if (st.cgroup_manager && cgroup_destroy(&h, &warn) < 0)
    nook_warn("%s", warn.msg);
  nook_stage("delete: cgroup removed");
  run_poststop(dirfd, &st);
  state_clear(&st);
  return state_dir_remove(root, id, err);
}

/* ---- run ---- */

static int relay(int from, int to) {
  char buf[16384];
  ssize_t n = read(from, buf, sizeof(buf));
  if (n <= 0)
    return n < 0 && (errno == EINTR || errno == EAGAIN) ? 1 : 0;
  return write_all(to, buf, (size_t)n) < 0 ? 0 : 1;
}

/* Waits for the init, forwarding signals to it and relaying its terminal.
 * Returns its exit status as a shell reports it. */
int container_supervise(pid_t pid, int sigfd, int master) {
  bool stdin_open = master >= 0;
  bool tty = master >= 0 && isatty(STDIN_FILENO);
  if (tty) {
    terminal_copy_size(STDIN_FILENO, master);
    terminal_set_raw(STDIN_FILENO);
  }
  int status = 0;
  for (;;) {
    struct pollfd fds[3] = {{.fd = sigfd, .events = POLLIN},
                            {.fd = master, .events = POLLIN},
                            {.fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN}};
    int n = poll(fds, 3, -1);
    if (n < 0 && errno != EINTR)
      break;
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (!relay(master, STDOUT_FILENO))
        master = -1; /* EIO: the last holder of the slave is gone */
    }
    if (fds[2].revents & (POLLIN | POLLHUP)) {
      if (!relay(STDIN_FILENO, master))
        stdin_open = false;
    }
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sigfd, &si, sizeof(si)) != sizeof(si))
        continue;
      if (si.ssi_signo == SIGCHLD) {
        /* SIGCHLDs merge: reap every child that ended, keeping the init's
         * status when it is among them (a short command can end between a
         * helper's exit and this loop). */
        bool init_done = false;
        int st;
        pid_t w;
        while ((w = waitpid(-1, &st, WNOHANG)) > 0)
          if (w == pid) {
            status = st;
            init_done = true;
          }
        if (init_done) {
          while (master >= 0 && relay(master, STDOUT_FILENO))
            ;
          break;
        }
      } else if (si.ssi_signo == SIGWINCH) {
        if (tty)
          terminal_copy_size(STDIN_FILENO, master);
      } else {
        kill(pid, (int)si.ssi_signo);
      }
    }
  }
  terminal_restore();
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

void container_forwarded_signals(sigset_t *set) {
  sigfillset(set);
  sigdelset(set, SIGKILL);
  sigdelset(set, SIGSTOP);
  sigdelset(set, SIGSEGV);
  sigdelset(set, SIGBUS);
  sigdelset(set, SIGFPE);
  sigdelset(set, SIGILL);
}

int container_run(const struct create_options *o, nook_error *err) {
  /* Signals wait in a signalfd from before the init exists, so none is lost
   * between its creation and the relay loop. */
  sigset_t forward, saved;
  container_forwarded_signals(&forward);
  bool foreground = !o->detach;
  if (foreground)
    sigprocmask(SIG_BLOCK, &forward, &saved);
  else
    sigprocmask(SIG_SETMASK, NULL, &saved);

  struct creation c = {.opts = o, .dirfd = -1, .fifo_read = -1, .fifo_write = -1, .err = err,
                       .init = {.sync_fd = -1, .pty_master = -1},
                       .net = NET_HELPER_NONE};
  int r = creation_run(&c, foreground, &saved);
  if (r == 0)
    r = release_init(c.dirfd, o->id, err);
  if (r < 0) {
    creation_undo(&c);
    creation_free(&c);
    sigprocmask(SIG_SETMASK, &saved, NULL);
    return r;
  }
  nook_stage("released");
  run_poststart(c.dirfd, &c.st, c.spec);
  if (!foreground) {
    creation_free(&c);
    return 0;
  }
  if (!o->keep || o->removed_after)
    cgroup_connect_early_to_destroy(&c.cgroup);
  _cleanup_close_ int sigfd = signalfd(-1, &forward, SFD_CLOEXEC);
  int status = container_supervise(c.init.pid, sigfd, c.init.pty_master);
  nook_stage("init exited");
  if (o->keep) {
    /* A kept container says how it ended. */
    c.st.has_exit_status = true;
    c.st.exit_status = status;
    nook_error serr;
    if (state_save(c.dirfd, &c.st, &serr) < 0)
      nook_warn("%s", serr.msg);
  }
  c.init.pid = 0; /* reaped by container_supervise */
  creation_free(&c);
  if (!o->keep) {
    nook_error derr;
    if (container_delete(o->root, o->id, true, &derr) < 0)
      nook_warn("%s", derr.msg);
  }
  sigprocmask(SIG_SETMASK, &saved, NULL);
  return status;
}
