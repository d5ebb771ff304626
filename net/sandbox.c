/* The helper's sandbox: a mount namespace whose root is an empty tmpfs
 * holding only /etc/resolv.conf (libslirp reads it for DNS forwarding), no
 * capabilities, and optionally a seccomp allow-list of what the loop uses. */
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "nook-net.h"
#include "util.h"

#if defined(__SANITIZE_ADDRESS__)
#define NET_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NET_SANITIZED 1
#endif
#endif

#ifdef NET_SANITIZED
/* The sanitizers open their log_path file (DIR/NAME.PID) only when they
 * report: the directory must exist inside the empty root too. */
static int bind_sanitizer_log_dir(const char *root, nook_error *err) {
  const char *opts = getenv("ASAN_OPTIONS");
  const char *lp = opts ? strstr(opts, "log_path=") : NULL;
  if (!lp)
    return 0;
  lp += strlen("log_path=");
  _cleanup_free_ char *dir = xstrndup(lp, strcspn(lp, ":"));
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir)
    return 0;
  *slash = '\0';
  _cleanup_free_ char *target = xasprintf("%s%s", root, dir);
  int r;
  if ((r = mkdir_p(dir, 0755, err)) < 0 || (r = mkdir_p(target, 0755, err)) < 0)
    return r;
  if (mount(dir, target, NULL, MS_BIND, NULL) < 0)
    return nook_err(err, errno, "sandbox: bind the sanitizers' log directory");
  return 0;
}
#endif

static int write_proc_self(const char *name, const char *text, nook_error *err) {
  _cleanup_free_ char *path = xasprintf("/proc/self/%s", name);
  return write_file_at(AT_FDCWD, path, text, strlen(text), 0, err);
}

/* A mount namespace, with a user namespace of our own when we have no
 * CAP_SYS_ADMIN where we are (an unprivileged user on the host). */
static int new_mount_ns(nook_error *err) {
  if (unshare(CLONE_NEWNS) == 0)
    return 0;
  if (errno != EPERM)
    return nook_err(err, errno, "sandbox: unshare the mount namespace");
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
    return nook_err(err, errno, "sandbox: unshare user and mount namespaces "
                                "(user namespaces disabled? see sysctl user.max_user_namespaces)");
  char map[64];
  int r;
  if ((r = write_proc_self("setgroups", "deny", err)) < 0)
    return r;
  snprintf(map, sizeof(map), "%u %u 1\n", uid, uid);
  if ((r = write_proc_self("uid_map", map, err)) < 0)
    return r;
  snprintf(map, sizeof(map), "%u %u 1\n", gid, gid);
  return write_proc_self("gid_map", map, err);
}

static bool have_net_admin(void) {
  cap_t now = cap_get_proc();
  cap_flag_value_t v = CAP_CLEAR;
  if (now)
    cap_get_flag(now, CAP_NET_ADMIN, CAP_PERMITTED, &v);
  cap_free(now);
  return v == CAP_SET;
}

static int drop_capabilities(bool keep_net_admin, nook_error *err) {
  keep_net_admin = keep_net_admin && have_net_admin();
  for (int c = 0; c <= CAP_LAST_CAP; c++)
    if ((c != CAP_NET_ADMIN || !keep_net_admin) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 &&
        errno != EINVAL && errno != EPERM)
      return nook_err(err, errno, "sandbox: drop capability %d from the bounding set", c);
  cap_t caps = cap_init();
  if (keep_net_admin) {
    cap_value_t keep[] = {CAP_NET_ADMIN};
    cap_set_flag(caps, CAP_PERMITTED, 1, keep, CAP_SET);
    cap_set_flag(caps, CAP_EFFECTIVE, 1, keep, CAP_SET);
  }
  int r = cap_set_proc(caps);
  int e = errno;
  cap_free(caps);
  if (r < 0)
    return nook_err(err, e, "sandbox: drop capabilities");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return nook_err(err, errno, "sandbox: no_new_privs");
  return 0;
}

int sandbox_enter(const char *resolv_conf, bool keep_net_admin, nook_error *err) {
  int r = new_mount_ns(err);
  if (r < 0)
    return r;
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return nook_err(err, errno, "sandbox: make mounts private");
  if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=1m,mode=0755") < 0)
    return nook_err(err, errno, "sandbox: mount the empty root");
  if (mkdir("/tmp/etc", 0755) < 0 || mkdir("/tmp/old", 0700) < 0)
    return nook_err(err, errno, "sandbox: populate the empty root");
  if (resolv_conf && (r = write_file_at(AT_FDCWD, "/tmp/etc/resolv.conf", resolv_conf,
                                        strlen(resolv_conf), 0644, err)) < 0)
    return r;
#ifdef NET_SANITIZED
  /* The sanitizers read /proc/self/maps (leak checks at exit). */
  if (mkdir("/tmp/proc", 0555) < 0 ||
      mount("/proc", "/tmp/proc", NULL, MS_BIND | MS_REC, NULL) < 0)
    return nook_err(err, errno, "sandbox: bind /proc for the sanitizers");
  if ((r = bind_sanitizer_log_dir("/tmp", err)) < 0)
    return r;
#endif
  if (syscall(SYS_pivot_root, "/tmp", "/tmp/old") < 0)
    return nook_err(err, errno, "sandbox: pivot_root");
  if (chdir("/") < 0 || umount2("/old", MNT_DETACH) < 0 || rmdir("/old") < 0)
    return nook_err(err, errno, "sandbox: detach the old root");
  if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
            NULL) < 0)
    return nook_err(err, errno, "sandbox: make the root read-only");
  return drop_capabilities(keep_net_admin, err);
}

int sandbox_seccomp(nook_error *err) {
  static const char *const allowed[] = {
      /* the loop: tap, slirp's sockets, the port forwarder, the API socket */
      "read", "write", "readv", "writev", "recvfrom", "recvmsg", "recvmmsg", "sendto",
      "sendmsg", "sendmmsg", "poll", "ppoll", "epoll_wait", "epoll_pwait", "epoll_pwait2",
      "epoll_ctl", "accept", "accept4", "connect", "bind", "listen", "setsockopt",
      "getsockopt", "getsockname", "getpeername", "shutdown", "close", "splice", "pipe2",
      "fcntl", "ioctl", "read", "openat", "fstat", "newfstatat", "statx", "lseek",
      /* time, memory, signals, ending */
      "clock_gettime", "gettimeofday", "nanosleep", "clock_nanosleep", "brk", "mmap", "munmap",
      "mremap", "madvise", "mprotect", "futex", "rt_sigreturn", "rt_sigprocmask",
      "rt_sigaction", "signalfd4", "restart_syscall", "getpid", "gettid", "getuid", "geteuid",
      "getrandom", "kill", "tgkill", "wait4", "exit", "exit_group",
#ifdef NET_SANITIZED
      /* what ASan/UBSan call at reports and exit */
      "sigaltstack", "getdents64", "readlink", "readlinkat", "getppid", "sched_yield", "prctl", "clone",
      "clone3", "ptrace", "munlock", "pread64", "dup", "dup2", "dup3", "sched_getaffinity",
      "getrlimit", "prlimit64", "setrlimit", "uname", "stat", "lstat", "open", "access",
      "faccessat", "faccessat2",
#endif
  };
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (!ctx)
    return nook_errx(err, ENOMEM, "seccomp_init failed");
  int r = 0;
  for (size_t i = 0; i < ARRAY_SIZE(allowed) && r == 0; i++) {
    int nr = seccomp_syscall_resolve_name(allowed[i]);
    if (nr == __NR_SCMP_ERROR)
      continue; /* not on this architecture */
    r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
  }
  /* Sockets of the families the network uses, nothing else (no netlink,
   * no packet sockets). */
  static const int families[] = {AF_INET, AF_INET6, AF_UNIX};
  for (size_t i = 0; i < ARRAY_SIZE(families) && r == 0; i++)
    r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                         SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]));
  if (r == 0)
    r = seccomp_load(ctx);
  seccomp_release(ctx);
  if (r < 0)
    return nook_err(err, -r, "load the seccomp filter");
  return 0;
}
