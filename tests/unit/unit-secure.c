/* Seccomp filters from linux.seccomp, checked by their effect on the
 * process that loaded them; helpers in secure-unit.h. */
#include "secure-unit.h"

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

int main(int argc, char **argv) {
  static const struct secure_case cases[] = {
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
  };
  return run_cases(cases, ARRAY_SIZE(cases), argc, argv);
}
