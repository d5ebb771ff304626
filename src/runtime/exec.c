#include "exec.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "container.h"
#include "linux.h"
#include "log.h"
#include "process-security.h"
#include "seccomp-filter.h"
#include "terminal.h"
#include "util.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static int load_config(const struct container *c, struct spec **spec, nook_error *err) {
  _cleanup_free_ char *text = NULL;
  int r = read_file_at(c->dirfd, STATE_CONFIG_NAME, &text, NULL, err);
  if (r < 0)
    return nook_err_prefix(err, r, "container \"%s\": its saved config", c->state.id);
  return spec_parse(text, c->state.bundle, spec, err);
}

static void env_set(char ***env, const char *kv) {
  size_t klen = strcspn(kv, "=");
  for (size_t i = 0; *env && (*env)[i]; i++) {
    if (strncmp((*env)[i], kv, klen) == 0 && (*env)[i][klen] == '=') {
      free((*env)[i]);
      (*env)[i] = xstrdup(kv);
      return;
    }
  }
  strv_push(env, kv);
}

static void caps_add(char ***set, const char *cap) {
  if (!strv_contains(*set, cap))
    strv_push(set, cap);
}

int exec_process_from_config(const char *root, const char *id, const struct exec_changes *ch,
                             struct spec_process *p, nook_error *err) {
  _cleanup_container_ struct container c = {.dirfd = -1};
  int r = container_load(root, id, &c, err);
  if (r < 0)
    return r;
  _cleanup_spec_ struct spec *spec = NULL;
  if ((r = load_config(&c, &spec, err)) < 0)
    return r;
  *p = spec->process;
  memset(&spec->process, 0, sizeof(spec->process));
  strv_free(p->args);
  p->args = strv_dup(ch->args);
  /* a terminal only when asked for, whatever the container's process had */
  p->terminal = false;
  exec_apply_changes(p, ch);
  return 0;
}

void exec_apply_changes(struct spec_process *p, const struct exec_changes *ch) {
  for (size_t i = 0; ch->env && ch->env[i]; i++)
    env_set(&p->env, ch->env[i]);
  if (ch->cwd) {
    free(p->cwd);
    p->cwd = xstrdup(ch->cwd);
  }
  if (ch->has_user) {
    p->user.uid = ch->uid;
    if (ch->has_gid)
      p->user.gid = ch->gid;
    /* the container's supplementary groups belong to its user */
    free(p->user.additional_gids);
    p->user.additional_gids = NULL;
    p->user.n_additional_gids = 0;
  }
  if (ch->n_additional_gids) {
    p->user.additional_gids =
        xrealloc(p->user.additional_gids,
                 (p->user.n_additional_gids + ch->n_additional_gids) * sizeof(uint32_t));
    memcpy(p->user.additional_gids + p->user.n_additional_gids, ch->additional_gids,
           ch->n_additional_gids * sizeof(uint32_t));
    p->user.n_additional_gids += ch->n_additional_gids;
  }
  if (ch->caps && ch->caps[0]) {
    if (!p->capabilities)
      p->capabilities = xcalloc(1, sizeof(*p->capabilities));
    for (size_t i = 0; ch->caps[i]; i++) {
      _cleanup_free_ char *name = str_has_prefix(ch->caps[i], "CAP_")
                                      ? xstrdup(ch->caps[i])
                                      : xasprintf("CAP_%s", ch->caps[i]);
      caps_add(&p->capabilities->bounding, name);
      caps_add(&p->capabilities->effective, name);
      caps_add(&p->capabilities->permitted, name);
      caps_add(&p->capabilities->inheritable, name);
      caps_add(&p->capabilities->ambient, name);
    }
  }
  if (ch->tty)
    p->terminal = true;
  if (ch->no_new_privs)
    p->no_new_privileges = true;
}

/* ---- the process ---- */

/* The container's namespaces in the order they are joined: the user
 * namespace first, which gives the capabilities to join the others. */
static const struct {
  const char *name;
  int flag;
} ns_order[] = {
    {"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS},     {"pid", CLONE_NEWPID},
    {"net", CLONE_NEWNET},   {"ipc", CLONE_NEWIPC},    {"uts", CLONE_NEWUTS},
    {"cgroup", CLONE_NEWCGROUP}, {"time", CLONE_NEWTIME},
};

struct exec_target {
  int ns_fds[ARRAY_SIZE(ns_order)];
  int rootfd;
  int cgroup_procs; /* -1: no cgroup to join */
  bool cgroup_join_optional;
};

static void exec_target_close(struct exec_target *t) {
  for (size_t i = 0; i < ARRAY_SIZE(ns_order); i++)
    if (t->ns_fds[i] >= 0)
      close(t->ns_fds[i]);
  if (t->rootfd >= 0)
    close(t->rootfd);
  if (t->cgroup_procs >= 0)
    close(t->cgroup_procs);
}

static bool same_file(const char *a, const char *b) {
  struct stat sa, sb;
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

/* Opens what the new process joins, from the runtime's view, before it
 * leaves it: the init's namespaces that differ from ours, its root, and the
 * container's cgroup. */
static int exec_target_open(const struct container *c, const char *sub_cgroup,
                            struct exec_target *t, nook_error *err) {
  pid_t pid = c->state.pid;
  for (size_t i = 0; i < ARRAY_SIZE(ns_order); i++) {
    char theirs[64], ours[64];
    snprintf(theirs, sizeof(theirs), "/proc/%d/ns/%s", pid, ns_order[i].name);
    snprintf(ours, sizeof(ours), "/proc/self/ns/%s", ns_order[i].name);
    if (access(theirs, F_OK) < 0 || same_file(theirs, ours))
      continue;
    t->ns_fds[i] = open(theirs, O_RDONLY | O_CLOEXEC);
    if (t->ns_fds[i] < 0)
      return nook_err(err, errno, "open the %s namespace of container \"%s\"", ns_order[i].name,
                      c->state.id);
  }
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/root", pid);
  t->rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (t->rootfd < 0)
    return nook_err(err, errno, "open the root of container \"%s\"", c->state.id);
  /* The pid must still be the container's init (not a recycled one). */
  if (!pid_is_same_process(pid, c->state.pid_start_time))
    return nook_errx(err, ESRCH, "container \"%s\" is not running", c->state.id);

  const char *cg = c->state.cgroup_path;
  if (cg && *cg && (!c->state.cgroup_manager || strcmp(c->state.cgroup_manager, "disabled"))) {
    const char *rel = cg + (cg[0] == '/');
    _cleanup_free_ char *procs =
        sub_cgroup ? xasprintf("%s/%s/%s/cgroup.procs", CGROUP_MOUNT, rel, sub_cgroup)
                   : xasprintf("%s/%s/cgroup.procs", CGROUP_MOUNT, rel);
    t->cgroup_procs = open(procs, O_WRONLY | O_CLOEXEC);
    if (t->cgroup_procs < 0 && sub_cgroup && errno == ENOENT)
      return nook_errx(err, ENOENT, "--cgroup %s: container \"%s\" has no such sub-cgroup "
                                    "(%s/%s/%s does not exist; make it first, as with runc)",
                       sub_cgroup, c->state.id, CGROUP_MOUNT, rel, sub_cgroup);
    if (t->cgroup_procs < 0)
      return nook_err(err, errno, "open `%s` to join the container's cgroup", procs);
    t->cgroup_join_optional = linux_running_rootless() && !sub_cgroup;
  } else if (sub_cgroup) {
    return nook_errx(err, EINVAL, "--cgroup %s: container \"%s\" has no cgroup", sub_cgroup,
                     c->state.id);
  }
  return 0;
}

enum exec_msg_type { EXEC_MSG_PID = 1, EXEC_MSG_PTY, EXEC_MSG_ERROR };

struct exec_msg {
  int type;
  pid_t pid;
  int code;
  char text[2048];
};

static void send_msg(int sock, int type, pid_t pid, const nook_error *err) {
  struct exec_msg m = {.type = type, .pid = pid};
  if (err) {
    m.code = err->code;
    snprintf(m.text, sizeof(m.text), "%s", err->msg);
  }
  ssize_t n;
  do
    n = send(sock, &m, sizeof(m), MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
}

__attribute__((noreturn)) static void fail_child(int sock, nook_error *err) {
  send_msg(sock, EXEC_MSG_ERROR, 0, err);
  _exit(err->code == ENOENT ? 127 : 126);
}

/* The last process: already in every namespace; opens its terminal, then
 * becomes the user's process. */
__attribute__((noreturn)) static void exec_final(int sock, const struct exec_options *o,
                                                 const struct seccomp_program *seccomp) {
  const struct spec_process *p = o->process;
  nook_error err;
  nook_err_clear(&err);
  if (p->terminal) {
    int master, slave;
    _cleanup_free_ char *slave_path = NULL;
    if (terminal_open_pty(&master, &slave, &slave_path, p->console_height, p->console_width,
                          &err) < 0)
      fail_child(sock, &err);
    send_msg(sock, EXEC_MSG_PTY, 0, NULL);
    if (send_fd(sock, master, "pty") < 0)
      _exit(126);
    close(master);
    if (terminal_make_controlling(slave, &err) < 0)
      fail_child(sock, &err);
    if (slave > STDERR_FILENO)
      close(slave);
  }
  const char *cwd = p->cwd && *p->cwd ? p->cwd : "/";
  if (chdir(cwd) < 0) {
    nook_err(&err, errno, "exec: cwd `%s`", cwd);
    fail_child(sock, &err);
  }
  _cleanup_free_ char *exe = NULL;
  if (linux_resolve_executable(p, &exe, &err) < 0)
    fail_child(sock, &err);
  char **env = linux_process_env(p);
  if (process_apply_security(p, seccomp, process_can_setgroups(), &err) < 0)
    fail_child(sock, &err);
  /* Only stdio and the fds asked for cross into the process; the message
   * socket closes on exec, which tells the runtime it worked. */
  syscall(SYS_close_range, 3 + o->preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC);
  fcntl(sock, F_SETFD, FD_CLOEXEC);
  execve(exe, p->args, env);
  nook_err(&err, errno, "exec `%s`", exe);
  fail_child(sock, &err);
}

/* The first child: joins the cgroup, the namespaces and the root, then
 * forks, as a pid namespace only takes effect for children. */
__attribute__((noreturn)) static void exec_child(int sock, const struct exec_options *o,
                                                 const struct seccomp_program *seccomp,
                                                 struct exec_target *t,
                                                 const sigset_t *saved_mask) {
  nook_error err;
  nook_err_clear(&err);
  sigprocmask(SIG_SETMASK, saved_mask, NULL);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (t->cgroup_procs >= 0 && write(t->cgroup_procs, "0", 1) != 1) {
    if (!t->cgroup_join_optional) {
      nook_err(&err, errno, "join the container's cgroup");
      fail_child(sock, &err);
    }
    nook_warn("exec: could not join the container's cgroup (%s); the process runs outside it",
              strerror(errno));
  }
  for (size_t i = 0; i < ARRAY_SIZE(ns_order); i++) {
    if (t->ns_fds[i] < 0)
      continue;
    if (setns(t->ns_fds[i], ns_order[i].flag) < 0) {
      nook_err(&err, errno, "join the container's %s namespace", ns_order[i].name);
      fail_child(sock, &err);
    }
  }
  /* Also right for a container entered with chroot (--no-pivot), whose
   * mount namespace root is not its root. */
  if (fchdir(t->rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0) {
    nook_err(&err, errno, "enter the container's root");
    fail_child(sock, &err);
  }
  pid_t pid = fork();
  if (pid < 0) {
    nook_err(&err, errno, "fork into the container's pid namespace");
    fail_child(sock, &err);
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, 0);
    exec_final(sock, o, seccomp);
  }
  send_msg(sock, EXEC_MSG_PID, pid, NULL);
  _exit(0);
}

/* Reads the child's messages until the socket closes (the process exec'd):
 * its pid, its terminal, or why it failed. */
static int exec_wait_started(int sock, pid_t *pid, int *master, nook_error *err) {
  for (;;) {
    struct exec_msg m;
    ssize_t n = recv(sock, &m, sizeof(m), 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return nook_err(err, errno, "exec: read from the new process");
    if (n == 0)
      break;
    if ((size_t)n != sizeof(m))
      return nook_errx(err, EIO, "exec: short message from the new process");
    if (m.type == EXEC_MSG_PID) {
      *pid = m.pid;
    } else if (m.type == EXEC_MSG_PTY) {
      int fd = recv_fd(sock);
      if (fd < 0)
        return nook_err(err, -fd, "exec: receive the terminal");
      *master = fd;
    } else if (m.type == EXEC_MSG_ERROR) {
      int r = nook_errx(err, m.code > 0 ? m.code : EIO, "%s", m.text);
      err->exit_status = m.code == ENOENT ? 127 : 126;
      return r;
    }
  }
  if (*pid <= 0)
    return nook_errx(err, EIO, "exec: the new process did not start");
  return 0;
}

int exec_run(const struct exec_options *o, nook_error *err) {
  const struct spec_process *p = o->process;
  if (!p->args || !p->args[0])
    return nook_errx(err, EINVAL, "exec: no command given: name one after the container id, "
                                  "or pass --process FILE with process.args");
  if (p->terminal && o->detach && !o->console_socket)
    return nook_errx(err, EINVAL, "exec: --tty with --detach needs --console-socket to receive "
                                  "the terminal");
  if (!p->terminal && o->console_socket)
    return nook_errx(err, EINVAL, "exec: --console-socket is for --tty (or process.terminal)");

  _cleanup_container_ struct container c = {.dirfd = -1};
  int r = container_load(o->root, o->id, &c, err);
  if (r < 0)
    return r;
  if (c.status == STATUS_PAUSED && !o->ignore_paused)
    return nook_errx(err, EINVAL,
                     "cannot exec in container \"%s\": it is paused (nook resume %s, or exec "
                     "--ignore-paused to start the process when it resumes)",
                     o->id, o->id);
  if (c.status != STATUS_RUNNING && c.status != STATUS_CREATED && c.status != STATUS_PAUSED)
    return nook_errx(err, EINVAL, "cannot exec in container \"%s\": it is %s", o->id,
                     state_status_name(c.status));
  _cleanup_spec_ struct spec *spec = NULL;
  if ((r = load_config(&c, &spec, err)) < 0)
    return r;
  /* the container's own settings were warned about at create */
  process_warn_unapplied_lsm(p, &spec->process);

  /* Compiled before anything starts, so a bad profile fails here; create
   * cached the container's profile, so this is normally a cache hit. */
  __attribute__((cleanup(seccomp_program_clear))) struct seccomp_program seccomp = {0};
  _cleanup_free_ char *seccomp_cache = seccomp_cache_dir(o->root);
  if (spec->seccomp &&
      (r = seccomp_program_prepare(spec->seccomp, seccomp_cache, &seccomp, err)) < 0)
    return r;

  struct exec_target t = {.rootfd = -1, .cgroup_procs = -1};
  for (size_t i = 0; i < ARRAY_SIZE(ns_order); i++)
    t.ns_fds[i] = -1;
  r = exec_target_open(&c, o->sub_cgroup, &t, err);
  if (r < 0) {
    exec_target_close(&t);
    return r;
  }

  /* The process outlives its first parent; as a subreaper nook can still
   * wait for it in the foreground. */
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  sigset_t forward, saved;
  container_forwarded_signals(&forward);
  sigprocmask(SIG_BLOCK, &forward, &saved);

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    r = nook_err(err, errno, "socketpair");
    exec_target_close(&t);
    sigprocmask(SIG_SETMASK, &saved, NULL);
    return r;
  }
  fflush(NULL);
  pid_t child = fork();
  if (child < 0) {
    r = nook_err(err, errno, "fork");
    close(sv[0]);
    close(sv[1]);
    exec_target_close(&t);
    sigprocmask(SIG_SETMASK, &saved, NULL);
    return r;
  }
  if (child == 0) {
    close(sv[0]);
    exec_child(sv[1], o, spec->seccomp ? &seccomp : NULL, &t, &saved);
  }
  close(sv[1]);
  exec_target_close(&t);
  _cleanup_close_ int sock = sv[0];
  pid_t pid = 0;
  _cleanup_close_ int master = -1;
  r = exec_wait_started(sock, &pid, &master, err);
  int status;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR)
    ;
  if (r < 0) {
    if (pid > 0)
      kill(pid, SIGKILL);
    sigprocmask(SIG_SETMASK, &saved, NULL);
    return r;
  }
  if (master >= 0 && o->console_socket) {
    r = console_socket_send(o->console_socket, master, err);
    close(master);
    master = -1;
    if (r < 0) {
      kill(pid, SIGKILL);
      sigprocmask(SIG_SETMASK, &saved, NULL);
      return r;
    }
  }
  if (o->pid_file && (r = container_write_pid_file(o->pid_file, pid, err)) < 0) {
    kill(pid, SIGKILL);
    sigprocmask(SIG_SETMASK, &saved, NULL);
    return r;
  }
  if (o->detach) {
    sigprocmask(SIG_SETMASK, &saved, NULL);
    return 0;
  }
  _cleanup_close_ int sigfd = signalfd(-1, &forward, SFD_CLOEXEC);
  if (sigfd < 0) {
    sigprocmask(SIG_SETMASK, &saved, NULL);
    return nook_err(err, errno, "signalfd");
  }
  int exit_status = container_supervise(pid, sigfd, master);
  sigprocmask(SIG_SETMASK, &saved, NULL);
  return exit_status;
}
