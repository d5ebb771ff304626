/* Starting and stopping nook-net for a container. The helper gets the
 * container's init pid (it joins that process's user and network namespaces
 * and exits when the process does), signals readiness on a pipe, and reports
 * a failure as one line on its stderr, which we pass on. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net.h"
#include "nook-config.h"
#include "nook-net.h"
#include "util.h"

#define NET_READY_TIMEOUT_MS 10000

static const char *annotation(const struct spec *spec, const char *key) {
  for (size_t i = 0; i < spec->n_annotations; i++)
    if (strcmp(spec->annotations[i].key, key) == 0)
      return spec->annotations[i].value;
  return NULL;
}

int net_setup(const struct spec *spec, pid_t init_pid, const char *state_dir, pid_t *helper_pid,
              nook_error *err) {
  struct net_options o = {
      .network = annotation(spec, "nook.network"),
      .ports = annotation(spec, "nook.ports"),
      .allow_host_loopback = annotation(spec, "nook.network.allow_host_loopback"),
      .mtu = annotation(spec, "nook.network.mtu"),
      .outbound_addr = annotation(spec, "nook.network.outbound_addr"),
      .enable_ipv6 = annotation(spec, "nook.network.enable_ipv6"),
  };
  return net_setup_options(&o, init_pid, state_dir, helper_pid, err);
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
static int build_argv(const struct net_options *o, pid_t init_pid, const char *state_dir,
                      const char *helper, char ***argv, nook_error *err) {
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
  _cleanup_free_ char *pid = xasprintf("%d", (int)init_pid);
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

int net_setup_options(const struct net_options *o, pid_t init_pid, const char *state_dir,
                      pid_t *helper_pid, nook_error *err) {
  *helper_pid = 0;
  if (!o->network || strcmp(o->network, "none") == 0 || strcmp(o->network, "host") == 0)
    return 0;
  if (strcmp(o->network, "slirp") != 0)
    return nook_errx(err, EINVAL, "annotation nook.network: expected slirp, none or host, not `%s`",
                     o->network);
  /* Bad annotations are refused before anything else. */
  _cleanup_strv_ char **argv = NULL;
  int r = build_argv(o, init_pid, state_dir, "nook-net", &argv, err);
  if (r < 0)
    return r;
  char *helper = nook_helper_path("nook-net");
  if (!helper)
    return nook_errx(err, ENOENT,
                     "network: the nook-net helper is not installed beside nook nor in %s",
                     NOOK_LIBEXECDIR);
  free(argv[0]);
  argv[0] = helper;

  int ready[2], errp[2];
  if (pipe2(ready, O_CLOEXEC) < 0)
    return nook_err(err, errno, "network: pipe");
  if (pipe2(errp, O_CLOEXEC) < 0) {
    close(ready[0]);
    close(ready[1]);
    return nook_err(err, errno, "network: pipe");
  }
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(ready[0]);
    close(ready[1]);
    close(errp[0]);
    close(errp[1]);
    return nook_err(err, e, "network: fork");
  }
  if (pid == 0) {
    /* Its own session: a terminal's signals for nook are not for it. */
    setsid();
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(errp[1], 2);
    dup2(ready[1], 3); /* dup2 clears O_CLOEXEC on the copy */
    syscall(SYS_close_range, 4, ~0U, 0);
    execv(argv[0], argv);
    dprintf(2, "nook-net: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(ready[1]);
  close(errp[1]);
  _cleanup_close_ int ready_fd = ready[0];
  _cleanup_close_ int err_fd = errp[0];

  struct pollfd p = {.fd = ready_fd, .events = POLLIN};
  int n;
  do
    n = poll(&p, 1, NET_READY_TIMEOUT_MS);
  while (n < 0 && errno == EINTR);
  char c = 0;
  if (n > 0 && read(ready_fd, &c, 1) == 1 && c == '1') {
    *helper_pid = pid;
    return 0;
  }
  char msg[1024];
  if (n == 0) {
    kill(pid, SIGKILL);
    reap(pid);
    return nook_errx(err, ETIMEDOUT, "network: nook-net was not ready after %d s",
                     NET_READY_TIMEOUT_MS / 1000);
  }
  read_failure(err_fd, msg, sizeof(msg));
  kill(pid, SIGKILL);
  reap(pid);
  const char *text = str_has_prefix(msg, "nook-net: ") ? msg + strlen("nook-net: ") : msg;
  return nook_errx(err, ENETUNREACH, "network: %s", *text ? text : "nook-net failed");
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
