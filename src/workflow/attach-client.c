/* `nook attach`: this terminal joined to a detached container's (launch -d
 * -t) through its relay, until the container ends or the detach keys
 * (ctrl-p ctrl-q unless told otherwise) are typed. */
#include <ctype.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "container.h"
#include "terminal.h"
#include "util.h"
#include "workflow.h"

#define MAX_DETACH_KEYS 16

/* podman's --detach-keys: comma-separated keys, each a single character or
 * ctrl- and one of a-z @ [ \ ] ^ _. */
static int parse_detach_keys(const char *spec, unsigned char *keys, size_t *n, nook_error *err) {
  *n = 0;
  if (!*spec)
    return 0;
  _cleanup_free_ char *copy = xstrdup(spec);
  char *save = NULL;
  for (char *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
    int key = -1;
    if (str_has_prefix(k, "ctrl-") && strlen(k) == 6) {
      char c = (char)tolower((unsigned char)k[5]);
      if (c >= 'a' && c <= 'z')
        key = c - 'a' + 1;
      else if (strchr("@[\\]^_", c))
        key = c == '@' ? 0 : (c - '[' + 27);
    } else if (strlen(k) == 1) {
      key = (unsigned char)k[0];
    }
    if (key < 0 || *n == MAX_DETACH_KEYS)
      return nook_errx(err, EINVAL, "--detach-keys: `%s` is not a key list such as ctrl-p,ctrl-q "
                                    "(a character, or ctrl- and a letter or one of @[\\]^_)",
                       spec);
    keys[(*n)++] = (unsigned char)key;
  }
  if (*n == 0)
    return nook_errx(err, EINVAL, "--detach-keys: `%s` names no key", spec);
  return 0;
}

static void send_size(int sock) {
  char msg[1 + sizeof(struct winsize)];
  struct winsize ws;
  if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0 && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0)
    return;
  msg[0] = ATTACH_MSG_RESIZE;
  memcpy(msg + 1, &ws, sizeof(ws));
  send(sock, msg, sizeof(msg), MSG_NOSIGNAL);
}

struct detach_match {
  const unsigned char *keys;
  size_t n_keys, matched;
};

/* Sends in[0..n) to the terminal, holding back a prefix of the detach keys
 * until the next key says whether they were one. True when they were. */
static bool send_input(int sock, struct detach_match *d, const char *in, size_t n) {
  char *out = xmalloc(1 + n + d->n_keys);
  size_t o = 0;
  out[o++] = ATTACH_MSG_INPUT;
  bool detach = false;
  for (size_t i = 0; i < n && !detach; i++) {
    unsigned char b = (unsigned char)in[i];
    if (d->matched && b != d->keys[d->matched]) {
      memcpy(out + o, d->keys, d->matched);
      o += d->matched;
      d->matched = 0;
    }
    if (d->n_keys && b == d->keys[d->matched]) {
      detach = ++d->matched == d->n_keys;
      continue;
    }
    out[o++] = (char)b;
  }
  if (o > 1)
    send(sock, out, o, MSG_NOSIGNAL);
  free(out);
  return detach;
}

static int relay(int sock, int sigfd, bool use_stdin, struct detach_match *d, bool *detached,
                 int *exit_code) {
  char buf[ATTACH_MAX_INPUT];
  bool stdin_open = use_stdin;
  for (;;) {
    struct pollfd p[3] = {{.fd = sock, .events = POLLIN},
                          {.fd = sigfd, .events = POLLIN},
                          {.fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN}};
    if (poll(p, 3, -1) < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (p[0].revents) {
      char msg[1 + 16384];
      ssize_t n = recv(sock, msg, sizeof(msg), 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return 0; /* the container's terminal is gone */
      int32_t code;
      if (msg[0] == ATTACH_MSG_OUTPUT && write_all(STDOUT_FILENO, msg + 1, (size_t)n - 1) < 0)
        return -errno;
      if (msg[0] == ATTACH_MSG_EXIT && (size_t)n == 1 + sizeof(code)) {
        memcpy(&code, msg + 1, sizeof(code));
        *exit_code = code;
      }
    }
    if (p[1].revents) {
      struct signalfd_siginfo si;
      if (read(sigfd, &si, sizeof(si)) > 0)
        send_size(sock);
    }
    if (p[2].revents) {
      ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n <= 0) {
        stdin_open = false;
        continue;
      }
      if (send_input(sock, d, buf, (size_t)n)) {
        *detached = true;
        return 0;
      }
    }
  }
}

int launch_attach(const char *root, const char *id, const char *keys_spec, bool no_stdin,
                  int *status, nook_error *err) {
  unsigned char keys[MAX_DETACH_KEYS];
  struct detach_match d = {.keys = keys};
  int r = parse_detach_keys(keys_spec, keys, &d.n_keys, err);
  if (r < 0)
    return r;
  _cleanup_container_ struct container c = {.dirfd = -1};
  if ((r = container_load(root, id, &c, err)) < 0)
    return r;
  if (c.status != STATUS_RUNNING && c.status != STATUS_PAUSED)
    return nook_errx(err, EINVAL, "container `%s` is %s: only a running container can be "
                                  "attached to (its output: nook logs %s)",
                     id, state_status_name(c.status), id);
  _cleanup_close_ int sock = attach_connect(c.dirfd, err);
  if (sock == -ENOENT || sock == -ECONNREFUSED)
    return nook_errx(err, ENOTTY, "container `%s` has no terminal to attach to: only containers "
                                  "launched with -d -t have one (its output: nook logs -f %s)",
                     id, id);
  if (sock < 0)
    return nook_err(err, -sock, "connect to the terminal of container `%s`", id);
  sigset_t winch;
  sigemptyset(&winch);
  sigaddset(&winch, SIGWINCH);
  sigprocmask(SIG_BLOCK, &winch, NULL);
  _cleanup_close_ int sigfd = signalfd(-1, &winch, SFD_CLOEXEC);
  if (sigfd < 0)
    return nook_err(err, errno, "signalfd");
  bool use_stdin = !no_stdin;
  if (use_stdin && isatty(STDIN_FILENO) && terminal_set_raw(STDIN_FILENO) == 0) {
    /* the container's terminal already turned its "\n" into "\r\n" */
    struct termios t;
    if (tcgetattr(STDIN_FILENO, &t) == 0) {
      t.c_oflag &= ~(tcflag_t)OPOST;
      tcsetattr(STDIN_FILENO, TCSANOW, &t);
    }
  }
  send_size(sock);
  bool detached = false;
  int exit_code = -1;
  r = relay(sock, sigfd, use_stdin, &d, &detached, &exit_code);
  terminal_restore();
  if (r < 0)
    return nook_err(err, -r, "relay the terminal of container `%s`", id);
  *status = detached ? -2 : exit_code;
  /* a relay that could not tell: the monitor records it in the state */
  nook_error e;
  if (*status == -1 && launch_wait(root, id, status, &e) < 0)
    *status = -1;
  return 0;
}
