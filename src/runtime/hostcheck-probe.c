/* The probes of `nook check` that try a thing for real in a child process
 * (a user namespace, a mount in it, an id map) or speak to another process
 * (the user bus, systemctl). */
#include "hostcheck.h"

#include <ctype.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "rootless/idmap.h"
#include "util.h"

/* In a probe child: sends the reason to the parent and gives the exit code
 * that carries the errno. */
static int say(int fd, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int say(int fd, int errnum, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  dprintf(fd, "%s: %s", msg, strerror(errnum));
  return errnum > 0 && errnum < 256 ? errnum : EPERM;
}

static int write_proc_self(int fd, const char *file, const char *text) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/%s", file);
  _cleanup_close_ int f = open(path, O_WRONLY | O_CLOEXEC);
  if (f < 0) {
    /* Kernels before 3.19 have no setgroups file and need no "deny". */
    if (errno == ENOENT && strcmp(file, "setgroups") == 0)
      return 0;
    return say(fd, errno, "open `%s`", path);
  }
  if (write(f, text, strlen(text)) < 0)
    return say(fd, errno, "write `%s`", path);
  return 0;
}

/* A user namespace (and with it whatever extra namespaces flags ask for)
 * where the caller is root, through a single-id map it may write itself. */
static int enter_userns(int fd, int extra_flags) {
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (unshare(CLONE_NEWUSER | extra_flags) < 0)
    return say(fd, errno, "unshare(CLONE_NEWUSER%s)", extra_flags ? "|CLONE_NEWNS" : "");
  char map[64];
  int r = write_proc_self(fd, "setgroups", "deny");
  if (r)
    return r;
  snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
  if ((r = write_proc_self(fd, "uid_map", map)))
    return r;
  snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
  if ((r = write_proc_self(fd, "gid_map", map)))
    return r;
  if (extra_flags & CLONE_NEWNS && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return say(fd, errno, "make the mounts private in the new mount namespace");
  return 0;
}

/* Runs fn(dir, fd) in a forked child; the child's one line comes back in why
 * and its exit code is the errno. */
static int in_child(int (*fn)(const char *dir, int fd), const char *dir, char *why,
                    size_t whylen) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    return snprintf(why, whylen, "pipe: %s", strerror(errno)), -errno;
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    snprintf(why, whylen, "fork: %s", strerror(e));
    return -e;
  }
  if (pid == 0) {
    close(p[0]);
    _exit(fn(dir, p[1]));
  }
  close(p[1]);
  _cleanup_close_ int rd = p[0];
  _cleanup_free_ char *msg = NULL;
  size_t len = 0;
  if (read_all(rd, &msg, &len) < 0)
    msg = NULL;
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return 0;
  if (WIFSIGNALED(status)) {
    snprintf(why, whylen, "the probe died by signal %d", WTERMSIG(status));
    return -EINTR;
  }
  snprintf(why, whylen, "%s", msg && *msg ? msg : "the probe failed");
  return -WEXITSTATUS(status);
}

static int userns_child(const char *dir, int fd) {
  int r = enter_userns(fd, CLONE_NEWNS);
  if (r || !dir)
    return r;
  _cleanup_free_ char *target = xasprintf("%s/tmp", dir);
  if (mount("tmpfs", target, "tmpfs", 0, "size=64k") < 0)
    return say(fd, errno, "mount tmpfs in the user namespace");
  return 0;
}

int hostcheck_probe_userns(const char *dir, char *why, size_t whylen) {
  return in_child(userns_child, dir, why, whylen);
}

static int overlay_child(const char *dir, int fd) {
  int r = enter_userns(fd, CLONE_NEWNS);
  if (r)
    return r;
  /* Relative layer paths: the directory's own name may hold the ',' or ':'
   * that overlay's options cannot escape. */
  if (chdir(dir) < 0)
    return say(fd, errno, "chdir `%s`", dir);
  if (mount("overlay", "merged", "overlay", 0,
            "lowerdir=lower,upperdir=upper,workdir=work,userxattr") < 0)
    return say(fd, errno, "mount -t overlay -o userxattr in a user namespace");
  _cleanup_close_ int f = open("merged/probe", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (f < 0)
    return say(fd, errno, "create a file in the overlay");
  struct stat st;
  if (stat("upper/probe", &st) < 0)
    return say(fd, errno, "the overlay's new file is not in its upper layer");
  umount2("merged", MNT_DETACH);
  /* The kernel's work/work is mode 0; root of this namespace may remove it. */
  rm_rf_at(AT_FDCWD, "work");
  return 0;
}

int hostcheck_probe_overlay(const char *dir, char *why, size_t whylen) {
  return in_child(overlay_child, dir, why, whylen);
}

int hostcheck_probe_idmap(unsigned long *uids, bool *single_id, char *why, size_t whylen) {
  int up[2], down[2];
  if (pipe2(up, O_CLOEXEC) < 0)
    return snprintf(why, whylen, "pipe: %s", strerror(errno)), -errno;
  if (pipe2(down, O_CLOEXEC) < 0) {
    int e = errno;
    close(up[0]);
    close(up[1]);
    return snprintf(why, whylen, "pipe: %s", strerror(e)), -e;
  }
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(up[0]);
    close(up[1]);
    close(down[0]);
    close(down[1]);
    return snprintf(why, whylen, "fork: %s", strerror(e)), -e;
  }
  if (pid == 0) {
    close(up[0]);
    close(down[1]);
    if (unshare(CLONE_NEWUSER) < 0)
      _exit(say(up[1], errno, "unshare(CLONE_NEWUSER)"));
    char go = 0;
    if (write(up[1], "R", 1) != 1 || read(down[0], &go, 1) != 1 || go != 'G')
      _exit(1);
    _cleanup_fclose_ FILE *f = fopen("/proc/self/uid_map", "re");
    unsigned long inside, outside, count, total = 0;
    while (f && fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3)
      total += count;
    dprintf(up[1], "%lu", total);
    _exit(0);
  }
  close(up[1]);
  close(down[0]);
  _cleanup_close_ int rd = up[0];
  _cleanup_close_ int wr = down[1];
  char ready = 0;
  int ret = 0;
  nook_error e = {0};
  if (read(rd, &ready, 1) != 1 || ready != 'R') {
    _cleanup_free_ char *msg = NULL;
    size_t len;
    if (read_all(rd, &msg, &len) < 0)
      msg = NULL;
    snprintf(why, whylen, "%c%s", ready ? ready : ' ', msg ? msg : "");
    ret = -EPERM;
  } else if ((ret = idmap_setup_rootless(pid, single_id, &e)) < 0) {
    snprintf(why, whylen, "%s", e.msg);
    (void)!write(wr, "F", 1);
  } else if (write(wr, "G", 1) != 1) {
    ret = -errno;
    snprintf(why, whylen, "write to the probe: %s", strerror(errno));
  } else {
    _cleanup_free_ char *msg = NULL;
    size_t len;
    if (read_all(rd, &msg, &len) < 0 || !msg || sscanf(msg, "%lu", uids) != 1) {
      ret = -EIO;
      snprintf(why, whylen, "the probe did not say how many ids it has");
    }
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  return ret;
}

/* D-Bus addresses escape bytes as %XX. */
static char *unescape(const char *s, size_t n) {
  char *out = xmalloc(n + 1), *o = out;
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
        isxdigit((unsigned char)s[i + 2]) && sscanf(s + i + 1, "%2x", &v) == 1) {
      *o++ = (char)v;
      i += 2;
    } else {
      *o++ = s[i];
    }
  }
  *o = '\0';
  return out;
}

/* The socket of the user bus: the first unix path= or abstract= of
 * DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus. Abstract names come
 * back with a leading '@'. */
static char *user_bus_socket(void) {
  const char *addr = getenv("DBUS_SESSION_BUS_ADDRESS");
  if (addr && *addr) {
    for (const char *entry = addr; entry && *entry;) {
      const char *end = strchr(entry, ';');
      size_t elen = end ? (size_t)(end - entry) : strlen(entry);
      if (strncmp(entry, "unix:", 5) == 0) {
        for (const char *kv = entry + 5; kv < entry + elen;) {
          const char *comma = memchr(kv, ',', (size_t)(entry + elen - kv));
          size_t kvlen = comma ? (size_t)(comma - kv) : (size_t)(entry + elen - kv);
          if (kvlen > 5 && strncmp(kv, "path=", 5) == 0)
            return unescape(kv + 5, kvlen - 5);
          if (kvlen > 9 && strncmp(kv, "abstract=", 9) == 0) {
            _cleanup_free_ char *name = unescape(kv + 9, kvlen - 9);
            return xasprintf("@%s", name);
          }
          kv += kvlen + 1;
        }
      }
      entry = end ? end + 1 : NULL;
    }
    return NULL;
  }
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  if (xdg && *xdg)
    return xasprintf("%s/bus", xdg);
  return NULL;
}

int hostcheck_probe_user_bus(char **where, char *why, size_t whylen) {
  *where = user_bus_socket();
  if (!*where) {
    const char *addr = getenv("DBUS_SESSION_BUS_ADDRESS");
    snprintf(why, whylen, "%s", addr && *addr ? "DBUS_SESSION_BUS_ADDRESS names no unix socket"
                                              : "neither DBUS_SESSION_BUS_ADDRESS nor "
                                                "XDG_RUNTIME_DIR is set");
    return -ENOENT;
  }
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t plen = strlen(*where);
  if (plen >= sizeof(sa.sun_path)) {
    snprintf(why, whylen, "the socket path `%s` is too long", *where);
    return -ENAMETOOLONG;
  }
  memcpy(sa.sun_path, *where, plen);
  if (sa.sun_path[0] == '@')
    sa.sun_path[0] = '\0';
  _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return snprintf(why, whylen, "socket: %s", strerror(errno)), -errno;
  struct timeval tv = {.tv_sec = 3};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
  if (connect(fd, (struct sockaddr *)&sa, salen) < 0) {
    int e = errno;
    snprintf(why, whylen, "connect to `%s`: %s", *where, strerror(e));
    return -e;
  }
  /* SASL EXTERNAL: the server checks the uid we name against the socket's
   * peer credentials; OK means a bus is there and takes us. */
  char uid[32], req[128];
  int n = snprintf(uid, sizeof(uid), "%u", (unsigned)geteuid());
  int off = snprintf(req, sizeof(req), "%cAUTH EXTERNAL ", '\0');
  for (int i = 0; i < n; i++)
    off += snprintf(req + off, sizeof(req) - (size_t)off, "%02x", (unsigned char)uid[i]);
  off += snprintf(req + off, sizeof(req) - (size_t)off, "\r\n");
  if (send(fd, req, (size_t)off, MSG_NOSIGNAL) != off) {
    int e = errno;
    snprintf(why, whylen, "send to `%s`: %s", *where, strerror(e));
    return -e;
  }
  char reply[256];
  size_t got = 0;
  while (got < sizeof(reply) - 1) {
    ssize_t k = recv(fd, reply + got, sizeof(reply) - 1 - got, 0);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      int e = k < 0 ? errno : ECONNRESET;
      snprintf(why, whylen, "no answer from `%s`: %s", *where,
               e == EAGAIN ? "timed out" : strerror(e));
      return -e;
    }
    got += (size_t)k;
    reply[got] = '\0';
    if (strstr(reply, "\r\n"))
      break;
  }
  reply[got] = '\0';
  reply[strcspn(reply, "\r\n")] = '\0';
  if (strncmp(reply, "OK ", 3) != 0) {
    snprintf(why, whylen, "`%s` refused SASL EXTERNAL authentication: %s", *where, reply);
    return -EACCES;
  }
  return 0;
}

int hostcheck_run_capture(char *const argv[], char **out, int timeout_ms) {
  *out = NULL;
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    return -errno;
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    return -e;
  }
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0 || dup2(p[1], 1) < 0 || dup2(null, 0) < 0 || dup2(p[1], 2) < 0)
      _exit(127);
    execvp(argv[0], argv);
    _exit(127);
  }
  close(p[1]);
  _cleanup_close_ int rd = p[0];
  size_t cap = 256, len = 0;
  char *buf = xmalloc(cap);
  unsigned long long deadline = now_ns() + (unsigned long long)timeout_ms * 1000000ULL;
  bool timed_out = false;
  for (;;) {
    unsigned long long now = now_ns();
    if (now >= deadline) {
      timed_out = true;
      break;
    }
    struct pollfd pfd = {.fd = rd, .events = POLLIN};
    int r = poll(&pfd, 1, (int)((deadline - now) / 1000000ULL) + 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      timed_out = r == 0;
      break;
    }
    if (len + 128 > cap)
      buf = xrealloc(buf, cap *= 2);
    ssize_t k = read(rd, buf + len, cap - len - 1);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break;
    len += (size_t)k;
  }
  buf[len] = '\0';
  if (timed_out)
    kill(pid, SIGKILL);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  *out = buf;
  if (timed_out)
    return -ETIMEDOUT;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
