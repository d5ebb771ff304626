#include "seccomp-filter.h"

#include <string.h>

#include "log.h"
#include "util.h"

/* The spec allows six syscall arguments (index 0..5). */
#define SECCOMP_MAX_ARGS 6

const char *const seccomp_action_names[] = {
    "SCMP_ACT_ALLOW",        "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",   "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",  "SCMP_ACT_LOG",   "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",         NULL,
};

static const struct {
  const char *name;
  enum scmp_compare op;
} operators[] = {
    {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
    {"SCMP_CMP_NE", SCMP_CMP_NE},
};

const char *const seccomp_operator_names[] = {
    "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
    "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE", NULL,
};

static const struct {
  const char *name;
  uint32_t arch;
} archs[] = {
    {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64},
    {"SCMP_ARCH_ARM", SCMP_ARCH_ARM},
    {"SCMP_ARCH_MIPS", SCMP_ARCH_MIPS},
    {"SCMP_ARCH_MIPS64", SCMP_ARCH_MIPS64},
    {"SCMP_ARCH_MIPS64N32", SCMP_ARCH_MIPS64N32},
    {"SCMP_ARCH_MIPSEL", SCMP_ARCH_MIPSEL},
    {"SCMP_ARCH_MIPSEL64", SCMP_ARCH_MIPSEL64},
    {"SCMP_ARCH_MIPSEL64N32", SCMP_ARCH_MIPSEL64N32},
    {"SCMP_ARCH_PARISC", SCMP_ARCH_PARISC},
    {"SCMP_ARCH_PARISC64", SCMP_ARCH_PARISC64},
    {"SCMP_ARCH_PPC", SCMP_ARCH_PPC},
    {"SCMP_ARCH_PPC64", SCMP_ARCH_PPC64},
    {"SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE},
    {"SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64},
    {"SCMP_ARCH_S390", SCMP_ARCH_S390},
    {"SCMP_ARCH_S390X", SCMP_ARCH_S390X},
    {"SCMP_ARCH_X32", SCMP_ARCH_X32},
    {"SCMP_ARCH_X86", SCMP_ARCH_X86},
    {"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64},
};

const char *const seccomp_arch_names[] = {
    "SCMP_ARCH_AARCH64",  "SCMP_ARCH_ARM",      "SCMP_ARCH_MIPS",        "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",  "SCMP_ARCH_MIPSEL64",    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PARISC",   "SCMP_ARCH_PARISC64", "SCMP_ARCH_PPC",         "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",  "SCMP_ARCH_RISCV64",  "SCMP_ARCH_S390",        "SCMP_ARCH_S390X",
    "SCMP_ARCH_X32",      "SCMP_ARCH_X86",      "SCMP_ARCH_X86_64",      NULL,
};

/* api_level: the seccomp_api_get() level at which libseccomp and the kernel
 * both support the flag; 0: nook knows the flag but cannot set it. */
static const struct {
  const char *name;
  enum scmp_filter_attr attr;
  unsigned api_level;
} flags[] = {
    {"SECCOMP_FILTER_FLAG_TSYNC", SCMP_FLTATR_CTL_TSYNC, 2},
    {"SECCOMP_FILTER_FLAG_LOG", SCMP_FLTATR_CTL_LOG, 3},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SCMP_FLTATR_CTL_SSB, 4},
    /* Only meaningful with SCMP_ACT_NOTIFY, and libseccomp 2.5 has no
     * attribute for it. */
    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 0, 0},
};

const char *const seccomp_flag_names[] = {
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    NULL,
};

bool seccomp_flag_supported(const char *flag) {
  for (size_t i = 0; i < ARRAY_SIZE(flags); i++)
    if (strcmp(flags[i].name, flag) == 0)
      return flags[i].api_level && seccomp_api_get() >= flags[i].api_level;
  return false;
}

/* errno_ret: the rule's errnoRet when has_errno_ret, else EPERM (the
 * spec's default for SCMP_ACT_ERRNO and SCMP_ACT_TRACE). */
static int parse_action(const char *name, bool has_errno_ret, uint32_t errno_ret, uint32_t *out,
                        const char *where, nook_error *err) {
  uint32_t ret = has_errno_ret ? errno_ret : EPERM;
  if (!name)
    return nook_errx(err, EINVAL, "%s: missing action", where);
  if (strcmp(name, "SCMP_ACT_ALLOW") == 0)
    *out = SCMP_ACT_ALLOW;
  else if (strcmp(name, "SCMP_ACT_ERRNO") == 0)
    *out = SCMP_ACT_ERRNO(ret);
  else if (strcmp(name, "SCMP_ACT_KILL") == 0 || strcmp(name, "SCMP_ACT_KILL_THREAD") == 0)
    *out = SCMP_ACT_KILL_THREAD;
  else if (strcmp(name, "SCMP_ACT_KILL_PROCESS") == 0)
    *out = SCMP_ACT_KILL_PROCESS;
  else if (strcmp(name, "SCMP_ACT_TRAP") == 0)
    *out = SCMP_ACT_TRAP;
  else if (strcmp(name, "SCMP_ACT_TRACE") == 0)
    *out = SCMP_ACT_TRACE(ret);
  else if (strcmp(name, "SCMP_ACT_LOG") == 0)
    *out = SCMP_ACT_LOG;
  else if (strcmp(name, "SCMP_ACT_NOTIFY") == 0)
    return nook_errx(err, ENOTSUP,
                     "%s: SCMP_ACT_NOTIFY is not supported by nook (no seccomp listener; "
                     "use another action)",
                     where);
  else
    return nook_errx(err, EINVAL, "%s: unknown seccomp action `%s` (known: SCMP_ACT_ALLOW, "
                     "SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, "
                     "SCMP_ACT_KILL_THREAD, SCMP_ACT_LOG, SCMP_ACT_TRACE, SCMP_ACT_TRAP)",
                     where, name);
  return 0;
}

static int parse_arg(const struct spec_seccomp_arg *a, struct scmp_arg_cmp *out, const char *where,
                     nook_error *err) {
  if (a->index >= SECCOMP_MAX_ARGS)
    return nook_errx(err, EINVAL, "%s: argument index %u out of range (0 to %d)", where,
                     a->index, SECCOMP_MAX_ARGS - 1);
  if (!a->op)
    return nook_errx(err, EINVAL, "%s: missing op", where);
  for (size_t i = 0; i < ARRAY_SIZE(operators); i++) {
    if (strcmp(operators[i].name, a->op) == 0) {
      /* For SCMP_CMP_MASKED_EQ datum_a is the mask and datum_b the value
       * compared with the masked argument: the spec's value and valueTwo. */
      *out = (struct scmp_arg_cmp){
          .arg = a->index, .op = operators[i].op, .datum_a = a->value, .datum_b = a->value_two};
      return 0;
    }
  }
  return nook_errx(err, EINVAL,
                   "%s: unknown seccomp operator `%s` (known: SCMP_CMP_EQ, SCMP_CMP_NE, "
                   "SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_GT, SCMP_CMP_GE, SCMP_CMP_MASKED_EQ)",
                   where, a->op);
}

static int add_arch(scmp_filter_ctx ctx, const char *name, nook_error *err) {
  for (size_t i = 0; i < ARRAY_SIZE(archs); i++) {
    if (strcmp(archs[i].name, name) != 0)
      continue;
    int r = seccomp_arch_add(ctx, archs[i].arch);
    /* The native architecture is in every new filter already. */
    if (r < 0 && r != -EEXIST)
      return nook_err(err, -r, "linux.seccomp.architectures: add `%s`", name);
    return 0;
  }
  return nook_errx(err, EINVAL,
                   "linux.seccomp.architectures: unknown architecture `%s` (such as "
                   "SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32, SCMP_ARCH_AARCH64)",
                   name);
}

static int set_flag(scmp_filter_ctx ctx, const char *name, nook_error *err) {
  for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
    if (strcmp(flags[i].name, name) != 0)
      continue;
    if (!seccomp_flag_supported(name))
      return nook_errx(err, ENOTSUP,
                       "linux.seccomp.flags: `%s` is not supported with this kernel and "
                       "libseccomp %u.%u.%u",
                       name, seccomp_version()->major, seccomp_version()->minor,
                       seccomp_version()->micro);
    int r = seccomp_attr_set(ctx, flags[i].attr, 1);
    if (r < 0)
      return nook_err(err, -r, "linux.seccomp.flags: set `%s`", name);
    return 0;
  }
  return nook_errx(err, EINVAL,
                   "linux.seccomp.flags: unknown flag `%s` (known: SECCOMP_FILTER_FLAG_TSYNC, "
                   "SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW)",
                   name);
}

/* One spec rule for one syscall number. Conditions on distinct arguments
 * are ANDed in one rule; when two conditions test the same argument, each
 * becomes a rule of its own (ORed), as runc does, since libseccomp cannot
 * AND two tests of one argument. */
static int add_rule(scmp_filter_ctx ctx, uint32_t action, int nr, const char *name,
                    const struct scmp_arg_cmp *conds, size_t n, nook_error *err) {
  unsigned per_arg[SECCOMP_MAX_ARGS] = {0};
  bool same_arg_twice = false;
  for (size_t i = 0; i < n; i++)
    if (++per_arg[conds[i].arg] > 1)
      same_arg_twice = true;

  int r;
  if (!same_arg_twice) {
    r = seccomp_rule_add_array(ctx, action, nr, n, conds);
  } else {
    r = 0;
    for (size_t i = 0; i < n && r >= 0; i++)
      r = seccomp_rule_add_array(ctx, action, nr, 1, &conds[i]);
  }
  if (r < 0)
    return nook_err(err, -r, "linux.seccomp: add the rule for syscall `%s`", name);
  return 0;
}

static void release_ctx(scmp_filter_ctx *ctx) {
  if (*ctx)
    seccomp_release(*ctx);
}

int seccomp_build(const struct spec_seccomp *s, scmp_filter_ctx *out, nook_error *err) {
  uint32_t default_action;
  int r = parse_action(s->default_action, s->has_default_errno_ret, s->default_errno_ret,
                       &default_action, "linux.seccomp.defaultAction", err);
  if (r < 0)
    return r;
  if (s->listener_path && *s->listener_path)
    return nook_errx(err, ENOTSUP,
                     "linux.seccomp.listenerPath: seccomp notification is not supported by "
                     "nook (remove listenerPath)");

  __attribute__((cleanup(release_ctx))) scmp_filter_ctx ctx = seccomp_init(default_action);
  if (!ctx)
    return nook_errx(err, EINVAL, "linux.seccomp: libseccomp cannot create a filter");

  /* no_new_privs is the caller's decision (process.noNewPrivileges). */
  r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  if (r < 0)
    return nook_err(err, -r, "linux.seccomp: clear the no_new_privs attribute");
  /* Without it libseccomp turns every kernel error into ECANCELED. */
  r = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
  if (r < 0)
    nook_debug("seccomp: raw system error codes unavailable: %s", strerror(-r));
  /* A binary tree of syscall numbers instead of a linear list: with a
   * 400-syscall profile every syscall otherwise walks up to 400 compares. */
  r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  if (r < 0)
    nook_debug("seccomp: binary tree optimization unavailable: %s", strerror(-r));

  for (char **a = s->architectures; a && *a; a++)
    if ((r = add_arch(ctx, *a, err)) < 0)
      return r;
  for (char **f = s->flags; f && *f; f++)
    if ((r = set_flag(ctx, *f, err)) < 0)
      return r;

  for (size_t i = 0; i < s->n_syscalls; i++) {
    const struct spec_seccomp_syscall *sc = &s->syscalls[i];
    char where[64];
    snprintf(where, sizeof(where), "linux.seccomp.syscalls[%zu]", i);

    uint32_t action;
    if ((r = parse_action(sc->action, sc->has_errno_ret, sc->errno_ret, &action, where, err)) < 0)
      return r;
    struct scmp_arg_cmp conds[sc->n_args ? sc->n_args : 1];
    for (size_t j = 0; j < sc->n_args; j++) {
      char arg_where[96];
      snprintf(arg_where, sizeof(arg_where), "%s.args[%zu]", where, j);
      if ((r = parse_arg(&sc->args[j], &conds[j], arg_where, err)) < 0)
        return r;
    }
    /* libseccomp refuses rules that repeat the default action. */
    if (action == default_action)
      continue;

    for (char **name = sc->names; name && *name; name++) {
      int nr = seccomp_syscall_resolve_name(*name);
      if (nr == __NR_SCMP_ERROR) {
        nook_debug("seccomp: skipping syscall `%s` unknown to libseccomp", *name);
        continue;
      }
      if ((r = add_rule(ctx, action, nr, *name, conds, sc->n_args, err)) < 0)
        return r;
    }
  }

  *out = steal_pointer(&ctx);
  return 0;
}

int seccomp_load_built(scmp_filter_ctx ctx, nook_error *err) {
  __attribute__((cleanup(release_ctx))) scmp_filter_ctx owned = ctx;
  int r = seccomp_load(owned);
  if (r == -EACCES || r == -EPERM)
    return nook_err(err, -r,
                    "load the seccomp filter (without process.noNewPrivileges it needs "
                    "CAP_SYS_ADMIN)");
  if (r < 0)
    return nook_err(err, -r, "load the seccomp filter");
  return 0;
}

int seccomp_load_filter(const struct spec_seccomp *s, nook_error *err) {
  scmp_filter_ctx ctx;
  int r = seccomp_build(s, &ctx, err);
  if (r < 0)
    return r;
  return seccomp_load_built(ctx, err);
}
