/* `nook attach`: this process's stdio joined to a detached container's
 * through its relay (attach-relay.c), until the container ends or the
 * client detaches: the detach keys (ctrl-p ctrl-q unless told otherwise),
 * or, without --sig-proxy, a signal such as ctrl-c's. With a terminal in
 * the container, this terminal is raw and its keys and size go there; with
 * none, the container's stdout and stderr come out here as theirs, and
 * stdin goes to the container's until its end, which closes the
 * container's. */
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
  /* strsep, not strtok: an empty key ("ctrl-p,") is a mistake to name */
  for (char *rest = copy, *k; (k = strsep(&rest, ",")) != NULL;) {
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

int attach_check_detach_keys(const char *spec, nook_error *err) {
  unsigned char keys[MAX_DETACH_KEYS];
  size_t n;
  return parse_detach_keys(spec, keys, &n, err);
}

static const int proxied_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

struct client {
  struct attach_session *s;
  int sock;
  bool tty;         /* the container's terminal */
  bool forward;     /* stdin goes to the container */
  bool stdin_open;  /* stdin is read: forwarded, or a terminal for the keys */
  bool match_keys;  /* the detach keys are looked for in stdin */
  bool sig_proxy;
  unsigned char keys[MAX_DETACH_KEYS];
  size_t n_keys, matched;
  /* a message the relay could not take yet: stdin is not read meanwhile */
  char pending[1 + ATTACH_MAX_INPUT + MAX_DETACH_KEYS];
  size_t pending_len;
};

/* Sends the pending message if the relay takes it now; a relay that is
 * gone drops it (the next recv tells). */
static void send_pending(struct client *c) {
  if (!c->pending_len)
    return;
  if (send(c->sock, c->pending, c->pending_len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
      (errno == EAGAIN || errno == EINTR))
    return;
  c->pending_len = 0;
}

static void send_size(struct client *c) {
  char msg[1 + sizeof(struct winsize)];
  struct winsize ws;
  if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0 && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0)
    return;
  msg[0] = ATTACH_MSG_RESIZE;
  memcpy(msg + 1, &ws, sizeof(ws));
  send(c->sock, msg, sizeof(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Queues in[0..n) for the container, holding back a prefix of the detach
 * keys until the next key says whether they were one. True when they were. */
static bool take_input(struct client *c, const char *in, size_t n) {
  size_t o = 0;
  c->pending[o++] = ATTACH_MSG_INPUT;
  bool detach = false;
  for (size_t i = 0; i < n && !detach; i++) {
    unsigned char b = (unsigned char)in[i];
    if (c->match_keys && c->matched && b != c->keys[c->matched]) {
      memcpy(c->pending + o, c->keys, c->matched);
      o += c->matched;
      c->matched = 0;
    }
    if (c->match_keys && c->n_keys && b == c->keys[c->matched]) {
      detach = ++c->matched == c->n_keys;
      continue;
    }
    c->pending[o++] = (char)b;
  }
  if (o > 1 && c->forward)
    c->pending_len = o;
  return detach;
}

/* What the relay sent: 1 to go on, 0 once the container ended (*exit_code)
 * or the relay is gone, -errno. */
static int from_relay(struct client *c, int *exit_code) {
  char msg[1 + 16384];
  ssize_t n = recv(c->sock, msg, sizeof(msg), 0);
  if (n < 0 && errno == EINTR)
    return 1;
  if (n < 0)
    return -errno;
  if (n == 0)
    return 0;
  int32_t code;
  int out = msg[0] == ATTACH_MSG_STDERR ? STDERR_FILENO : STDOUT_FILENO;
  if ((msg[0] == ATTACH_MSG_STDOUT || msg[0] == ATTACH_MSG_STDERR) &&
      write_all(out, msg + 1, (size_t)n - 1) < 0)
    return -errno;
  if (msg[0] == ATTACH_MSG_EXIT && (size_t)n == 1 + sizeof(code)) {
    memcpy(&code, msg + 1, sizeof(code));
    *exit_code = code;
    return 0;
  }
  return 1;
}

static int relay(struct client *c, int sigfd, bool *detached, int *exit_code) {
  char buf[ATTACH_MAX_INPUT];
  for (;;) {
    struct pollfd p[3] = {
        {.fd = c->sock, .events = POLLIN | (c->pending_len ? POLLOUT : 0)},
        {.fd = sigfd, .events = POLLIN},
        {.fd = c->stdin_open && !c->pending_len ? STDIN_FILENO : -1, .events = POLLIN}};
    if (poll(p, 3, -1) < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (p[0].revents & POLLIN) {
      int r = from_relay(c, exit_code);
      if (r <= 0)
        return r;
    }
    if (p[0].revents & POLLOUT)
      send_pending(c);
    if (p[1].revents) {
      struct signalfd_siginfo si;
      if (read(sigfd, &si, sizeof(si)) != sizeof(si))
        continue;
      if (si.ssi_signo == SIGWINCH) {
        if (c->tty)
          send_size(c);
      } else if (c->sig_proxy) {
        nook_error e;
        container_kill(c->s->root, c->s->id, (int)si.ssi_signo, false, &e);
      } else {
        *detached = true;
        return 0;
      }
    }
    if (p[2].revents) {
      ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n <= 0) {
        /* as podman attach without a terminal: stdin's end is the
         * container's */
        c->stdin_open = false;
        if (c->forward && !c->tty) {
          c->pending[0] = ATTACH_MSG_CLOSE_STDIN;
          c->pending_len = 1;
          send_pending(c);
        }
        continue;
      }
      bool detach = take_input(c, buf, (size_t)n);
      if (detach) {
        /* what came before the keys, if the relay takes it soon */
        struct pollfd out = {.fd = c->sock, .events = POLLOUT};
        if (c->pending_len && poll(&out, 1, 500) == 1)
          send_pending(c);
        *detached = true;
        return 0;
      }
      send_pending(c);
    }
  }
}

static bool foreground_terminal(int fd) {
  return isatty(fd) && tcgetpgrp(fd) == getpgrp();
}

/* A terminal on stdin while the container has none: lines as usual (ctrl-c
 * a signal, ctrl-d the end), but ctrl-q no flow control, and the last
 * detach key, a control key, ends a line, so that the keys are read as
 * soon as typed. */
static void terminal_for_keys(const struct client *c) {
  struct termios old, t;
  if (tcgetattr(STDIN_FILENO, &old) < 0)
    return;
  t = old;
  t.c_iflag &= ~(tcflag_t)IXON;
  unsigned char last = c->n_keys ? c->keys[c->n_keys - 1] : 0;
  if (c->n_keys && last < 0x20 && last != '\n' && last != '\r' && last != t.c_cc[VINTR] &&
      last != t.c_cc[VQUIT] && last != t.c_cc[VEOF] && last != t.c_cc[VSUSP])
    t.c_cc[VEOL] = last;
  terminal_apply(STDIN_FILENO, &old, &t);
}

int attach_open(const char *root, const char *id, struct attach_session *s, nook_error *err) {
  *s = (struct attach_session){.root = root, .id = id, .sock = -1};
  _cleanup_container_ struct container c = {.dirfd = -1};
  int r = container_load(root, id, &c, err);
  if (r < 0)
    return r;
  if (c.status != STATUS_RUNNING && c.status != STATUS_PAUSED && c.status != STATUS_CREATED)
    return nook_errx(err, EINVAL, "container `%s` is %s: only a running container can be "
                                  "attached to (its output: nook logs %s)",
                     id, state_status_name(c.status), id);
  _cleanup_close_ int sock = attach_connect(c.dirfd, err);
  if (sock == -ENOENT || sock == -ECONNREFUSED) {
    if (!spec_kv_find(c.state.annotations, c.state.n_annotations, LAUNCH_ANN_IMAGE))
      return nook_errx(err, ENOTTY, "container `%s` was made with nook create or run, which "
                                    "leave its stdio to their caller: only containers of nook "
                                    "launch have a monitor to attach to", id);
    return nook_errx(err, ENOTTY, "container `%s` runs in the foreground of the nook launch that "
                                  "started it, which holds its stdio: only containers launched "
                                  "with -d, or -it from a terminal, can be attached to", id);
  }
  if (sock < 0)
    return nook_err(err, -sock, "connect to the monitor of container `%s`", id);
  char hello[2];
  struct pollfd p = {.fd = sock, .events = POLLIN};
  if (poll(&p, 1, 5000) != 1 || recv(sock, hello, sizeof(hello), 0) != 2 ||
      hello[0] != ATTACH_MSG_HELLO)
    return nook_errx(err, EPROTO, "the monitor of container `%s` did not answer attach (too "
                                  "many clients attached?)", id);
  s->flags = (unsigned char)hello[1];
  s->sock = steal_fd(&sock);
  return 0;
}

int attach_run(struct attach_session *s, const struct attach_options *o, int *status,
               nook_error *err) {
  _cleanup_close_ int sock = steal_fd(&s->sock);
  struct client *c = xcalloc(1, sizeof(*c));
  int r = parse_detach_keys(o->detach_keys ? o->detach_keys : "ctrl-p,ctrl-q", c->keys,
                            &c->n_keys, err);
  if (r < 0) {
    free(c);
    return r;
  }
  c->s = s;
  c->sock = sock;
  c->tty = s->flags & ATTACH_HELLO_TTY;
  c->forward = !o->no_stdin && (s->flags & ATTACH_HELLO_STDIN);
  bool terminal = foreground_terminal(STDIN_FILENO);
  c->stdin_open = c->forward || (terminal && c->n_keys);
  c->match_keys = (c->tty && c->forward) || terminal;
  c->sig_proxy = o->sig_proxy < 0 ? !c->tty : o->sig_proxy > 0;
  sigset_t sigs, saved;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGWINCH);
  for (size_t i = 0; i < ARRAY_SIZE(proxied_signals); i++)
    sigaddset(&sigs, proxied_signals[i]);
  sigprocmask(SIG_BLOCK, &sigs, &saved);
  _cleanup_close_ int sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
  if (sigfd < 0) {
    r = nook_err(err, errno, "signalfd");
  } else {
    if (c->tty && c->forward && terminal && terminal_set_raw(STDIN_FILENO) == 0) {
      /* the container's terminal already turned its "\n" into "\r\n" */
      struct termios t;
      if (tcgetattr(STDIN_FILENO, &t) == 0) {
        t.c_oflag &= ~(tcflag_t)OPOST;
        tcsetattr(STDIN_FILENO, TCSANOW, &t);
      }
    } else if (terminal && c->stdin_open) {
      terminal_for_keys(c);
    }
    if (c->tty)
      send_size(c);
    bool detached = false;
    int exit_code = -1;
    r = relay(c, sigfd, &detached, &exit_code);
    terminal_restore();
    if (r < 0)
      nook_err(err, -r, "relay the stdio of container `%s`", s->id);
    else
      *status = detached ? -2 : exit_code;
  }
  sigprocmask(SIG_SETMASK, &saved, NULL);
  free(c);
  if (r < 0)
    return r;
  /* a relay that could not tell: the monitor records it in the state */
  nook_error e;
  if (*status == -1 && launch_wait(s->root, s->id, status, &e) < 0)
    *status = -1;
  return 0;
}

int launch_attach(const char *root, const char *id, const struct attach_options *o, int *status,
                  nook_error *err) {
  int r = attach_check_detach_keys(o->detach_keys ? o->detach_keys : "ctrl-p,ctrl-q", err);
  if (r < 0)
    return r;
  struct attach_session s;
  if ((r = attach_open(root, id, &s, err)) < 0)
    return r;
  return attach_run(&s, o, status, err);
}
