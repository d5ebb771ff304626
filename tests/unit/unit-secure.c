/* Seccomp filters, capabilities, user change and process limits, checked by
 * their real effect: each case runs in a child process (filters and
 * capability drops cannot be undone) and the capability cases in a fresh
 * user namespace, where the child is root. */
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

/* ---- seccomp ---- */

static int test_seccomp_errno_ret(void) {
  char *getcwd_n[] = {"getcwd", NULL}, *getppid_n[] = {"getppid", NULL};
  struct spec_seccomp_syscall rules[] = {rule(getcwd_n, "SCMP_ACT_ERRNO"),
                                         rule(getppid_n, "SCMP_ACT_ERRNO")};
  rules[0].has_errno_ret = true;
  rules[0].errno_ret = 1234;
  struct spec_seccomp s = allow_all(rules, 2);
  if (load(&s))
    return 1;
  char buf[256];
  errno = 0;
  CHECK(syscall(SYS_getcwd, buf, sizeof(buf)) == -1 && errno == 1234,
        "getcwd: errno %d, want 1234", errno);
  errno = 0;
  CHECK(syscall(SYS_getppid) == -1 && errno == EPERM, "getppid: errno %d, want EPERM", errno);
  CHECK(syscall(SYS_getpid) > 0, "getpid blocked too");
  return 0;
}

static int test_seccomp_arg_condition(void) {
  char *n[] = {"personality", NULL};
  struct spec_seccomp_arg args[] = {{.index = 0, .value = 0xffffffff, .op = "SCMP_CMP_EQ"}};
  struct spec_seccomp_syscall rules[] = {rule(n, "SCMP_ACT_ERRNO")};
  rules[0].args = args;
  rules[0].n_args = 1;
  struct spec_seccomp s = allow_all(rules, 1);
  if (load(&s))
    return 1;
  errno = 0;
  CHECK(personality(0xffffffff) == -1 && errno == EPERM, "personality(0xffffffff): errno %d",
        errno);
  CHECK(personality(PER_LINUX) != -1, "personality(PER_LINUX) blocked: %m");
  return 0;
}

/* Two args in one rule: both must match. Two tests of one argument: either. */
static int test_seccomp_arg_and_or(void) {
  char *prio[] = {"getpriority", NULL}, *um[] = {"umask", NULL};
  struct spec_seccomp_arg and_args[] = {{.index = 0, .value = PRIO_PROCESS, .op = "SCMP_CMP_EQ"},
                                        {.index = 1, .value = 12345, .op = "SCMP_CMP_EQ"}};
  struct spec_seccomp_arg or_args[] = {{.index = 0, .value = 01, .op = "SCMP_CMP_EQ"},
                                       {.index = 0, .value = 02, .op = "SCMP_CMP_EQ"}};
  struct spec_seccomp_syscall rules[] = {rule(prio, "SCMP_ACT_ERRNO"),
                                         rule(um, "SCMP_ACT_ERRNO")};
  rules[0].args = and_args;
  rules[0].n_args = 2;
  rules[0].has_errno_ret = true;
  rules[0].errno_ret = 1111;
  rules[1].args = or_args;
  rules[1].n_args = 2;
  struct spec_seccomp s = allow_all(rules, 2);
  if (load(&s))
    return 1;
  errno = 0;
  CHECK(syscall(SYS_getpriority, PRIO_PROCESS, 12345) == -1 && errno == 1111,
        "getpriority(PROCESS, 12345): errno %d, want 1111", errno);
  errno = 0;
  syscall(SYS_getpriority, PRIO_PROCESS, 0);
  CHECK(errno != 1111, "getpriority(PROCESS, 0) blocked: one argument matched");
  errno = 0;
  syscall(SYS_getpriority, PRIO_PGRP, 12345);
  CHECK(errno != 1111, "getpriority(PGRP, 12345) blocked: one argument matched");
  CHECK(syscall(SYS_umask, 01) == -1 && errno == EPERM, "umask(1) allowed");
  CHECK(syscall(SYS_umask, 02) == -1 && errno == EPERM, "umask(2) allowed");
  CHECK(syscall(SYS_umask, 03) != -1, "umask(3) blocked");
  return 0;
}

static int test_seccomp_masked_eq(void) {
  char *um[] = {"umask", NULL};
  struct spec_seccomp_arg args[] = {
      {.index = 0, .value = 0700, .value_two = 0700, .op = "SCMP_CMP_MASKED_EQ"}};
  struct spec_seccomp_syscall rules[] = {rule(um, "SCMP_ACT_ERRNO")};
  rules[0].args = args;
  rules[0].n_args = 1;
  struct spec_seccomp s = allow_all(rules, 1);
  if (load(&s))
    return 1;
  CHECK(syscall(SYS_umask, 0755) == -1 && errno == EPERM, "umask(0755) allowed");
  CHECK(syscall(SYS_umask, 0022) != -1, "umask(0022) blocked");
  return 0;
}

static int test_seccomp_unknown_syscall_skipped(void) {
  char *n[] = {"nook_no_such_syscall", "getcwd", NULL};
  struct spec_seccomp_syscall rules[] = {rule(n, "SCMP_ACT_ERRNO")};
  struct spec_seccomp s = allow_all(rules, 1);
  if (load(&s))
    return 1;
  char buf[64];
  CHECK(syscall(SYS_getcwd, buf, sizeof(buf)) == -1 && errno == EPERM,
        "getcwd after an unknown name: not blocked");
  return 0;
}

static int test_seccomp_bad_names(void) {
  char *n[] = {"getcwd", NULL};
  struct spec_seccomp_syscall r1[] = {rule(n, "SCMP_ACT_FROB")};
  struct spec_seccomp s = allow_all(r1, 1);
  if (build_error(&s, "SCMP_ACT_FROB"))
    return 1;

  s = allow_all(NULL, 0);
  s.default_action = "SCMP_ACT_NOPE";
  if (build_error(&s, "SCMP_ACT_NOPE"))
    return 1;

  struct spec_seccomp_arg args[] = {{.index = 0, .value = 1, .op = "SCMP_CMP_ABOUT"}};
  struct spec_seccomp_syscall r2[] = {rule(n, "SCMP_ACT_ERRNO")};
  r2[0].args = args;
  r2[0].n_args = 1;
  s = allow_all(r2, 1);
  if (build_error(&s, "SCMP_CMP_ABOUT"))
    return 1;

  args[0] = (struct spec_seccomp_arg){.index = 6, .op = "SCMP_CMP_EQ"};
  if (build_error(&s, "index 6"))
    return 1;

  char *arch[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_Z80", NULL};
  s = allow_all(NULL, 0);
  s.architectures = arch;
  if (build_error(&s, "SCMP_ARCH_Z80"))
    return 1;

  char *flags[] = {"SECCOMP_FILTER_FLAG_FAST", NULL};
  s = allow_all(NULL, 0);
  s.flags = flags;
  if (build_error(&s, "SECCOMP_FILTER_FLAG_FAST"))
    return 1;

  struct spec_seccomp_syscall r3[] = {rule(n, "SCMP_ACT_NOTIFY")};
  s = allow_all(r3, 1);
  if (build_error(&s, "SCMP_ACT_NOTIFY"))
    return 1;
  s = allow_all(NULL, 0);
  s.listener_path = "/run/listener.sock";
  return build_error(&s, "listenerPath");
}

static int getcwd_after_kill_filter(void) {
  char *n[] = {"getcwd", NULL};
  struct spec_seccomp_syscall rules[] = {rule(n, "SCMP_ACT_KILL_PROCESS")};
  struct spec_seccomp s = allow_all(rules, 1);
  if (load(&s))
    return 1;
  char buf[64];
  syscall(SYS_getcwd, buf, sizeof(buf));
  return 3; /* not killed */
}

static int test_seccomp_kill_process(void) {
  int st = status_of(getcwd_after_kill_filter);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "wait status %#x, want killed by SIGSYS", st);
  return 0;
}

/* An allow list: default ERRNO(1234) and only exit allowed (plus what the
 * sanitizers' runtime calls before _exit). */
static int getcwd_under_allow_list(void) {
  char *n[] = {"exit", "exit_group", "write", "sigaltstack", "mmap", "munmap", "gettid",
               "getpid", NULL};
  struct spec_seccomp_syscall rules[] = {rule(n, "SCMP_ACT_ALLOW")};
  struct spec_seccomp s = {.default_action = "SCMP_ACT_ERRNO",
                           .has_default_errno_ret = true,
                           .default_errno_ret = 1234,
                           .syscalls = rules,
                           .n_syscalls = 1};
  char *archs[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", NULL};
  char *flags[] = {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                   "SECCOMP_FILTER_FLAG_SPEC_ALLOW", NULL};
  s.architectures = archs;
  s.flags = flags;
  if (load(&s))
    return 1;
  char buf[64];
  errno = 0;
  long r = syscall(SYS_getcwd, buf, sizeof(buf));
  return r == -1 && errno == 1234 ? 42 : 3;
}

static int test_seccomp_default_errno_archs_flags(void) {
  int st = status_of(getcwd_under_allow_list);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42, "wait status %#x, want exit 42", st);
  return 0;
}

/* A rule with the default action is dropped, not an error. */
static int test_seccomp_rule_like_default(void) {
  char *n[] = {"getcwd", NULL}, *m[] = {"getppid", NULL};
  struct spec_seccomp_syscall rules[] = {rule(n, "SCMP_ACT_ALLOW"), rule(m, "SCMP_ACT_ERRNO")};
  struct spec_seccomp s = allow_all(rules, 2);
  if (load(&s))
    return 1;
  char buf[256];
  CHECK(syscall(SYS_getcwd, buf, sizeof(buf)) > 0, "getcwd blocked");
  CHECK(syscall(SYS_getppid) == -1, "getppid allowed");
  return 0;
}

/* A profile shaped like podman's default: every syscall libseccomp knows
 * on this arch allowed (but getcwd), personality allowed for five values,
 * on x86_64, x86 and x32. */
struct big_profile {
  char **names;
  char *pers[2];
  struct spec_seccomp_arg pa[5];
  struct spec_seccomp_syscall rules[6];
  char *archs[4];
  struct spec_seccomp s;
};

static void big_profile_init(struct big_profile *b) {
  *b = (struct big_profile){.pers = {"personality", NULL},
                            .archs = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}};
  for (int nr = 0; nr < 600; nr++) {
    char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (name && strcmp(name, "getcwd") && strcmp(name, "personality"))
      strv_push(&b->names, name);
    free(name);
  }
  static const uint64_t personas[] = {0, 8, 131072, 131080, 4294967295};
  b->rules[0] = rule(b->names, "SCMP_ACT_ALLOW");
  for (int i = 0; i < 5; i++) {
    b->pa[i] = (struct spec_seccomp_arg){.index = 0, .value = personas[i], .op = "SCMP_CMP_EQ"};
    b->rules[1 + i] = rule(b->pers, "SCMP_ACT_ALLOW");
    b->rules[1 + i].args = &b->pa[i];
    b->rules[1 + i].n_args = 1;
  }
  b->s = (struct spec_seccomp){.default_action = "SCMP_ACT_ERRNO",
                               .has_default_errno_ret = true,
                               .default_errno_ret = ENOSYS,
                               .architectures = b->archs,
                               .syscalls = b->rules,
                               .n_syscalls = 6};
}

static int check_big_profile_loaded(void) {
  char buf[256];
  CHECK(syscall(SYS_getcwd, buf, sizeof(buf)) == -1 && errno == ENOSYS, "getcwd allowed");
  CHECK(personality(0xffffffff) != -1, "personality(0xffffffff) blocked");
  CHECK(personality(PER_BSD) == -1, "personality(PER_BSD) allowed");
  return 0;
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

static int test_seccomp_big_profile(void) {
  struct big_profile b;
  big_profile_init(&b);
  nook_error err;
  nook_err_clear(&err);
  _cleanup_free_ char *dir = temp_dir();
  CHECK(dir, "mkdtemp: %m");
  _cleanup_free_ char *cache = xasprintf("%s/cache", dir);

  unsigned long long t0 = now_ns();
  scmp_filter_ctx ctx;
  if (seccomp_build(&b.s, &ctx, &err) < 0)
    return why("build: %s", err.msg);
  unsigned long long t1 = now_ns();
  seccomp_release(ctx);
  struct seccomp_program miss, hit;
  unsigned long long t2 = now_ns();
  if (seccomp_program_prepare(&b.s, cache, &miss, &err) < 0)
    return why("prepare: %s", err.msg);
  unsigned long long t3 = now_ns();
  if (seccomp_program_prepare(&b.s, cache, &hit, &err) < 0)
    return why("prepare again: %s", err.msg);
  unsigned long long t4 = now_ns();
  CHECK(miss.n_insns == hit.n_insns &&
            memcmp(miss.insns, hit.insns, miss.n_insns * sizeof(*miss.insns)) == 0,
        "the cached program differs from the compiled one");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return why("no_new_privs: %m");
  unsigned long long t5 = now_ns();
  if (seccomp_program_load(&hit, &err) < 0)
    return why("load: %s", err.msg);
  unsigned long long t6 = now_ns();
  /* Informational, not a limit: timing is bench/'s business. */
  fprintf(stderr,
          "# %zu syscalls x 3 archs, %zu BPF insns: libseccomp rules %.2f ms, compile "
          "(no cache) %.2f ms, from cache %.2f ms, kernel load %.2f ms\n",
          strv_len(b.names), hit.n_insns, (t1 - t0) / 1e6, (t3 - t2) / 1e6, (t4 - t3) / 1e6,
          (t6 - t5) / 1e6);
  seccomp_program_clear(&miss);
  seccomp_program_clear(&hit);
  strv_free(b.names);
  rm_rf_at(AT_FDCWD, dir);
  return check_big_profile_loaded();
}

/* Compiling, caching and reading back, for the leak check. */
static int test_seccomp_prepare_twice(void) {
  struct big_profile b;
  big_profile_init(&b);
  nook_error err;
  nook_err_clear(&err);
  char *dir = temp_dir();
  CHECK(dir, "mkdtemp: %m");
  _cleanup_free_ char *cache = xasprintf("%s/c", dir);
  struct seccomp_program p1, p2;
  int r = seccomp_program_prepare(&b.s, cache, &p1, &err);
  if (r == 0)
    r = seccomp_program_prepare(&b.s, cache, &p2, &err);
  remove_dir(dir);
  strv_free(b.names);
  if (r < 0)
    return why("%s", err.msg);
  bool same = p1.n_insns == p2.n_insns && memcmp(p1.insns, p2.insns, p1.n_insns * 8) == 0;
  seccomp_program_clear(&p1);
  seccomp_program_clear(&p2);
  CHECK(same, "the cached program differs");
  return 0;
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

/* A cache entry is used only for the very same profile: another errno, or a
 * file whose stored key differs (a hash collision, a stale format), means
 * compiling again. */
static int test_seccomp_cache(void) {
  char *n[] = {"getcwd", NULL};
  struct spec_seccomp_syscall rules[] = {rule(n, "SCMP_ACT_ERRNO")};
  rules[0].has_errno_ret = true;
  rules[0].errno_ret = 1001;
  struct spec_seccomp s = allow_all(rules, 1);
  nook_error err;
  nook_err_clear(&err);
  char *dir = temp_dir();
  CHECK(dir, "mkdtemp: %m");
  _cleanup_free_ char *cache = xasprintf("%s/c", dir);
  struct seccomp_program a, b;
  if (seccomp_program_prepare(&s, cache, &a, &err) < 0)
    return why("%s", err.msg);
  CHECK(count_files(cache) == 1, "%d cache files after one profile", count_files(cache));
  rules[0].errno_ret = 1002;
  if (seccomp_program_prepare(&s, cache, &b, &err) < 0)
    return why("%s", err.msg);
  CHECK(count_files(cache) == 2, "%d cache files after two profiles", count_files(cache));
  CHECK(a.n_insns != b.n_insns || memcmp(a.insns, b.insns, a.n_insns * 8) != 0,
        "another errno gave the same program");
  seccomp_program_clear(&b);

  /* Overwrite every entry with a's bytes: b's file now holds a's key. */
  DIR *d = opendir(cache);
  _cleanup_free_ char *a_file = NULL;
  size_t a_len = 0;
  for (struct dirent *e; d && (e = readdir(d));) {
    if (e->d_name[0] == '.')
      continue;
    _cleanup_free_ char *path = xasprintf("%s/%s", cache, e->d_name);
    char *data = NULL;
    size_t len;
    if (!a_file && read_file_at(AT_FDCWD, path, &data, &len, &err) == 0 &&
        memmem(data, len, " 1001 names", 11)) {
      a_file = data;
      a_len = len;
    }
    else if (data)
      free(data);
  }
  closedir(d);
  CHECK(a_file, "no cache entry holds the first profile");
  d = opendir(cache);
  for (struct dirent *e; d && (e = readdir(d));) {
    if (e->d_name[0] == '.')
      continue;
    _cleanup_free_ char *path = xasprintf("%s/%s", cache, e->d_name);
    write_file_at(AT_FDCWD, path, a_file, a_len, 0600, &err);
  }
  closedir(d);
  if (seccomp_program_prepare(&s, cache, &b, &err) < 0)
    return why("%s", err.msg);
  remove_dir(dir);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || seccomp_program_load(&b, &err) < 0)
    return why("load: %s", err.msg);
  char buf[64];
  errno = 0;
  CHECK(syscall(SYS_getcwd, buf, sizeof(buf)) == -1 && errno == 1002,
        "getcwd errno %d, want 1002: a cache entry for another profile was used", errno);
  return 0;
}

/* The cache keeps at most 64 entries: writing one more removes the oldest. */
static int test_seccomp_cache_trim(void) {
  char *dir = temp_dir();
  CHECK(dir, "mkdtemp: %m");
  for (int i = 0; i < 70; i++) {
    _cleanup_free_ char *f = xasprintf("%s/old%02d.bpf", dir, i);
    nook_error e;
    write_file_at(AT_FDCWD, f, "x", 1, 0600, &e);
    struct timespec t[2] = {{.tv_sec = 1000 + i}, {.tv_sec = 1000 + i}};
    utimensat(AT_FDCWD, f, t, 0);
  }
  char *n[] = {"getcwd", NULL};
  struct spec_seccomp_syscall rules[] = {rule(n, "SCMP_ACT_ERRNO")};
  struct spec_seccomp s = allow_all(rules, 1);
  nook_error err;
  nook_err_clear(&err);
  struct seccomp_program prog;
  int r = seccomp_program_prepare(&s, dir, &prog, &err);
  seccomp_program_clear(&prog);
  int count = count_files(dir);
  _cleanup_free_ char *oldest = xasprintf("%s/old00.bpf", dir);
  _cleanup_free_ char *kept = xasprintf("%s/old69.bpf", dir);
  bool oldest_gone = access(oldest, F_OK) < 0, newest_kept = access(kept, F_OK) == 0;
  remove_dir(dir);
  CHECK(r == 0, "%s", err.msg);
  CHECK(count == 64, "%d entries, want 64", count);
  CHECK(oldest_gone && newest_kept, "trimmed the wrong entries");
  return 0;
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

/* ---- capabilities ---- */

static int test_caps_root_sets(void) {
  int r = enter_userns_self();
  if (r)
    return r;
  char *two[] = {"CAP_KILL", "chown", NULL}, *none[] = {NULL};
  struct spec_capabilities c = {
      .bounding = two, .effective = two, .permitted = two, .inheritable = none, .ambient = none};
  struct spec_process p = {.capabilities = &c};
  nook_error err;
  nook_err_clear(&err);
  if (process_set_user_and_caps(&p, false, &err) < 0)
    return why("%s", err.msg);
  unsigned long long want = BIT(CAP_KILL) | BIT(CAP_CHOWN);
  CHECK_CAPS("CapEff", want);
  CHECK_CAPS("CapPrm", want);
  CHECK_CAPS("CapBnd", want);
  CHECK_CAPS("CapInh", 0);
  CHECK_CAPS("CapAmb", 0);
  return 0;
}

static int test_caps_ambient(void) {
  int r = enter_userns_self();
  if (r)
    return r;
  char *one[] = {"CAP_NET_BIND_SERVICE", NULL};
  struct spec_capabilities c = {
      .bounding = one, .effective = one, .permitted = one, .inheritable = one, .ambient = one};
  nook_error err;
  nook_err_clear(&err);
  if (caps_apply(&c, &err) < 0)
    return why("%s", err.msg);
  CHECK_CAPS("CapAmb", BIT(CAP_NET_BIND_SERVICE));
  CHECK_CAPS("CapInh", BIT(CAP_NET_BIND_SERVICE));
  CHECK_CAPS("CapBnd", BIT(CAP_NET_BIND_SERVICE));
  return 0;
}

static int test_caps_bad_lists(void) {
  char *bad[] = {"CAP_CHOWN", "CAP_FLY", NULL}, *kill[] = {"CAP_KILL", NULL}, *none[] = {NULL};
  struct caps_masks m;
  nook_error err;
  nook_err_clear(&err);
  struct spec_capabilities c = {.bounding = kill, .effective = bad};
  CHECK(caps_parse(&c, &m, &err) < 0, "CAP_FLY accepted");
  CHECK(strstr(err.msg, "CAP_FLY") && strstr(err.msg, "effective"), "message: %s", err.msg);

  c = (struct spec_capabilities){.effective = kill, .permitted = none};
  CHECK(caps_parse(&c, &m, &err) < 0, "effective outside permitted accepted");
  CHECK(strstr(err.msg, "CAP_KILL"), "message: %s", err.msg);

  c = (struct spec_capabilities){.permitted = kill, .ambient = kill};
  CHECK(caps_parse(&c, &m, &err) < 0, "ambient outside inheritable accepted");
  CHECK(strstr(err.msg, "ambient"), "message: %s", err.msg);

  cap_value_t v;
  CHECK(caps_parse_name("CAP_SYS_ADMIN", &v) == 0 && v == CAP_SYS_ADMIN, "CAP_SYS_ADMIN");
  CHECK(caps_parse_name("sys_admin", &v) == 0 && v == CAP_SYS_ADMIN, "sys_admin");
  CHECK(caps_parse_name("5", &v) < 0, "a number accepted as a name");
  CHECK(caps_parse_name("CAP_", &v) < 0, "CAP_ accepted");
  return 0;
}

static int as_user_1000_with_kill(void) {
  char *kill[] = {"CAP_KILL", NULL};
  struct spec_capabilities c = {.bounding = kill, .effective = kill, .permitted = kill};
  uint32_t groups[] = {1001, 1002};
  struct spec_process p = {.capabilities = &c,
                           .user = {.uid = 1000,
                                    .gid = 1000,
                                    .additional_gids = groups,
                                    .n_additional_gids = 2}};
  nook_error err;
  nook_err_clear(&err);
  if (process_set_user_and_caps(&p, process_can_setgroups(), &err) < 0)
    return why("%s", err.msg);
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  getresuid(&ru, &eu, &su);
  getresgid(&rg, &eg, &sg);
  CHECK(ru == 1000 && eu == 1000 && su == 1000, "uids %u %u %u", ru, eu, su);
  CHECK(rg == 1000 && eg == 1000 && sg == 1000, "gids %u %u %u", rg, eg, sg);
  gid_t got[8];
  int n = getgroups(8, got);
  CHECK(n == 2 && got[0] == 1001 && got[1] == 1002, "%d supplementary groups", n);
  CHECK_CAPS("CapEff", BIT(CAP_KILL));
  CHECK_CAPS("CapPrm", BIT(CAP_KILL));
  CHECK_CAPS("CapBnd", BIT(CAP_KILL));
  CHECK(prctl(PR_GET_KEEPCAPS) == 0, "keepcaps left on");
  return 0;
}

static int test_user_nonroot_keeps_caps(void) { return in_userns_range(as_user_1000_with_kill); }

static int as_user_1000_no_caps(void) {
  struct spec_process p = {.user = {.uid = 1000, .gid = 1000}};
  nook_error err;
  nook_err_clear(&err);
  if (process_set_user_and_caps(&p, true, &err) < 0)
    return why("%s", err.msg);
  CHECK(getuid() == 1000, "uid %u", getuid());
  CHECK_CAPS("CapEff", 0);
  CHECK_CAPS("CapPrm", 0);
  CHECK(getgroups(0, NULL) == 0, "supplementary groups left");
  return 0;
}

static int test_user_nonroot_no_caps(void) { return in_userns_range(as_user_1000_no_caps); }

static int test_user_groups_denied(void) {
  int r = enter_userns_self();
  if (r)
    return r;
  uint32_t groups[] = {0};
  struct spec_process p = {.user = {.additional_gids = groups, .n_additional_gids = 1}};
  nook_error err;
  nook_err_clear(&err);
  CHECK(process_set_user_and_caps(&p, process_can_setgroups(), &err) < 0,
        "additionalGids with setgroups denied: no error");
  CHECK(strstr(err.msg, "additionalGids") && strstr(err.msg, "setgroups"), "message: %s",
        err.msg);
  /* Without additionalGids the same namespace is fine. */
  p.user.n_additional_gids = 0;
  CHECK(process_set_user_and_caps(&p, process_can_setgroups(), &err) == 0, "%s", err.msg);
  return 0;
}

/* The whole sequence without no_new_privs: the filter needs CAP_SYS_ADMIN,
 * which the final capability set drops, so it must load before. */
static int test_security_sequence(void) {
  int r = enter_userns_self();
  if (r)
    return r;
  char *kill[] = {"CAP_KILL", NULL}, *n[] = {"getcwd", NULL};
  struct spec_capabilities c = {.bounding = kill, .effective = kill, .permitted = kill};
  struct spec_rlimit lim[] = {{.type = "RLIMIT_NOFILE", .soft = 64, .hard = 128}};
  struct spec_process p = {.capabilities = &c,
                           .rlimits = lim,
                           .n_rlimits = 1,
                           .user = {.has_umask = true, .umask = 027}};
  struct spec_seccomp_syscall rules[] = {rule(n, "SCMP_ACT_ERRNO")};
  struct spec_seccomp s = allow_all(rules, 1);
  nook_error err;
  nook_err_clear(&err);
  struct seccomp_program prog;
  if (seccomp_program_prepare(&s, NULL, &prog, &err) < 0 ||
      process_apply_security(&p, &prog, false, &err) < 0)
    return why("%s", err.msg);
  seccomp_program_clear(&prog);
  char buf[64];
  CHECK(syscall(SYS_getcwd, buf, sizeof(buf)) == -1 && errno == EPERM, "getcwd not blocked");
  CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0, "no_new_privs set");
  CHECK_CAPS("CapEff", BIT(CAP_KILL));
  CHECK(umask(0) == 027, "umask not applied");
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  CHECK(rl.rlim_cur == 64 && rl.rlim_max == 128, "RLIMIT_NOFILE %lu/%lu", rl.rlim_cur,
        rl.rlim_max);
  return 0;
}

static int test_security_sequence_nnp(void) {
  char *n[] = {"getcwd", NULL};
  struct spec_process p = {.no_new_privileges = true, .user = {.uid = getuid(), .gid = getgid()}};
  struct spec_seccomp_syscall rules[] = {rule(n, "SCMP_ACT_ERRNO")};
  struct spec_seccomp s = allow_all(rules, 1);
  nook_error err;
  nook_err_clear(&err);
  struct seccomp_program prog;
  if (seccomp_program_prepare(&s, NULL, &prog, &err) < 0 ||
      process_apply_security(&p, &prog, false, &err) < 0)
    return why("%s", err.msg);
  seccomp_program_clear(&prog);
  char buf[64];
  CHECK(syscall(SYS_getcwd, buf, sizeof(buf)) == -1 && errno == EPERM, "getcwd not blocked");
  CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "no_new_privs not set");
  return 0;
}

/* Without no_new_privs and without CAP_SYS_ADMIN the kernel refuses; the
 * message says what is missing. */
static int test_seccomp_needs_sys_admin(void) {
  int r = enter_userns_self();
  if (r)
    return r;
  char *kill[] = {"CAP_KILL", NULL}, *n[] = {"getcwd", NULL};
  struct spec_capabilities c = {.bounding = kill, .effective = kill, .permitted = kill};
  nook_error err;
  nook_err_clear(&err);
  if (caps_apply(&c, &err) < 0)
    return why("%s", err.msg);
  struct spec_seccomp_syscall rules[] = {rule(n, "SCMP_ACT_ERRNO")};
  struct spec_seccomp s = allow_all(rules, 1);
  CHECK(seccomp_load_filter(&s, &err) < 0, "loaded without CAP_SYS_ADMIN or no_new_privs");
  CHECK(strstr(err.msg, "CAP_SYS_ADMIN"), "message: %s", err.msg);
  return 0;
}

/* A non-root user with no capabilities and no no_new_privs: the filter
 * must load before the uid change takes CAP_SYS_ADMIN away. */
static int as_user_1000_seccomp_early(void) {
  char *n[] = {"getcwd", NULL};
  struct spec_seccomp_syscall rules[] = {rule(n, "SCMP_ACT_ERRNO")};
  struct spec_seccomp s = allow_all(rules, 1);
  struct spec_process p = {.user = {.uid = 1000, .gid = 1000}};
  nook_error err;
  nook_err_clear(&err);
  struct seccomp_program prog;
  if (seccomp_program_prepare(&s, NULL, &prog, &err) < 0 ||
      process_apply_security(&p, &prog, true, &err) < 0)
    return why("%s", err.msg);
  seccomp_program_clear(&prog);
  char buf[64];
  CHECK(syscall(SYS_getcwd, buf, sizeof(buf)) == -1 && errno == EPERM, "getcwd not blocked");
  CHECK(getuid() == 1000, "uid %u", getuid());
  CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0, "no_new_privs set");
  CHECK_CAPS("CapEff", 0);
  return 0;
}

static int test_security_sequence_nonroot_early_seccomp(void) {
  return in_userns_range(as_user_1000_seccomp_early);
}

/* No seccomp profile at all: everything else still applies. */
static int test_security_sequence_no_seccomp(void) {
  struct spec_process p = {.no_new_privileges = true, .user = {.uid = getuid(), .gid = getgid()}};
  nook_error err;
  nook_err_clear(&err);
  if (process_apply_security(&p, NULL, false, &err) < 0)
    return why("%s", err.msg);
  CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "no_new_privs not set");
  char buf[64];
  CHECK(syscall(SYS_getcwd, buf, sizeof(buf)) > 0, "getcwd blocked");
  return 0;
}

/* ---- limits ---- */

static int test_rlimits(void) {
  struct spec_rlimit lim[] = {{.type = "RLIMIT_NOFILE", .soft = 100, .hard = 200},
                              {.type = "RLIMIT_CORE", .soft = 0, .hard = 0}};
  struct spec_process p = {.rlimits = lim, .n_rlimits = 2};
  nook_error err;
  nook_err_clear(&err);
  if (process_apply_rlimits(&p, &err) < 0)
    return why("%s", err.msg);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  CHECK(rl.rlim_cur == 100 && rl.rlim_max == 200, "RLIMIT_NOFILE %lu/%lu", rl.rlim_cur,
        rl.rlim_max);

  struct spec_rlimit bad[] = {{.type = "RLIMIT_NOFILE", .soft = 50, .hard = 50},
                              {.type = "RLIMIT_SPEED", .soft = 1, .hard = 1}};
  p = (struct spec_process){.rlimits = bad, .n_rlimits = 2};
  CHECK(process_apply_rlimits(&p, &err) < 0, "RLIMIT_SPEED accepted");
  CHECK(strstr(err.msg, "RLIMIT_SPEED"), "message: %s", err.msg);
  getrlimit(RLIMIT_NOFILE, &rl);
  CHECK(rl.rlim_cur == 100, "a limit was set before the bad name was found");

  struct spec_rlimit inverted[] = {{.type = "RLIMIT_NOFILE", .soft = 150, .hard = 120}};
  p = (struct spec_process){.rlimits = inverted, .n_rlimits = 1};
  CHECK(process_apply_rlimits(&p, &err) < 0 && strstr(err.msg, "soft"), "soft > hard: %s",
        err.msg);
  return 0;
}

static int test_oom_nnp_umask(void) {
  struct spec_process p = {.has_oom_score_adj = true, .oom_score_adj = 500,
                           .no_new_privileges = true, .user = {.has_umask = true, .umask = 077}};
  nook_error err;
  nook_err_clear(&err);
  if (process_apply_oom_score_adj(&p, &err) < 0 || process_apply_no_new_privs(&p, &err) < 0)
    return why("%s", err.msg);
  process_apply_umask(&p);
  char *s = NULL;
  size_t len;
  if (read_file_at(AT_FDCWD, "/proc/self/oom_score_adj", &s, &len, &err) < 0)
    return why("%s", err.msg);
  CHECK(atoi(s) == 500, "oom_score_adj %s", s);
  free(s);
  CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "no_new_privs not set");
  CHECK(umask(0) == 077, "umask not set");
  p.oom_score_adj = 1001;
  CHECK(process_apply_oom_score_adj(&p, &err) < 0, "oomScoreAdj 1001 accepted");
  return 0;
}

/* ---- runner ---- */

/* in_process: the case changes nothing in the process, so it runs in the
 * test binary itself, where the sanitizers' leak check sees it at exit. */
static const struct {
  const char *name;
  int (*fn)(void);
  bool in_process;
} cases[] = {
#define CASE(n) {#n, test_##n, false}
#define CASE_IN_PROCESS(n) {#n, test_##n, true}
    CASE(seccomp_errno_ret),
    CASE(seccomp_arg_condition),
    CASE(seccomp_arg_and_or),
    CASE(seccomp_masked_eq),
    CASE(seccomp_unknown_syscall_skipped),
    CASE_IN_PROCESS(seccomp_bad_names),
    CASE_IN_PROCESS(seccomp_prepare_twice),
    CASE(seccomp_kill_process),
    CASE(seccomp_default_errno_archs_flags),
    CASE(seccomp_rule_like_default),
    CASE(seccomp_big_profile),
    CASE(seccomp_cache),
    CASE_IN_PROCESS(seccomp_cache_trim),
    CASE(seccomp_needs_sys_admin),
    CASE(caps_root_sets),
    CASE(caps_ambient),
    CASE_IN_PROCESS(caps_bad_lists),
    CASE(user_nonroot_keeps_caps),
    CASE(user_nonroot_no_caps),
    CASE(user_groups_denied),
    CASE(security_sequence),
    CASE(security_sequence_nnp),
    CASE(security_sequence_no_seccomp),
    CASE(security_sequence_nonroot_early_seccomp),
    CASE(rlimits),
    CASE(oom_nnp_umask),
#undef CASE
#undef CASE_IN_PROCESS
};

int main(int argc, char **argv) {
  int failed = 0;
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
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
