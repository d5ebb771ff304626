#include "seccomp-filter.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

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
  unsigned bit;
} flags[] = {
    {"SECCOMP_FILTER_FLAG_TSYNC", SCMP_FLTATR_CTL_TSYNC, 2, SECCOMP_FILTER_FLAG_TSYNC},
    {"SECCOMP_FILTER_FLAG_LOG", SCMP_FLTATR_CTL_LOG, 3, SECCOMP_FILTER_FLAG_LOG},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SCMP_FLTATR_CTL_SSB, 4, SECCOMP_FILTER_FLAG_SPEC_ALLOW},
    /* Only meaningful with SCMP_ACT_NOTIFY, and libseccomp 2.5 has no
     * attribute for it. */
    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 0, 0, 0},
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

/* The index of a flag in flags[], checked to be usable here. */
static int find_flag(const char *name, nook_error *err) {
  for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
    if (strcmp(flags[i].name, name) != 0)
      continue;
    if (!seccomp_flag_supported(name))
      return nook_errx(err, ENOTSUP,
                       "linux.seccomp.flags: `%s` is not supported with this kernel and "
                       "libseccomp %u.%u.%u",
                       name, seccomp_version()->major, seccomp_version()->minor,
                       seccomp_version()->micro);
    return (int)i;
  }
  return nook_errx(err, EINVAL,
                   "linux.seccomp.flags: unknown flag `%s` (known: SECCOMP_FILTER_FLAG_TSYNC, "
                   "SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW)",
                   name);
}

static int set_flag(scmp_filter_ctx ctx, const char *name, nook_error *err) {
  int i = find_flag(name, err);
  if (i < 0)
    return i;
  int r = seccomp_attr_set(ctx, flags[i].attr, 1);
  if (r < 0)
    return nook_err(err, -r, "linux.seccomp.flags: set `%s`", name);
  return 0;
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

/* ---- compiled programs and their cache ---- */

static const char cache_magic[8] = "NOOKBPF1";

struct cache_header {
  char magic[8];
  uint32_t key_len;
  uint32_t n_insns;
};

struct strbuf {
  char *p;
  size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct strbuf *b, const char *fmt,
                                                             ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (b->p && b->len + n < b->cap) {
      b->len += n;
      return;
    }
    b->cap = (b->cap + n + 1) * 2;
    b->p = xrealloc(b->p, b->cap);
  }
}

/* Strings carry their length, so no name can make two profiles look alike. */
static void sb_str(struct strbuf *b, const char *s) {
  if (!s)
    sb_printf(b, "- ");
  else
    sb_printf(b, "%zu:%s ", strlen(s), s);
}

/* Everything that shapes the BPF, byte for byte: the cache key. Load flags
 * are not in it; they are applied at load time. */
static char *cache_key(const struct spec_seccomp *s, size_t *len) {
  struct strbuf b = {0};
  struct utsname u;
  uname(&u);
  const struct scmp_version *v = seccomp_version();
  /* The optimization level is nook's choice: part of the key in case it changes. */
  sb_printf(&b, "nook-seccomp 1 optimize 2\nlibseccomp %u.%u.%u api %u\nkernel ", v->major, v->minor, v->micro,
            seccomp_api_get());
  sb_str(&b, u.release);
  sb_str(&b, u.machine);
  sb_printf(&b, "\ndefault ");
  sb_str(&b, s->default_action);
  sb_printf(&b, "%d %u\narchs ", s->has_default_errno_ret, s->default_errno_ret);
  for (char **a = s->architectures; a && *a; a++)
    sb_str(&b, *a);
  for (size_t i = 0; i < s->n_syscalls; i++) {
    const struct spec_seccomp_syscall *sc = &s->syscalls[i];
    sb_printf(&b, "\nrule ");
    sb_str(&b, sc->action);
    sb_printf(&b, "%d %u names ", sc->has_errno_ret, sc->errno_ret);
    for (char **n = sc->names; n && *n; n++)
      sb_str(&b, *n);
    sb_printf(&b, "args %zu ", sc->n_args);
    for (size_t j = 0; j < sc->n_args; j++) {
      sb_printf(&b, "%u %llu %llu ", sc->args[j].index, (unsigned long long)sc->args[j].value,
                (unsigned long long)sc->args[j].value_two);
      sb_str(&b, sc->args[j].op);
    }
  }
  sb_printf(&b, "\n");
  *len = b.len;
  return b.p;
}

/* FNV-1a, only to name the file: a hit is checked against the whole key. */
static uint64_t key_hash(const char *key, size_t len) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char)key[i]) * 0x100000001b3ULL;
  return h;
}

static bool cache_read(const char *path, const char *key, size_t key_len,
                       struct seccomp_program *out) {
  nook_error ignored;
  _cleanup_free_ char *data = NULL;
  size_t len;
  if (read_file_at(AT_FDCWD, path, &data, &len, &ignored) < 0)
    return false;
  struct cache_header h;
  if (len < sizeof(h))
    return false;
  memcpy(&h, data, sizeof(h));
  if (memcmp(h.magic, cache_magic, sizeof(h.magic)) != 0 || h.key_len != key_len ||
      h.n_insns == 0 || len != sizeof(h) + key_len + (size_t)h.n_insns * sizeof(struct sock_filter))
    return false;
  if (memcmp(data + sizeof(h), key, key_len) != 0)
    return false;
  out->n_insns = h.n_insns;
  out->insns = xmalloc(h.n_insns * sizeof(struct sock_filter));
  memcpy(out->insns, data + sizeof(h) + key_len, h.n_insns * sizeof(struct sock_filter));
  return true;
}

/* Each distinct profile leaves one entry (10-20 KiB); past this many the
 * oldest written go. */
#define CACHE_MAX_ENTRIES 64

static void cache_trim(const char *dir) {
  _cleanup_closedir_ DIR *d = opendir(dir);
  if (!d)
    return;
  for (;;) {
    size_t n = 0;
    char oldest[256] = "";
    struct timespec oldest_time = {0};
    rewinddir(d);
    for (struct dirent *e; (e = readdir(d));) {
      struct stat st;
      size_t len = strlen(e->d_name);
      if (len < 5 || len >= sizeof(oldest) || strcmp(e->d_name + len - 4, ".bpf") != 0 ||
          fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      n++;
      if (!oldest[0] || st.st_mtim.tv_sec < oldest_time.tv_sec ||
          (st.st_mtim.tv_sec == oldest_time.tv_sec && st.st_mtim.tv_nsec < oldest_time.tv_nsec)) {
        oldest_time = st.st_mtim;
        snprintf(oldest, sizeof(oldest), "%s", e->d_name);
      }
    }
    if (n <= CACHE_MAX_ENTRIES || unlinkat(dirfd(d), oldest, 0) < 0)
      return;
  }
}

static void cache_write(const char *dir, const char *path, const char *key, size_t key_len,
                        const struct seccomp_program *prog) {
  nook_error err;
  nook_err_clear(&err);
  size_t insns_len = prog->n_insns * sizeof(struct sock_filter);
  struct cache_header h = {.key_len = key_len, .n_insns = prog->n_insns};
  memcpy(h.magic, cache_magic, sizeof(h.magic));
  size_t len = sizeof(h) + key_len + insns_len;
  _cleanup_free_ char *data = xmalloc(len);
  memcpy(data, &h, sizeof(h));
  memcpy(data + sizeof(h), key, key_len);
  memcpy(data + sizeof(h) + key_len, prog->insns, insns_len);
  if (mkdir_p(dir, 0700, &err) < 0 || write_file_atomic_at(AT_FDCWD, path, data, len, 0600, &err) < 0)
    nook_debug("seccomp: not caching the compiled filter: %s", err.msg);
  else
    cache_trim(dir);
}

static int export_program(scmp_filter_ctx ctx, struct seccomp_program *out, nook_error *err) {
  _cleanup_close_ int fd = memfd_create("nook-seccomp", MFD_CLOEXEC);
  if (fd < 0)
    return nook_err(err, errno, "linux.seccomp: memfd_create");
  int r = seccomp_export_bpf(ctx, fd);
  if (r < 0)
    return nook_err(err, -r, "linux.seccomp: compile the filter");
  off_t size = lseek(fd, 0, SEEK_END);
  if (size <= 0 || size % sizeof(struct sock_filter) != 0)
    return nook_errx(err, EINVAL, "linux.seccomp: libseccomp produced %lld bytes of BPF",
                     (long long)size);
  out->insns = xmalloc(size);
  out->n_insns = size / sizeof(struct sock_filter);
  if (pread(fd, out->insns, size, 0) != size) {
    seccomp_program_clear(out);
    return nook_err(err, errno ? errno : EIO, "linux.seccomp: read the compiled filter");
  }
  return 0;
}

int seccomp_program_prepare(const struct spec_seccomp *s, const char *cache_dir,
                            struct seccomp_program *out, nook_error *err) {
  *out = (struct seccomp_program){0};
  unsigned load_flags = 0;
  for (char **f = s->flags; f && *f; f++) {
    int i = find_flag(*f, err);
    if (i < 0)
      return i;
    load_flags |= flags[i].bit;
  }

  size_t key_len = 0;
  _cleanup_free_ char *key = NULL, *path = NULL;
  if (cache_dir) {
    key = cache_key(s, &key_len);
    path = xasprintf("%s/%016llx.bpf", cache_dir, (unsigned long long)key_hash(key, key_len));
    if (cache_read(path, key, key_len, out)) {
      out->flags = load_flags;
      return 0;
    }
  }

  scmp_filter_ctx ctx;
  int r = seccomp_build(s, &ctx, err);
  if (r < 0)
    return r;
  r = export_program(ctx, out, err);
  seccomp_release(ctx);
  if (r < 0)
    return r;
  out->flags = load_flags;
  if (cache_dir)
    cache_write(cache_dir, path, key, key_len, out);
  return 0;
}

char *seccomp_cache_dir(const char *state_root) {
  return xasprintf("%s/.seccomp-cache", state_root);
}

int seccomp_program_load(const struct seccomp_program *prog, nook_error *err) {
  struct sock_fprog fprog = {.len = prog->n_insns, .filter = prog->insns};
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, prog->flags, &fprog);
  if (r > 0)
    return nook_errx(err, EAGAIN,
                     "load the seccomp filter: thread %ld could not be synchronized (TSYNC)", r);
  if (r < 0 && (errno == EACCES || errno == EPERM))
    return nook_err(err, errno,
                    "load the seccomp filter (without process.noNewPrivileges it needs "
                    "CAP_SYS_ADMIN)");
  if (r < 0)
    return nook_err(err, errno, "load the seccomp filter");
  return 0;
}

void seccomp_program_clear(struct seccomp_program *prog) {
  free(prog->insns);
  *prog = (struct seccomp_program){0};
}
