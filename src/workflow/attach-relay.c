/* The relay of a detached container's stdio (nook launch -d, and -it in the
 * foreground): a process the monitor forks once the container is created,
 * which reads what the container writes (its stdout and stderr pipes, or
 * its terminal's master, taken from a console socket as a runc client
 * would), logs it with a timestamp per line, and serves `nook attach`
 * clients on the unix socket ATTACH_SOCKET_NAME in the container's state
 * dir. It holds the only write end of the container's stdin pipe (-i
 * without -t) or its terminal's master, so that what clients type reaches
 * the container. It ends when the monitor sends the container's exit code.
 *
 * The attach protocol: SOCK_SEQPACKET, so a message is read whole; a type
 * byte heads each.
 *   relay -> client:
 *     ATTACH_MSG_HELLO + one byte of ATTACH_HELLO_* flags, first: whether
 *       the container has a terminal (input is then keys and resizes) and
 *       whether its stdin is open;
 *     ATTACH_MSG_STDOUT / ATTACH_MSG_STDERR + the bytes the container wrote
 *       there (a terminal's output is STDOUT);
 *     ATTACH_MSG_EXIT + int32 exit code, last, once the container ended and
 *       the monitor recorded it (a --rm container leaves no state to read it
 *       from).
 *   client -> relay:
 *     ATTACH_MSG_INPUT + at most ATTACH_MAX_INPUT + 16 bytes for the
 *       container's stdin or terminal;
 *     ATTACH_MSG_RESIZE + struct winsize (a terminal only);
 *     ATTACH_MSG_CLOSE_STDIN: closes the container's stdin pipe (its reader
 *       sees EOF), for every client: stdin is one, as podman's is.
 * Up to MAX_CLIENTS clients at once all get the output; their input is
 * interleaved a message at a time. */
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

int tty_console_receive(int console_fd, unsigned short rows, unsigned short cols, int *master,
                        nook_error *err) {
  _cleanup_close_ int conn = accept4(console_fd, NULL, NULL, SOCK_CLOEXEC);
  if (conn < 0)
    return nook_err(err, errno, "accept the container's terminal");
  int fd = recv_fd(conn);
  if (fd < 0)
    return nook_err(err, -fd, "receive the container's terminal");
  /* the size of the terminal that attaches right away, or, with nobody
   * attached yet, a usual one for programs that ask */
  struct winsize ws;
  if (rows && cols) {
    ws = (struct winsize){.ws_row = rows, .ws_col = cols};
    ioctl(fd, TIOCSWINSZ, &ws);
  } else if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row == 0 && ws.ws_col == 0) {
    ws = (struct winsize){.ws_row = 24, .ws_col = 80};
    ioctl(fd, TIOCSWINSZ, &ws);
  }
  *master = fd;
  return 0;
}

int attach_listen(const char *root, const char *id, nook_error *err) {
  _cleanup_close_ int statefd = state_dir_open(root, id, err);
  if (statefd < 0)
    return statefd;
  return listen_at(statefd, ATTACH_SOCKET_NAME, SOCK_SEQPACKET, err);
}

enum { STREAM_STDOUT, STREAM_STDERR, STREAM_TTY, N_STREAMS };

struct relay {
  struct log_stream streams[N_STREAMS]; /* fd -1 once closed */
  bool tty;
  /* where the clients' input goes: the terminal, or the container's stdin
   * pipe (-1 once closed); what it did not take yet waits in pending, and
   * no client is read meanwhile, so that input keeps its order and a
   * container that reads nothing stalls its attached writers, not its
   * output */
  int input;
  char pending[ATTACH_MAX_INPUT + 16];
  size_t pending_len, pending_off;
  int listen_fd, exit_fd, drained_fd, logfd;
  int clients[MAX_CLIENTS];
  size_t n_clients;
};

static void drop_client(struct relay *r, size_t i) {
  close(r->clients[i]);
  r->clients[i] = r->clients[--r->n_clients];
}

static void to_clients(struct relay *r, const char *msg, size_t n) {
  for (size_t i = 0; i < r->n_clients;) {
    if (send(r->clients[i], msg, n, MSG_NOSIGNAL) < 0)
      drop_client(r, i); /* gone, or stuck past its send timeout */
    else
      i++;
  }
}

static void accept_client(struct relay *r) {
  int c = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0)
    return;
  if (r->n_clients == MAX_CLIENTS) {
    close(c);
    return;
  }
  /* a client that stops reading is dropped, not waited for */
  struct timeval tv = {.tv_sec = 2};
  setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  char hello[2] = {ATTACH_MSG_HELLO, 0};
  if (r->tty)
    hello[1] |= ATTACH_HELLO_TTY;
  if (r->input >= 0)
    hello[1] |= ATTACH_HELLO_STDIN;
  if (send(c, hello, sizeof(hello), MSG_NOSIGNAL) < 0) {
    close(c);
    return;
  }
  r->clients[r->n_clients++] = c;
}

static void close_input(struct relay *r) {
  if (r->input >= 0 && !r->tty)
    close(r->input);
  r->input = -1;
  r->pending_len = r->pending_off = 0;
}

static void write_pending(struct relay *r) {
  ssize_t n = write(r->input, r->pending + r->pending_off, r->pending_len - r->pending_off);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n < 0) {
    /* the container closed its stdin (EPIPE) or its terminal (EIO) */
    if (r->tty)
      r->pending_len = r->pending_off = 0;
    else
      close_input(r);
    return;
  }
  r->pending_off += (size_t)n;
  if (r->pending_off == r->pending_len)
    r->pending_len = r->pending_off = 0;
}

static void from_client(struct relay *r, size_t i) {
  char msg[1 + sizeof(r->pending)];
  ssize_t n = recv(r->clients[i], msg, sizeof(msg), MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    drop_client(r, i);
    return;
  }
  if (msg[0] == ATTACH_MSG_INPUT && n > 1 && r->input >= 0) {
    memcpy(r->pending, msg + 1, (size_t)n - 1);
    r->pending_len = (size_t)n - 1;
    r->pending_off = 0;
    write_pending(r);
  } else if (msg[0] == ATTACH_MSG_RESIZE && r->tty && (size_t)n == 1 + sizeof(struct winsize)) {
    struct winsize ws;
    memcpy(&ws, msg + 1, sizeof(ws));
    ioctl(r->input, TIOCSWINSZ, &ws);
  } else if (msg[0] == ATTACH_MSG_CLOSE_STDIN && !r->tty) {
    close_input(r);
  }
}

static void log_output(struct relay *r, struct log_stream *s, const char *buf, size_t n) {
  for (size_t off = 0; off < n;) {
    size_t take = sizeof(s->buf) - s->len;
    if (take > n - off)
      take = n - off;
    memcpy(s->buf + s->len, buf + off, take);
    s->len += take;
    off += take;
    log_stream_flush(r->logfd, s, false);
  }
}

/* Reads what a stream holds: to the clients and the log. 1 after a read,
 * 0 when there was nothing, -1 at its end (a pipe's EOF, a terminal's EIO
 * once the last holder of its slave closed it). */
static int from_stream(struct relay *r, struct log_stream *s) {
  char msg[1 + 16384];
  msg[0] = s == &r->streams[STREAM_STDERR] ? ATTACH_MSG_STDERR : ATTACH_MSG_STDOUT;
  ssize_t n = read(s->fd, msg + 1, sizeof(msg) - 1);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return 0;
  if (n <= 0) {
    log_stream_flush(r->logfd, s, true);
    if (s->fd != r->input)
      close(s->fd);
    s->fd = -1;
    return -1;
  }
  to_clients(r, msg, 1 + (size_t)n);
  log_output(r, s, msg + 1, (size_t)n);
  return 1;
}

static bool streams_open(const struct relay *r) {
  for (int i = 0; i < N_STREAMS; i++)
    if (r->streams[i].fd >= 0)
      return true;
  return false;
}

static __attribute__((noreturn)) void relay_main(struct relay *r) {
  for (int i = 0; i < N_STREAMS; i++)
    if (r->streams[i].fd >= 0)
      fcntl(r->streams[i].fd, F_SETFL, fcntl(r->streams[i].fd, F_GETFL) | O_NONBLOCK);
  if (r->input >= 0 && !r->tty)
    fcntl(r->input, F_SETFL, fcntl(r->input, F_GETFL) | O_NONBLOCK);
  int32_t code = -1;
  for (;;) {
    struct pollfd p[3 + N_STREAMS + MAX_CLIENTS];
    size_t n_clients = r->n_clients;
    bool waiting = r->pending_len > 0;
    p[0] = (struct pollfd){.fd = r->listen_fd, .events = POLLIN};
    p[1] = (struct pollfd){.fd = r->exit_fd, .events = POLLIN};
    p[2] = (struct pollfd){.fd = waiting ? r->input : -1, .events = POLLOUT};
    for (int i = 0; i < N_STREAMS; i++)
      p[3 + i] = (struct pollfd){.fd = r->streams[i].fd, .events = POLLIN};
    for (size_t i = 0; i < n_clients; i++)
      p[3 + N_STREAMS + i] = (struct pollfd){.fd = waiting ? -1 : r->clients[i], .events = POLLIN};
    /* a prompt waits for its line's end: logged once the terminal is quiet */
    struct log_stream *term = &r->streams[STREAM_TTY];
    int ready = poll(p, 3 + N_STREAMS + n_clients, term->len ? PARTIAL_LINE_MS : -1);
    if (ready < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (ready == 0) {
      log_stream_flush_partial(r->logfd, term);
      continue;
    }
    /* clients first: one that connected before the container started sees
     * all of its output */
    if (p[0].revents & POLLIN)
      accept_client(r);
    for (int i = 0; i < N_STREAMS; i++)
      if (p[3 + i].revents)
        from_stream(r, &r->streams[i]);
    if (!streams_open(r) && r->drained_fd >= 0) {
      /* all the container wrote is logged: its end may be recorded */
      close(r->drained_fd);
      r->drained_fd = -1;
    }
    if (p[2].revents && r->pending_len)
      write_pending(r);
    /* from the end: drop_client moves the last one into the gap */
    for (size_t i = n_clients; i-- > 0;)
      if (p[3 + N_STREAMS + i].revents && i < r->n_clients &&
          r->clients[i] == p[3 + N_STREAMS + i].fd)
        from_client(r, i);
    if (p[1].revents) {
      if (read(r->exit_fd, &code, sizeof(code)) != sizeof(code))
        code = -1;
      break;
    }
  }
  /* what an escaped process still holds the pipes open after */
  for (int i = 0; i < N_STREAMS; i++) {
    while (r->streams[i].fd >= 0 && from_stream(r, &r->streams[i]) > 0)
      ;
    log_stream_flush(r->logfd, &r->streams[i], true);
  }
  if (code >= 0) {
    char msg[1 + sizeof(code)] = {ATTACH_MSG_EXIT};
    memcpy(msg + 1, &code, sizeof(code));
    to_clients(r, msg, sizeof(msg));
  }
  _exit(0);
}

int attach_relay_start(const struct attach_relay_fds *fds, struct attach_relay *relay,
                       nook_error *err) {
  int exit_pipe[2] = {-1, -1}, drained_pipe[2] = {-1, -1};
  pid_t pid = -1;
  if (pipe2(exit_pipe, O_CLOEXEC) == 0 && pipe2(drained_pipe, O_CLOEXEC) == 0)
    pid = fork();
  if (pid < 0) {
    int e = errno;
    int opened[] = {exit_pipe[0], exit_pipe[1], drained_pipe[0], drained_pipe[1]};
    for (size_t i = 0; i < ARRAY_SIZE(opened); i++)
      if (opened[i] >= 0)
        close(opened[i]);
    return nook_err(err, e, "start the attach relay");
  }
  if (pid == 0) {
    int keep[] = {fds->out,    fds->err,     fds->master,     fds->stdin_w,
                  fds->listen, fds->logfd,   exit_pipe[0],    drained_pipe[1]};
    /* the monitor's output pipes (its stdio now) and its report to the
     * launching nook stay with the monitor: their readers wait for every
     * holder */
    close_fds_except(keep, ARRAY_SIZE(keep));
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    struct relay *r = xcalloc(1, sizeof(*r));
    r->tty = fds->master >= 0;
    r->streams[STREAM_STDOUT] = (struct log_stream){.fd = fds->out, .name = "stdout"};
    r->streams[STREAM_STDERR] = (struct log_stream){.fd = fds->err, .name = "stderr"};
    r->streams[STREAM_TTY] =
        (struct log_stream){.fd = fds->master, .name = "stdout", .strip_cr = true};
    r->input = r->tty ? fds->master : fds->stdin_w;
    r->listen_fd = fds->listen;
    r->logfd = fds->logfd;
    r->exit_fd = exit_pipe[0];
    r->drained_fd = drained_pipe[1];
    relay_main(r);
  }
  close(exit_pipe[0]);
  close(drained_pipe[1]);
  *relay = (struct attach_relay){.pid = pid, .exit_fd = exit_pipe[1], .drained_fd = drained_pipe[0]};
  return 0;
}

void attach_relay_wait_drained(struct attach_relay *relay, int timeout_ms) {
  if (relay->drained_fd < 0)
    return;
  struct pollfd p = {.fd = relay->drained_fd, .events = POLLIN};
  while (poll(&p, 1, timeout_ms) < 0 && errno == EINTR)
    ;
  close(relay->drained_fd);
  relay->drained_fd = -1;
}

void attach_relay_end(struct attach_relay *relay, int code) {
  if (relay->pid <= 0)
    return;
  if (relay->drained_fd >= 0)
    close(relay->drained_fd);
  if (code >= 0) {
    int32_t c = code;
    write_all(relay->exit_fd, &c, sizeof(c));
  }
  close(relay->exit_fd);
  while (waitpid(relay->pid, NULL, 0) < 0 && errno == EINTR)
    ;
  *relay = (struct attach_relay){.pid = 0, .exit_fd = -1, .drained_fd = -1};
}
