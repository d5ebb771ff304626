/* Capabilities, the user change, rlimits, oom_score_adj, umask and the
 * whole pre-exec sequence, checked in /proc/self/status and by syscalls;
 * helpers in secure-unit.h. */
#include "secure-unit.h"

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

/* The process's security applied with a seccomp filter that denies
 * getcwd(2) (EPERM): whether the filter loaded is then plain to see. */
static int apply_security_denying_getcwd(const struct spec_process *p, bool can_setgroups,
                                         nook_error *err) {
  char *n[] = {"getcwd", NULL};
  struct spec_seccomp_syscall rules[] = {rule(n, "SCMP_ACT_ERRNO")};
  struct spec_seccomp s = allow_all(rules, 1);
  nook_err_clear(err);
  struct seccomp_program prog;
  int r = seccomp_program_prepare(&s, NULL, &prog, err);
  if (r < 0)
    return r;
  r = process_apply_security(p, &prog, can_setgroups, err);
  seccomp_program_clear(&prog);
  return r;
}

static bool getcwd_is_denied(void) {
  char buf[64];
  return syscall(SYS_getcwd, buf, sizeof(buf)) == -1 && errno == EPERM;
}

/* The whole sequence without no_new_privs: the filter needs CAP_SYS_ADMIN,
 * which the final capability set drops, so it must load before. */
static int test_security_sequence(void) {
  int r = enter_userns_self();
  if (r)
    return r;
  char *kill[] = {"CAP_KILL", NULL};
  struct spec_capabilities c = {.bounding = kill, .effective = kill, .permitted = kill};
  struct spec_rlimit lim[] = {{.type = "RLIMIT_NOFILE", .soft = 64, .hard = 128}};
  struct spec_process p = {.capabilities = &c,
                           .rlimits = lim,
                           .n_rlimits = 1,
                           .user = {.has_umask = true, .umask = 027}};
  nook_error err;
  if (apply_security_denying_getcwd(&p, false, &err) < 0)
    return why("%s", err.msg);
  CHECK(getcwd_is_denied(), "getcwd not blocked");
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
  struct spec_process p = {.no_new_privileges = true, .user = {.uid = getuid(), .gid = getgid()}};
  nook_error err;
  if (apply_security_denying_getcwd(&p, false, &err) < 0)
    return why("%s", err.msg);
  CHECK(getcwd_is_denied(), "getcwd not blocked");
  CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "no_new_privs not set");
  return 0;
}

/* A non-root user with no capabilities and no no_new_privs: the filter
 * must load before the uid change takes CAP_SYS_ADMIN away. */
static int as_user_1000_seccomp_early(void) {
  struct spec_process p = {.user = {.uid = 1000, .gid = 1000}};
  nook_error err;
  if (apply_security_denying_getcwd(&p, true, &err) < 0)
    return why("%s", err.msg);
  CHECK(getcwd_is_denied(), "getcwd not blocked");
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

int main(int argc, char **argv) {
  static const struct secure_case cases[] = {
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
  };
  return run_cases(cases, ARRAY_SIZE(cases), argc, argv);
}
