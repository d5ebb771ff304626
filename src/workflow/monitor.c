/* A detached container's monitor: one small process per container, away
 * from the caller's session, that is the parent of the container's init (so
 * it alone gets the exit status), hands the container's stdio to a relay
 * (attach-relay.c: the log with a timestamp per line, `nook attach`), and
 * records the end in the state.
 *
 * It reports to the launching nook on a SOCK_SEQPACKET pair, one message
 * "CODE MESSAGE" per report: 0 once the container runs (or, in the
 * foreground, once it is created: the launching nook attaches, then sends
 * any message for the monitor to start it, and reads a second report), or
 * an errno and what failed. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "container.h"
#include "log.h"
#include "net/net.h"
#include "util.h"
#include "workflow.h"

/* How long the monitor waits for the relay to log what is left once the
 * init is gone: something that escaped the container could hold its pipes
 * open. */
#define DRAIN_TIMEOUT_MS 3000

static void report(int fd, int code, const char *msg) {
  _cleanup_free_ char *text = xasprintf("%d %s", code, msg);
  send(fd, text, strlen(text), MSG_NOSIGNAL);
}

static void net_down(const char *root, const char *id) {
  launch_record_exit(root, id, -1);
}

/* The container's stdio: its stdout and stderr pipes (also the monitor's
 * own while it creates the container, for what hooks and helpers print)
 * and, with -i and no terminal, its stdin pipe. */
struct monitor_stdio {
  int out[2], err[2], in[2];
  int logfd;
};

static void stdio_close(struct monitor_stdio *s) {
  int *fds[] = {&s->out[0], &s->out[1], &s->err[0], &s->err[1], &s->in[0], &s->in[1], &s->logfd};
  for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
    if (*fds[i] >= 0) {
      close(*fds[i]);
      *fds[i] = -1;
    }
}

static int stdio_open(const char *bundle, bool stdin_pipe, struct monitor_stdio *s,
                      nook_error *err) {
  *s = (struct monitor_stdio){{-1, -1}, {-1, -1}, {-1, -1}, -1};
  _cleanup_free_ char *log_path = xasprintf("%s/" LAUNCH_LOG_NAME, bundle);
  s->logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (s->logfd < 0 || pipe2(s->out, O_CLOEXEC) < 0 || pipe2(s->err, O_CLOEXEC) < 0 ||
      (stdin_pipe && pipe2(s->in, O_CLOEXEC) < 0))
    return nook_err(err, errno, "monitor: open the container's log");
  dup2(s->out[1], STDOUT_FILENO);
  dup2(s->err[1], STDERR_FILENO);
  if (stdin_pipe)
    dup2(s->in[0], STDIN_FILENO);
  return 0;
}

/* The monitor's stdio back to /dev/null: its copies of the pipes go, so
 * the relay sees their end with the container's. */
static void stdio_release(int null) {
  dup2(null, STDIN_FILENO);
  dup2(null, STDOUT_FILENO);
  dup2(null, STDERR_FILENO);
}

/* Creates the container, its relay serving attach. */
static int create_attached(struct create_options *co, const struct monitor_options *mo,
                           struct monitor_stdio *io, struct attach_relay *relay,
                           nook_error *err) {
  struct tty_console console = {.listen_fd = -1, .dirfd = -1};
  int r = 0;
  if (mo->tty && (r = tty_console_listen(co->bundle, &console, err)) < 0)
    return r;
  co->console_socket = console.path;
  r = container_create(co, err);
  co->console_socket = NULL;
  _cleanup_close_ int master = -1;
  if (r == 0 && mo->tty)
    r = tty_console_receive(console.listen_fd, mo->rows, mo->cols, &master, err);
  tty_console_close(&console);
  if (r < 0)
    return r;
  _cleanup_close_ int listen_fd = attach_listen(co->root, co->id, err);
  if (listen_fd < 0)
    return listen_fd;
  struct attach_relay_fds fds = {.out = io->out[0], .err = io->err[0], .master = master,
                                 .stdin_w = io->in[1], .listen = listen_fd,
                                 .logfd = io->logfd};
  r = attach_relay_start(&fds, relay, err);
  /* the relay holds the only write end of the container's stdin */
  if (io->in[1] >= 0) {
    close(io->in[1]);
    io->in[1] = -1;
  }
  return r;
}

/* Foreground: the launching nook attaches, then says start; its end closed
 * first means it is gone (interrupted), and so is what it launched. */
static bool wait_for_start(int report_fd) {
  char go;
  ssize_t n;
  while ((n = recv(report_fd, &go, 1, 0)) < 0 && errno == EINTR)
    ;
  return n > 0;
}

/* The helpers the container lives on (its network, its FUSE rootfs) are our
 * children (we are their subreaper): one that dies leaves the container
 * running without what it served, which the user would otherwise never
 * learn. Read while the child is a zombie, whose name is still there. */
static void note_helper_death(const char *bundle, pid_t pid, const siginfo_t *si,
                              unsigned *noted) {
  _cleanup_free_ char *comm_path = xasprintf("/proc/%d/comm", (int)pid);
  _cleanup_free_ char *comm = NULL;
  nook_error ignored;
  if (read_file_at(AT_FDCWD, comm_path, &comm, NULL, &ignored) < 0)
    return;
  comm[strcspn(comm, "\n")] = '\0';
  const char *lost;
  unsigned kind;
  if (!strcmp(comm, "nook-net"))
    lost = "the container has no network any more", kind = 1;
  else if (str_has_prefix(comm, "nook-fuse-over"))
    lost = "the container's root filesystem is gone (its files read as errors)", kind = 2;
  else
    return;
  /* once: the rest of a helper's processes follow the first */
  if (*noted & kind)
    return;
  *noted |= kind;
  _cleanup_free_ char *how = si->si_code == CLD_EXITED
                                 ? xasprintf("exited with status %d", si->si_status)
                                 : xasprintf("was killed by signal %d", si->si_status);
  _cleanup_free_ char *line = xasprintf("nook: %s (pid %d) %s: %s; remove the container (nook "
                                        "rm -f) and launch it again", comm, (int)pid, how, lost);
  log_note(bundle, line);
}

static __attribute__((noreturn)) void monitor_main(const char *root, const char *id,
                                                   const char *bundle, struct nook_globals g,
                                                   struct monitor_options mo, int report_fd) {
  /* nothing of the caller's stdio stays open here: a caller reading our
   * output (`id=$(nook launch -d ...)`) waits for every holder to close */
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  /* nook's own warnings while the container is made (limits it cannot
   * apply...) are the launching user's to read, not the container's
   * output: they go to the launching nook's stderr until the last report */
  int caller_err = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  nook_log_set_stderr(caller_err);
  stdio_release(null);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  /* a long-lived process keeps no directory of the caller's busy */
  if (chdir("/") < 0)
    _exit(1);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  nook_error err;
  nook_err_clear(&err);
  struct monitor_stdio io;
  if (stdio_open(bundle, mo.interactive && !mo.tty, &io, &err) < 0) {
    report(report_fd, err.code, err.msg);
    _exit(1);
  }
  struct create_options co = {.root = root, .id = id, .bundle = bundle};
  cli_cgroup_options(&g, &co);
  struct attach_relay relay = {.pid = 0, .exit_fd = -1, .drained_fd = -1};
  int r = create_attached(&co, &mo, &io, &relay, &err);
  /* the relay has the read ends and the log; without one, nobody reads */
  stdio_close(&io);
  bool launcher_gone = false;
  if (r == 0 && mo.foreground) {
    report(report_fd, 0, "");
    launcher_gone = !wait_for_start(report_fd);
    if (launcher_gone)
      r = -ECANCELED;
  }
  if (r == 0)
    r = container_start(root, id, &err);
  pid_t init = 0;
  if (r == 0) {
    struct container c = {.dirfd = -1};
    r = container_load(root, id, &c, &err);
    if (r == 0)
      init = c.state.pid;
    container_release(&c);
  }
  stdio_release(null);
  nook_log_set_stderr(-1);
  if (caller_err >= 0)
    close(caller_err);
  if (r < 0) {
    if (!launcher_gone)
      report(report_fd, err.code ? err.code : 1, err.msg);
    nook_error e;
    if (launcher_gone)
      launch_remove(root, id, true, &e);
    else
      container_delete(root, id, true, &e);
    attach_relay_end(&relay, -1);
    _exit(1);
  }
  report(report_fd, 0, "");
  close(report_fd);

  int status = 0, code = -1;
  unsigned noted = 0;
  for (;;) {
    siginfo_t si = {0};
    /* (helpers also end when the container does: that is no news) */
    if (waitid(P_ALL, 0, &si, WEXITED | WNOWAIT) == 0 && si.si_pid != init &&
        !pid_is_exiting_or_gone(init))
      note_helper_death(bundle, si.si_pid, &si, &noted);
    pid_t w = waitpid(-1, &status, 0);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      break; /* ECHILD: the init went without telling */
    }
    if (w == init) {
      code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
      break;
    }
  }
  net_down(root, id);
  /* the log is whole before the end is recorded (nook wait, then nook
   * logs), and the end recorded before attached clients hear of it */
  attach_relay_wait_drained(&relay, DRAIN_TIMEOUT_MS);
  if (mo.rm) {
    nook_error e;
    launch_remove(root, id, true, &e);
  } else {
    launch_record_exit(root, id, code < 0 ? 255 : code);
  }
  attach_relay_end(&relay, code < 0 ? 255 : code);
  _exit(0);
}

/* Reads one report: 0, or the error it names. */
static int read_report(int fd, const char *id, nook_error *err) {
  char text[4096];
  ssize_t n;
  /* ECONNRESET: it left our start byte unread; its report may follow */
  while ((n = recv(fd, text, sizeof(text) - 1, 0)) < 0 &&
         (errno == EINTR || errno == ECONNRESET))
    ;
  if (n <= 0)
    return nook_errx(err, EIO, "the monitor of container `%s` died before it started", id);
  text[n] = '\0';
  char *space = strchr(text, ' ');
  int code = atoi(text);
  if (code == 0)
    return 0;
  nook_errx(err, code > 0 ? code : EIO, "%s", space ? space + 1 : "monitor failed");
  return -(code > 0 ? code : EIO);
}

int monitor_launch(const char *root, const char *id, const char *bundle,
                   const struct nook_globals *g, const struct monitor_options *mo, int *start_fd,
                   nook_error *err) {
  int rep[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rep) < 0)
    return nook_err(err, errno, "socketpair");
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(rep[0]);
    close(rep[1]);
    return nook_err(err, e, "fork the monitor");
  }
  if (pid == 0) {
    close(rep[0]);
    setsid();
    pid_t m = fork();
    if (m != 0)
      _exit(m < 0 ? 1 : 0);
    monitor_main(root, id, bundle, *g, *mo, rep[1]);
  }
  close(rep[1]);
  int status;
  waitpid(pid, &status, 0);
  _cleanup_close_ int fd = rep[0];
  int r = read_report(fd, id, err);
  if (r == 0 && mo->foreground)
    *start_fd = steal_fd(&fd);
  return r;
}

int monitor_start(int start_fd, const char *id, nook_error *err) {
  _cleanup_close_ int fd = start_fd;
  if (send(fd, "s", 1, MSG_NOSIGNAL) < 0)
    return nook_err(err, errno, "start container `%s`", id);
  return read_report(fd, id, err);
}
