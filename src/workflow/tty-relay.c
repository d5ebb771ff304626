/* The terminal of a detached container (launch -d -t): the monitor takes
 * the pty master through a console socket, as a runc client would, and
 * hands it to a relay process that logs everything the container writes
 * and serves `nook attach` clients on a socket in the container's state
 * dir. The relay ends when the container's side of the pty is gone.
 *
 * The attach protocol (SOCK_SEQPACKET, a type byte heading each message):
 * from the client, ATTACH_MSG_INPUT + bytes for the terminal or
 * ATTACH_MSG_RESIZE + struct winsize; from the relay, ATTACH_MSG_OUTPUT +
 * the terminal's output as it comes, and once the container ended,
 * ATTACH_MSG_EXIT + its exit code (a --rm container leaves no state to
 * read it from). */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "container.h"
#include "terminal.h"
#include "util.h"
#include "workflow.h"

#define CONSOLE_SOCKET_NAME "console.sock"
#define MAX_CLIENTS 16
#define PARTIAL_LINE_MS 200

/* A unix socket path through /proc/self/fd, which stays short whatever the
 * length of the directory's own path (sun_path has 108 bytes). */
static int unix_addr_at(int dirfd, const char *name, struct sockaddr_un *addr,
                        nook_error *err) {
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  int n = snprintf(addr->sun_path, sizeof(addr->sun_path), "/proc/self/fd/%d/%s", dirfd, name);
  if (n < 0 || (size_t)n >= sizeof(addr->sun_path))
    return nook_errx(err, ENAMETOOLONG, "socket name `%s` is too long", name);
  return 0;
}

static int listen_at(int dirfd, const char *name, int type, nook_error *err) {
  struct sockaddr_un addr;
  int r = unix_addr_at(dirfd, name, &addr, err);
  if (r < 0)
    return r;
  _cleanup_close_ int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return nook_err(err, errno, "socket");
  unlinkat(dirfd, name, 0);
  if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 8) < 0)
    return nook_err(err, errno, "listen on `%s`", name);
  return steal_fd(&fd);
}

int attach_connect(int dirfd, nook_error *err) {
  struct sockaddr_un addr;
  int r = unix_addr_at(dirfd, ATTACH_SOCKET_NAME, &addr, err);
  if (r < 0)
    return r;
  _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return nook_err(err, errno, "socket");
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
    return -errno;
  return steal_fd(&fd);
}

int tty_console_listen(const char *bundle, struct tty_console *c, nook_error *err) {
  *c = (struct tty_console){.listen_fd = -1, .dirfd = -1};
  _cleanup_close_ int dirfd = open(bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return nook_err(err, errno, "open `%s`", bundle);
  int fd = listen_at(dirfd, CONSOLE_SOCKET_NAME, SOCK_STREAM, err);
  if (fd < 0)
    return fd;
  c->listen_fd = fd;
  c->dirfd = steal_fd(&dirfd);
  /* container_create connects from this same process */
  c->path = xasprintf("/proc/self/fd/%d/" CONSOLE_SOCKET_NAME, c->dirfd);
  return 0;
}

void tty_console_close(struct tty_console *c) {
  if (c->dirfd >= 0)
    unlinkat(c->dirfd, CONSOLE_SOCKET_NAME, 0);
  if (c->listen_fd >= 0)
    close(c->listen_fd);
  if (c->dirfd >= 0)
    close(c->dirfd);
  free(c->path);
  *c = (struct tty_console){.listen_fd = -1, .dirfd = -1};
}

static int console_receive(int listen_fd, int *master, nook_error *err) {
  _cleanup_close_ int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (conn < 0)
    return nook_err(err, errno, "accept the container's terminal");
  int fd = recv_fd(conn);
  if (fd < 0)
    return nook_err(err, -fd, "receive the container's terminal");
  /* nobody is attached yet: programs that ask get a usual size */
  struct winsize ws;
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row == 0 && ws.ws_col == 0) {
    ws = (struct winsize){.ws_row = 24, .ws_col = 80};
    ioctl(fd, TIOCSWINSZ, &ws);
  }
  *master = fd;
  return 0;
}

struct relay {
  int master;
  int exit_fd;
  int listen_fd;
  int clients[MAX_CLIENTS];
  size_t n_clients;
  int logfd;
  struct log_stream log;
};

static void drop_client(struct relay *r, size_t i) {
  close(r->clients[i]);
  r->clients[i] = r->clients[--r->n_clients];
}

static void from_client(struct relay *r, size_t i) {
  /* a message is read whole or cut: the client sends at most this */
  char msg[1 + ATTACH_MAX_INPUT + 16];
  ssize_t n = recv(r->clients[i], msg, sizeof(msg), MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    drop_client(r, i);
    return;
  }
  if (msg[0] == ATTACH_MSG_INPUT) {
    /* a container that reads nothing loses keys rather than stalling its
     * output: the master is non-blocking */
    if (n > 1)
      write_all(r->master, msg + 1, (size_t)n - 1);
  } else if (msg[0] == ATTACH_MSG_RESIZE && (size_t)n == 1 + sizeof(struct winsize)) {
    struct winsize ws;
    memcpy(&ws, msg + 1, sizeof(ws));
    ioctl(r->master, TIOCSWINSZ, &ws);
  }
}

/* True while the container's side of the pty is open. */
static bool from_container(struct relay *r) {
  char msg[1 + 4096];
  char *buf = msg + 1;
  msg[0] = ATTACH_MSG_OUTPUT;
  ssize_t n = read(r->master, buf, sizeof(msg) - 1);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return true;
  if (n <= 0)
    return false; /* EIO: the last holder of the slave closed it */
  for (size_t i = 0; i < r->n_clients;) {
    if (send(r->clients[i], msg, 1 + (size_t)n, MSG_NOSIGNAL) < 0)
      drop_client(r, i); /* gone, or stuck past its send timeout */
    else
      i++;
  }
  for (size_t off = 0; off < (size_t)n;) {
    size_t take = sizeof(r->log.buf) - r->log.len;
    if (take > (size_t)n - off)
      take = (size_t)n - off;
    memcpy(r->log.buf + r->log.len, buf + off, take);
    r->log.len += take;
    off += take;
    log_stream_flush(r->logfd, &r->log, false);
  }
  return true;
}

static __attribute__((noreturn)) void relay_main(struct relay *r) {
  int flags = fcntl(r->master, F_GETFL);
  fcntl(r->master, F_SETFL, flags | O_NONBLOCK);
  for (;;) {
    struct pollfd p[2 + MAX_CLIENTS];
    p[0] = (struct pollfd){.fd = r->master, .events = POLLIN};
    p[1] = (struct pollfd){.fd = r->listen_fd, .events = POLLIN};
    size_t n_clients = r->n_clients;
    for (size_t i = 0; i < n_clients; i++)
      p[2 + i] = (struct pollfd){.fd = r->clients[i], .events = POLLIN};
    /* a prompt waits for its line's end: logged once the terminal is quiet */
    int ready = poll(p, 2 + n_clients, r->log.len ? PARTIAL_LINE_MS : -1);
    if (ready < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (ready == 0) {
      log_stream_flush_partial(r->logfd, &r->log);
      continue;
    }
    if (p[0].revents && !from_container(r))
      break;
    if (p[1].revents & POLLIN) {
      int c = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
      if (c >= 0 && r->n_clients == MAX_CLIENTS) {
        close(c);
      } else if (c >= 0) {
        /* a client that stops reading is dropped, not waited for */
        struct timeval tv = {.tv_sec = 2};
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        r->clients[r->n_clients++] = c;
      }
    }
    /* from the end: drop_client moves the last one into the gap */
    for (size_t i = n_clients; i-- > 0;)
      if (p[2 + i].revents && i < r->n_clients && r->clients[i] == p[2 + i].fd)
        from_client(r, i);
  }
  log_stream_flush(r->logfd, &r->log, true);
  /* the monitor reaps the init right after its terminal closed */
  struct pollfd p = {.fd = r->exit_fd, .events = POLLIN};
  int32_t code;
  if (poll(&p, 1, 5000) == 1 && read(r->exit_fd, &code, sizeof(code)) == sizeof(code)) {
    char msg[1 + sizeof(code)] = {ATTACH_MSG_EXIT};
    memcpy(msg + 1, &code, sizeof(code));
    for (size_t i = 0; i < r->n_clients; i++)
      send(r->clients[i], msg, sizeof(msg), MSG_NOSIGNAL);
  }
  _exit(0);
}

void tty_relay_exit(struct tty_relay *relay, int code) {
  if (relay->exit_fd < 0)
    return;
  if (code >= 0) {
    int32_t c = code;
    write_all(relay->exit_fd, &c, sizeof(c));
  }
  close(relay->exit_fd);
  relay->exit_fd = -1;
}

int tty_relay_start(const char *root, const char *id, const char *bundle, int console_fd,
                    struct tty_relay *relay, nook_error *err) {
  _cleanup_close_ int master = -1;
  int r = console_receive(console_fd, &master, err);
  if (r < 0)
    return r;
  _cleanup_close_ int statefd = state_dir_open(root, id, err);
  if (statefd < 0)
    return statefd;
  _cleanup_close_ int listen_fd = listen_at(statefd, ATTACH_SOCKET_NAME, SOCK_SEQPACKET, err);
  if (listen_fd < 0)
    return listen_fd;
  _cleanup_free_ char *log_path = xasprintf("%s/" LAUNCH_LOG_NAME, bundle);
  _cleanup_close_ int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (logfd < 0)
    return nook_err(err, errno, "open `%s`", log_path);
  int exit_pipe[2];
  if (pipe2(exit_pipe, O_CLOEXEC) < 0)
    return nook_err(err, errno, "pipe");
  pid_t pid = fork();
  if (pid < 0) {
    close(exit_pipe[0]);
    close(exit_pipe[1]);
    return nook_err(err, errno, "fork the terminal relay");
  }
  if (pid == 0) {
    int keep[] = {master, listen_fd, logfd, exit_pipe[0]};
    /* the monitor's output pipes and its report to the launching nook stay
     * with the monitor: their readers wait for every holder */
    close_fds_except(keep, ARRAY_SIZE(keep));
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    struct relay *r = xcalloc(1, sizeof(*r));
    r->master = master;
    r->exit_fd = exit_pipe[0];
    r->listen_fd = listen_fd;
    r->logfd = logfd;
    r->log = (struct log_stream){.fd = master, .name = "stdout", .strip_cr = true};
    relay_main(r);
  }
  close(exit_pipe[0]);
  *relay = (struct tty_relay){.pid = pid, .exit_fd = exit_pipe[1]};
  return 0;
}
