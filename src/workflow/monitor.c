/* A detached container's monitor: one small process per container, away
 * from the caller's session, that is the parent of the container's init (so
 * it alone gets the exit status), writes the container's output to a log
 * with a timestamp per line, and records the end in the state. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "container.h"
#include "log.h"
#include "net/net.h"
#include "util.h"
#include "workflow.h"

/* The logger: reads both pipes until every writer closed them. */
static void logger_main(int out, int errp, int logfd) {
  struct log_stream s[2] = {{.fd = out, .name = "stdout"}, {.fd = errp, .name = "stderr"}};
  int open_streams = 2;
  while (open_streams) {
    struct pollfd p[2] = {{.fd = s[0].fd, .events = POLLIN}, {.fd = s[1].fd, .events = POLLIN}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      ssize_t n = read(s[i].fd, s[i].buf + s[i].len, sizeof(s[i].buf) - s[i].len);
      if (n <= 0) {
        if (n < 0 && errno == EINTR)
          continue;
        log_stream_flush(logfd, &s[i], true);
        close(s[i].fd);
        s[i].fd = -1;
        open_streams--;
        continue;
      }
      s[i].len += (size_t)n;
      log_stream_flush(logfd, &s[i], false);
    }
  }
}

static void report(int fd, int code, const char *msg) {
  _cleanup_free_ char *text = xasprintf("%d %s", code, msg);
  write_all(fd, text, strlen(text));
  close(fd);
}

/* Waits for the logger, not forever: something that escaped the container
 * could hold its pipes open. */
static void wait_logger(pid_t logger) {
  for (int i = 0; i < 300; i++) {
    pid_t w = waitpid(logger, NULL, WNOHANG);
    if (w == logger || (w < 0 && errno == ECHILD))
      return;
    struct timespec t = {0, 10 * 1000 * 1000};
    nanosleep(&t, NULL);
  }
  kill(logger, SIGKILL);
  waitpid(logger, NULL, 0);
}

static void net_down(const char *root, const char *id) {
  launch_record_exit(root, id, -1);
}

static __attribute__((noreturn)) void monitor_main(const char *root, const char *id,
                                                   const char *bundle, struct nook_globals g,
                                                   bool rm, bool tty, int report_fd) {
  /* nothing of the caller's stdio stays open here: a caller reading our
   * output (`id=$(nook launch -d ...)`) waits for every holder to close */
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  dup2(null, STDIN_FILENO);
  dup2(null, STDOUT_FILENO);
  dup2(null, STDERR_FILENO);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  /* a long-lived process keeps no directory of the caller's busy */
  if (chdir("/") < 0)
    _exit(1);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  _cleanup_free_ char *log_path = xasprintf("%s/" LAUNCH_LOG_NAME, bundle);
  int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  int out[2], errp[2];
  if (logfd < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
    report(report_fd, errno, "monitor: open the container's log");
    _exit(1);
  }
  pid_t logger = fork();
  if (logger == 0) {
    close(out[1]);
    close(errp[1]);
    close(report_fd);
    logger_main(out[0], errp[0], logfd);
    _exit(0);
  }
  close(out[0]);
  close(errp[0]);
  close(logfd);
  dup2(out[1], STDOUT_FILENO);
  dup2(errp[1], STDERR_FILENO);
  close(out[1]);
  close(errp[1]);

  struct create_options co = {.root = root, .id = id, .bundle = bundle};
  cli_cgroup_options(&g, &co);
  nook_error err;
  nook_err_clear(&err);
  int r = 0;
  struct tty_console console = {.listen_fd = -1, .dirfd = -1};
  struct tty_relay relay = {.pid = 0, .exit_fd = -1};
  if (tty)
    r = tty_console_listen(bundle, &console, &err);
  co.console_socket = console.path;
  if (r == 0)
    r = container_create(&co, &err);
  if (r == 0 && tty)
    r = tty_relay_start(root, id, bundle, console.listen_fd, &relay, &err);
  tty_console_close(&console);
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
  /* the monitor's own copies of the pipes go, so the logger sees the end */
  dup2(null, STDOUT_FILENO);
  dup2(null, STDERR_FILENO);
  if (r < 0) {
    report(report_fd, err.code ? err.code : 1, err.msg);
    nook_error e;
    container_delete(root, id, true, &e);
    wait_logger(logger);
    tty_relay_exit(&relay, -1);
    if (relay.pid > 0)
      wait_logger(relay.pid);
    _exit(1);
  }
  report(report_fd, 0, "");

  int status = 0, code = -1;
  for (;;) {
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
  wait_logger(logger);
  tty_relay_exit(&relay, code < 0 ? 255 : code);
  if (relay.pid > 0)
    wait_logger(relay.pid);
  if (rm) {
    nook_error e;
    launch_remove(root, id, true, &e);
  } else {
    launch_record_exit(root, id, code < 0 ? 255 : code);
  }
  _exit(0);
}

int monitor_launch(const char *root, const char *id, const char *bundle,
                   const struct nook_globals *g, bool rm, bool tty, nook_error *err) {
  int rep[2];
  if (pipe2(rep, O_CLOEXEC) < 0)
    return nook_err(err, errno, "pipe");
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    return nook_err(err, errno, "fork the monitor");
  if (pid == 0) {
    close(rep[0]);
    setsid();
    pid_t m = fork();
    if (m != 0)
      _exit(m < 0 ? 1 : 0);
    monitor_main(root, id, bundle, *g, rm, tty, rep[1]);
  }
  close(rep[1]);
  int status;
  waitpid(pid, &status, 0);
  _cleanup_free_ char *text = NULL;
  int r = read_all(rep[0], &text, NULL);
  close(rep[0]);
  if (r < 0 || !text || !*text)
    return nook_errx(err, EIO, "the monitor of container `%s` died before it started", id);
  char *space = strchr(text, ' ');
  int code = atoi(text);
  if (code == 0)
    return 0;
  nook_errx(err, code > 0 ? code : EIO, "%s", space ? space + 1 : "monitor failed");
  return -(code > 0 ? code : EIO);
}
