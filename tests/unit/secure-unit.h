/* Shared by unit-secure.c (seccomp) and unit-caps.c (capabilities, user,
 * limits): checks by real effect, each case in a child process (filters and
 * capability drops cannot be undone), the capability cases in a fresh user
 * namespace, where the child is root. Cases return 0, 1 (failed, with why())
 * or SKIP. */
#pragma once
#pragma GCC diagnostic ignored "-Wunused-function"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caps.h"
#include "process-security.h"
#include "seccomp-filter.h"
#include "util.h"

#define SKIP 77

static int why_fd = -1;

/* A case says why it failed or was skipped here; the parent prints it. */
__attribute__((format(printf, 1, 2))) static int why(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n > 0)
    (void)!write(why_fd, buf, strlen(buf));
  return 1;
}

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      return why(__VA_ARGS__);                                                                     \
  } while (0)

/* ---- building specs by hand ---- */

static struct spec_seccomp_syscall rule(char **names, const char *action) {
  return (struct spec_seccomp_syscall){.names = names, .action = (char *)action};
}

static struct spec_seccomp allow_all(struct spec_seccomp_syscall *rules, size_t n) {
  return (struct spec_seccomp){
      .default_action = "SCMP_ACT_ALLOW", .syscalls = rules, .n_syscalls = n};
}

/* Unprivileged, a filter needs no_new_privs. */
static int load(const struct spec_seccomp *s) {
  nook_error err;
  nook_err_clear(&err);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return why("no_new_privs: %m");
  if (seccomp_load_filter(s, &err) < 0)
    return why("load: %s", err.msg);
  return 0;
}

static int build_error(const struct spec_seccomp *s, const char *want) {
  nook_error err;
  nook_err_clear(&err);
  scmp_filter_ctx ctx = NULL;
  int r = seccomp_build(s, &ctx, &err);
  if (r == 0) {
    seccomp_release(ctx);
    return why("built a filter, wanted an error naming %s", want);
  }
  CHECK(strstr(err.msg, want), "error `%s` does not name %s", err.msg, want);
  CHECK(!strchr(err.msg, '\n'), "error is not one line: %s", err.msg);
  return 0;
}

/* Runs fn in a grandchild; returns its wait status. The grandchild's own
 * message, if any, comes first in the pipe. */
static int status_of(int (*fn)(void)) {
  pid_t pid = fork();
  if (pid == 0)
    _exit(fn());
  int st;
  waitpid(pid, &st, 0);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 1)
    why(": ");
  return st;
}

static char *temp_dir(void) {
  char *d = xstrdup("/tmp/unit-secure.XXXXXX");
  if (!mkdtemp(d)) {
    free(d);
    return NULL;
  }
  return d;
}

static void remove_dir(char *d) {
  if (d)
    rm_rf_at(AT_FDCWD, d);
  free(d);
}

static int count_files(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    n += e->d_name[0] != '.';
  if (d)
    closedir(d);
  return n;
}

/* ---- user namespaces ---- */

static int write_str(const char *path, const char *s) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  int r = write_all(fd, s, strlen(s));
  close(fd);
  return r;
}

/* Becomes root of a new user namespace holding only our own ids; setgroups
 * is denied there, as in any unprivileged single-id namespace. */
static int enter_userns_self(void) {
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (unshare(CLONE_NEWUSER) < 0)
    return why("unshare(CLONE_NEWUSER): %m"), SKIP;
  char map[64];
  snprintf(map, sizeof(map), "0 %u 1\n", uid);
  if (write_str("/proc/self/setgroups", "deny") < 0 || write_str("/proc/self/uid_map", map) < 0)
    return why("uid_map: %m");
  snprintf(map, sizeof(map), "0 %u 1\n", gid);
  if (write_str("/proc/self/gid_map", map) < 0)
    return why("gid_map: %m");
  return 0;
}

/* Maps 0 and 1000-1009 in the namespace of pid, as root directly, else with
 * newuidmap/newgidmap and our subordinate ids. */
static int map_range(pid_t pid) {
  char cmd[512];
  const char *user = getenv("USER");
  if (geteuid() == 0) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
    if (write_str(path, "0 0 1\n1000 101000 10\n") < 0)
      return -1;
    snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
    return write_str(path, "0 0 1\n1000 101000 10\n");
  }
  FILE *f = fopen("/etc/subuid", "re");
  if (!f)
    return -1;
  char line[256];
  unsigned long start = 0;
  bool found = false;
  char uidstr[32];
  snprintf(uidstr, sizeof(uidstr), "%u", geteuid());
  while (fgets(line, sizeof(line), f)) {
    char *colon = strchr(line, ':');
    if (!colon)
      continue;
    *colon = '\0';
    if ((user && strcmp(line, user) == 0) || strcmp(line, uidstr) == 0) {
      start = strtoul(colon + 1, NULL, 10);
      found = true;
      break;
    }
  }
  fclose(f);
  if (!found)
    return -1;
  snprintf(cmd, sizeof(cmd),
           "newuidmap %d 0 %u 1 1000 %lu 10 && newgidmap %d 0 %u 1 1000 %lu 10", pid,
           geteuid(), start, pid, getegid(), start);
  return system(cmd) == 0 ? 0 : -1;
}

/* Runs fn as root of a user namespace mapping 0 and 1000-1009. */
static int in_userns_range(int (*fn)(void)) {
  int go[2], ready[2];
  if (pipe2(go, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0)
    return why("pipe: %m");
  pid_t pid = fork();
  if (pid == 0) {
    char c = unshare(CLONE_NEWUSER) == 0 ? 'u' : 'x';
    (void)!write(ready[1], &c, 1);
    if (c == 'x' || read(go[0], &c, 1) != 1 || c != 'g')
      _exit(SKIP);
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
      _exit(why("become root in the namespace: %m"));
    _exit(fn());
  }
  char c = 0;
  close(ready[1]);
  close(go[0]);
  if (read(ready[0], &c, 1) != 1 || c != 'u') {
    waitpid(pid, NULL, 0);
    return why("unshare(CLONE_NEWUSER) failed"), SKIP;
  }
  bool mapped = map_range(pid) == 0;
  c = mapped ? 'g' : 'n';
  (void)!write(go[1], &c, 1);
  int st;
  waitpid(pid, &st, 0);
  if (!mapped)
    return why("cannot map a uid range (no newuidmap or subordinate ids)"), SKIP;
  return WIFEXITED(st) ? WEXITSTATUS(st) : why("killed by signal %d", WTERMSIG(st));
}

static unsigned long long status_field(const char *field) {
  FILE *f = fopen("/proc/self/status", "re");
  char line[256];
  unsigned long long v = ~0ULL;
  size_t n = strlen(field);
  while (f && fgets(line, sizeof(line), f))
    if (strncmp(line, field, n) == 0 && line[n] == ':')
      v = strtoull(line + n + 1, NULL, 16);
  if (f)
    fclose(f);
  return v;
}

#define CHECK_CAPS(field, want)                                                                    \
  CHECK(status_field(field) == (want), "%s %#llx, want %#llx", field, status_field(field),        \
        (unsigned long long)(want))

#define BIT(c) (1ULL << (c))

/* ---- runner ---- */

/* in_process: the case changes nothing in the process, so it runs in the
 * test binary itself, where the sanitizers' leak check sees it at exit. */
struct secure_case {
  const char *name;
  int (*fn)(void);
  bool in_process;
};

#define CASE(n) {#n, test_##n, false}
#define CASE_IN_PROCESS(n) {#n, test_##n, true}

/* argv[1], when given, selects the cases whose name contains it. */
static int run_cases(const struct secure_case *cases, size_t n_cases, int argc, char **argv) {

  int failed = 0;
  for (size_t i = 0; i < n_cases; i++) {
    if (argc > 1 && !strstr(cases[i].name, argv[1]))
      continue;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
      return 1;
    if (cases[i].in_process) {
      why_fd = p[1];
      int r = cases[i].fn();
      close(p[1]);
      char msg[1024];
      ssize_t n = read(p[0], msg, sizeof(msg) - 1);
      msg[n > 0 ? n : 0] = '\0';
      close(p[0]);
      if (r == 0)
        printf("ok %s\n", cases[i].name);
      else
        failed++, printf("not ok %s - %s\n", cases[i].name, msg);
      continue;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
      close(p[0]);
      why_fd = p[1];
      /* A hung case must not spin for ever on a shared machine. */
      alarm(60);
      int r = cases[i].fn();
      fflush(NULL);
      /* _exit: LeakSanitizer's exit check hangs under a seccomp filter that
       * denies the calls it makes; the in-process cases are leak-checked. */
      _exit(r);
    }
    close(p[1]);
    char msg[1024];
    ssize_t n = read(p[0], msg, sizeof(msg) - 1);
    msg[n > 0 ? n : 0] = '\0';
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
      printf("ok %s\n", cases[i].name);
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == SKIP) {
      printf("ok %s # SKIP %s\n", cases[i].name, msg);
    } else {
      failed++;
      if (WIFSIGNALED(st))
        printf("not ok %s - killed by signal %d %s\n", cases[i].name, WTERMSIG(st), msg);
      else
        printf("not ok %s - %s\n", cases[i].name, msg[0] ? msg : "failed");
    }
  }
  return failed ? 1 : 0;
}
