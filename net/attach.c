/* Starting and stopping nook-net for a container. The helper gets the
 * container's init pid (it exits when that process does) and either an fd of
 * the init's network namespace, opened by the runtime, or joins the
 * namespaces of /proc/PID/ns itself. It signals readiness on a pipe and
 * reports a failure as one line on its stderr, which we pass on. Starting
 * and waiting are apart so that the helper comes up while the init sets up. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net.h"
#include "nook-config.h"
#include "nook-net.h"
#include "util.h"

#define NET_READY_TIMEOUT_MS 10000
/* The fds the helper is given besides stdio, at 3 and on. */
enum { HELPER_READY_FD, HELPER_NETNS_FD, HELPER_WAIT_FD, HELPER_N_FDS };

static const char *annotation(const struct spec *spec, const char *key) {
  for (size_t i = 0; i < spec->n_annotations; i++)
    if (strcmp(spec->annotations[i].key, key) == 0)
      return spec->annotations[i].value;
  return NULL;
}

static struct net_options spec_net_options(const struct spec *spec) {
  return (struct net_options){
      .network = annotation(spec, "nook.network"),
      .ports = annotation(spec, "nook.ports"),
      .allow_host_loopback = annotation(spec, "nook.network.allow_host_loopback"),
      .mtu = annotation(spec, "nook.network.mtu"),
      .outbound_addr = annotation(spec, "nook.network.outbound_addr"),
      .enable_ipv6 = annotation(spec, "nook.network.enable_ipv6"),
  };
}

int net_start(const struct spec *spec, const struct net_target *target, const char *state_dir,
              struct net_helper *h, nook_error *err) {
  struct net_options o = spec_net_options(spec);
  return net_start_options(&o, target, state_dir, h, err);
}

static int parse_bool(const char *key, const char *v, bool def, bool *out, nook_error *err) {
  if (!v)
    *out = def;
  else if (strcmp(v, "true") == 0)
    *out = true;
  else if (strcmp(v, "false") == 0)
    *out = false;
  else
    return nook_errx(err, EINVAL, "annotation %s: expected true or false, not `%s`", key, v);
  return 0;
}

/* Checks every annotation and builds the helper's command line. */
static int build_argv(const struct net_options *o, const struct net_target *target,
                      const char *state_dir, const char *helper, char ***argv, nook_error *err) {
  bool loopback, ipv6;
  int r;
  if ((r = parse_bool("nook.network.allow_host_loopback", o->allow_host_loopback, false,
                      &loopback, err)) < 0 ||
      (r = parse_bool("nook.network.enable_ipv6", o->enable_ipv6, true, &ipv6, err)) < 0)
    return r;
  unsigned long long mtu = NET_DEFAULT_MTU;
  if (o->mtu && (!parse_u64(o->mtu, &mtu) || mtu < 68 || mtu > 65520))
    return nook_errx(err, EINVAL,
                     "annotation nook.network.mtu: expected a number from 68 to 65520, not `%s`",
                     o->mtu);
  char **a = NULL;
  strv_push(&a, helper);
  strv_push(&a, "--configure");
  _cleanup_free_ char *mtu_opt = xasprintf("--mtu=%llu", mtu);
  strv_push(&a, mtu_opt);
  strv_push(&a, "--ready-fd=3");
  strv_push(&a, "--enable-sandbox");
  strv_push(&a, "--enable-seccomp");
  if (!loopback)
    strv_push(&a, "--disable-host-loopback");
  if (ipv6)
    strv_push(&a, "--enable-ipv6");
  if (target->netns_fd >= 0)
    strv_push(&a, "--netns-fd=4");
  if (target->hold)
    strv_push(&a, "--wait-fd=5");
  if (target->own_netns)
    strv_push(&a, "--own-netns");
  if (o->outbound_addr) {
    _cleanup_free_ char *opt = xasprintf("--outbound-addr=%s", o->outbound_addr);
    strv_push(&a, opt);
  }
  if (state_dir) {
    _cleanup_free_ char *opt = xasprintf("--api-socket=%s/net.sock", state_dir);
    strv_push(&a, opt);
  }
  if (o->ports && *o->ports) {
    _cleanup_free_ char *list = xstrdup(o->ports);
    char *save = NULL;
    for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
      while (*p == ' ')
        p++;
      struct net_port port;
      if ((r = net_port_parse(p, &port, err)) < 0) {
        strv_free(a);
        return nook_err_prefix(err, r, "annotation nook.ports");
      }
      _cleanup_free_ char *opt = xasprintf("--port=%s", p);
      strv_push(&a, opt);
    }
  }
  _cleanup_free_ char *pid = xasprintf("%d", (int)target->pid);
  strv_push(&a, pid);
  strv_push(&a, "tap0");
  *argv = a;
  return 0;
}

static void reap(pid_t pid) {
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
    ;
}

/* Reads the helper's error line after it failed. */
static void read_failure(int fd, char *buf, size_t len) {
  size_t n = 0;
  while (n + 1 < len) {
    ssize_t k = read(fd, buf + n, len - 1 - n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break;
    n += (size_t)k;
  }
  buf[n] = '\0';
  buf[strcspn(buf, "\n")] = '\0';
}

void net_helper_close(struct net_helper *h) {
  if (h->ready_fd >= 0)
    close(h->ready_fd);
  if (h->err_fd >= 0)
    close(h->err_fd);
  if (h->go_fd >= 0)
    close(h->go_fd);
  h->ready_fd = h->err_fd = h->go_fd = -1;
}

int net_attach(struct net_helper *h, nook_error *err) {
  if (h->go_fd < 0)
    return 0;
  /* A socket, not a pipe: no SIGPIPE when the helper failed already
   * (net_wait_ready then says why). */
  ssize_t n;
  do
    n = send(h->go_fd, "1", 1, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  int e = errno;
  close(h->go_fd);
  h->go_fd = -1;
  return n < 0 && e != EPIPE && e != ECONNRESET ? nook_err(err, e, "network: start nook-net") : 0;
}

/* In the child: runs the helper with fds[i] as its fd 3 + i (-1: none),
 * err_fd as its stderr. */
__attribute__((noreturn)) static void helper_exec(char **argv, int err_fd,
                                                  int fds[HELPER_N_FDS]) {
  /* Its own session: a terminal's signals for nook are not for it. */
  setsid();
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  dup2(devnull, 0);
  dup2(devnull, 1);
  dup2(err_fd, 2);
  /* Moved above their places first, so that none lands on another; dup2
   * then clears O_CLOEXEC on the copies. */
  for (int i = 0; i < HELPER_N_FDS; i++)
    if (fds[i] >= 0)
      fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3 + HELPER_N_FDS);
  for (int i = 0; i < HELPER_N_FDS; i++)
    if (fds[i] >= 0)
      dup2(fds[i], 3 + i);
  syscall(SYS_close_range, 3 + HELPER_N_FDS, ~0U, 0);
  execv(argv[0], argv);
  dprintf(2, "nook-net: exec %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

static void close_pair(int p[2]) {
  if (p[0] >= 0)
    close(p[0]);
  if (p[1] >= 0)
    close(p[1]);
}

int net_start_options(const struct net_options *o, const struct net_target *target,
                      const char *state_dir, struct net_helper *h, nook_error *err) {
  *h = (struct net_helper)NET_HELPER_NONE;
  if (!o->network || strcmp(o->network, "none") == 0 || strcmp(o->network, "host") == 0)
    return 0;
  if (strcmp(o->network, "slirp") != 0)
    return nook_errx(err, EINVAL, "annotation nook.network: expected slirp, none or host, not `%s`",
                     o->network);
  /* Bad annotations are refused before anything else. */
  _cleanup_strv_ char **argv = NULL;
  int r = build_argv(o, target, state_dir, "nook-net", &argv, err);
  if (r < 0)
    return r;
  char *helper = nook_helper_path("nook-net");
  if (!helper)
    return nook_errx(err, ENOENT,
                     "network: the nook-net helper is not installed beside nook nor in %s",
                     NOOK_LIBEXECDIR);
  free(argv[0]);
  argv[0] = helper;

  int ready[2] = {-1, -1}, errp[2] = {-1, -1}, go[2] = {-1, -1};
  if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
      (target->hold && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, go) < 0)) {
    int e = errno;
    close_pair(ready);
    close_pair(errp);
    return nook_err(err, e, "network: pipe");
  }
  /* fork, not posix_spawn: the parent goes on at once and the exec runs on
   * another CPU, where a vfork would wait for it (0.1 against 0.4 ms). */
  pid_t pid = fork();
  if (pid == 0) {
    int fds[HELPER_N_FDS] = {[HELPER_READY_FD] = ready[1], [HELPER_NETNS_FD] = target->netns_fd,
                             [HELPER_WAIT_FD] = go[0]};
    helper_exec(argv, errp[1], fds);
  }
  int e = errno;
  close(ready[1]);
  close(errp[1]);
  if (go[0] >= 0)
    close(go[0]);
  h->ready_fd = ready[0];
  h->err_fd = errp[0];
  h->go_fd = go[1];
  if (pid < 0) {
    net_helper_close(h);
    return nook_err(err, e, "network: fork");
  }
  h->pid = pid;
  return 0;
}

static void kill_helper(struct net_helper *h) {
  kill(h->pid, SIGKILL);
  reap(h->pid);
  h->pid = 0;
  net_helper_close(h);
}

int net_wait_ready(struct net_helper *h, nook_error *err) {
  if (h->pid <= 0)
    return 0;
  int r = net_attach(h, err);
  if (r < 0) {
    kill_helper(h);
    return r;
  }
  struct pollfd p = {.fd = h->ready_fd, .events = POLLIN};
  int n;
  do
    n = poll(&p, 1, NET_READY_TIMEOUT_MS);
  while (n < 0 && errno == EINTR);
  char c = 0;
  if (n > 0 && read(h->ready_fd, &c, 1) == 1 && c == '1') {
    net_helper_close(h);
    return 0;
  }
  if (n == 0) {
    kill_helper(h);
    return nook_errx(err, ETIMEDOUT, "network: nook-net was not ready after %d s",
                     NET_READY_TIMEOUT_MS / 1000);
  }
  char msg[1024];
  read_failure(h->err_fd, msg, sizeof(msg));
  kill_helper(h);
  const char *text = str_has_prefix(msg, "nook-net: ") ? msg + strlen("nook-net: ") : msg;
  return nook_errx(err, ENETUNREACH, "network: %s", *text ? text : "nook-net failed");
}

int net_setup_options(const struct net_options *o, pid_t init_pid, const char *state_dir,
                      pid_t *helper_pid, nook_error *err) {
  struct net_target target = {.pid = init_pid, .netns_fd = -1};
  struct net_helper h;
  *helper_pid = 0;
  int r = net_start_options(o, &target, state_dir, &h, err);
  if (r == 0)
    r = net_wait_ready(&h, err);
  if (r == 0)
    *helper_pid = h.pid;
  return r;
}

static bool is_net_helper(pid_t pid) {
  _cleanup_free_ char *path = xasprintf("/proc/%d/comm", (int)pid);
  _cleanup_free_ char *comm = NULL;
  nook_error ignore;
  if (read_file_at(AT_FDCWD, path, &comm, NULL, &ignore) < 0)
    return false;
  return str_has_prefix(comm, "nook-net");
}

static bool wait_exit(int pidfd, int ms) {
  struct pollfd p = {.fd = pidfd, .events = POLLIN};
  int n;
  do
    n = poll(&p, 1, ms);
  while (n < 0 && errno == EINTR);
  return n > 0;
}

int net_teardown(pid_t helper_pid, const char *state_dir, nook_error *err) {
  if (state_dir) {
    _cleanup_free_ char *sock = xasprintf("%s/net.sock", state_dir);
    if (unlink(sock) < 0 && errno != ENOENT)
      return nook_err(err, errno, "network: remove %s", sock);
  }
  if (helper_pid <= 0)
    return 0;
  _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, helper_pid, 0);
  if (pidfd < 0) {
    if (errno == ESRCH)
      return 0;
    return nook_err(err, errno, "network: pidfd_open %d", (int)helper_pid);
  }
  /* A pid stored long ago may have been reused: only signal our helper. */
  if (!is_net_helper(helper_pid))
    return 0;
  syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0);
  if (!wait_exit(pidfd, 2000)) {
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    wait_exit(pidfd, 2000);
  }
  waitpid(helper_pid, NULL, WNOHANG); /* ours when nook is still its parent */
  return 0;
}
