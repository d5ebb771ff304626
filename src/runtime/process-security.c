#include "process-security.h"

#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "caps.h"
#include "log.h"
#include "seccomp-filter.h"
#include "util.h"

static bool new_setting(const char *value, const char *warned) {
  return value && *value && !(warned && strcmp(value, warned) == 0);
}

void process_warn_unapplied_lsm(const struct spec_process *p, const struct spec_process *warned) {
  if (new_setting(p->apparmor_profile, warned ? warned->apparmor_profile : NULL))
    nook_warn("process.apparmorProfile `%s` is not applied: nook does not support AppArmor",
              p->apparmor_profile);
  if (new_setting(p->selinux_label, warned ? warned->selinux_label : NULL))
    nook_warn("process.selinuxLabel `%s` is not applied: nook does not support SELinux",
              p->selinux_label);
}

bool process_can_setgroups(void) {
  char buf[16] = "";
  int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return true; /* a kernel before 3.19 has no such switch */
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  buf[n > 0 ? n : 0] = '\0';
  return strncmp(buf, "deny", 4) != 0;
}

int process_check_groups(const struct spec_user *u, bool can_setgroups, nook_error *err) {
  if (!can_setgroups && u->n_additional_gids > 0)
    return nook_errx(err, EPERM,
                     "process.user.additionalGids: setgroups is denied in this user namespace "
                     "(/proc/self/setgroups is \"deny\"); map the groups with newgidmap "
                     "(subgid) or remove additionalGids");
  return 0;
}

static int set_groups(const struct spec_user *u, bool can_setgroups, nook_error *err) {
  if (!can_setgroups)
    return process_check_groups(u, can_setgroups, err);
  gid_t gids[u->n_additional_gids ? u->n_additional_gids : 1];
  for (size_t i = 0; i < u->n_additional_gids; i++)
    gids[i] = u->additional_gids[i];
  if (setgroups(u->n_additional_gids, gids) < 0)
    return nook_err(err, errno,
                    "process.user.additionalGids: setgroups (is every gid mapped in the "
                    "container's user namespace?)");
  return 0;
}

static int set_ids(const struct spec_user *u, nook_error *err) {
  if (setresgid(u->gid, u->gid, u->gid) < 0)
    return nook_err(err, errno,
                    "process.user.gid %u: setresgid (is it mapped in the container's user "
                    "namespace?)",
                    u->gid);
  if (setresuid(u->uid, u->uid, u->uid) < 0)
    return nook_err(err, errno,
                    "process.user.uid %u: setresuid (is it mapped in the container's user "
                    "namespace?)",
                    u->uid);
  return 0;
}

/* Loads *filter once and forgets it. */
static int load_filter(const struct seccomp_program **filter, nook_error *err) {
  const struct seccomp_program *f = *filter;
  *filter = NULL;
  return f ? seccomp_program_load(f, err) : 0;
}

/* *early_filter, when set, is a seccomp filter that must be loaded while
 * CAP_SYS_ADMIN is still effective: before the uid change drops it when
 * there are no capabilities to keep, else just before the final sets. */
static int user_and_caps(const struct spec_process *p, bool can_setgroups,
                         const struct seccomp_program **early_filter, nook_error *err) {
  const struct spec_capabilities *c = p->capabilities;
  struct caps_masks m;
  int r;
  if (c) {
    if ((r = caps_parse(c, &m, err)) < 0 || (r = caps_apply_bounding(&m, err)) < 0 ||
        (r = caps_keep_for_setuid(true, err)) < 0)
      return r;
  } else if (p->user.uid != 0 && (r = load_filter(early_filter, err)) < 0) {
    return r;
  }

  if ((r = set_groups(&p->user, can_setgroups, err)) < 0 || (r = set_ids(&p->user, err)) < 0)
    return r;
  if (!c)
    return 0;
  if ((r = caps_keep_for_setuid(false, err)) < 0)
    return r;

  /* The uid change cleared the effective set; permitted still has
   * CAP_SYS_ADMIN. */
  if (*early_filter &&
      ((r = caps_raise_effective(err)) < 0 || (r = load_filter(early_filter, err)) < 0))
    return r;
  return caps_apply_sets(&m, err);
}

int process_set_user_and_caps(const struct spec_process *p, bool can_setgroups, nook_error *err) {
  const struct seccomp_program *none = NULL;
  return user_and_caps(p, can_setgroups, &none, err);
}

static const struct {
  const char *name;
  int resource;
} rlimit_names[] = {
    {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

static int rlimit_resource(const char *name) {
  for (size_t i = 0; name && i < ARRAY_SIZE(rlimit_names); i++)
    if (strcmp(rlimit_names[i].name, name) == 0)
      return rlimit_names[i].resource;
  return -1;
}

int process_apply_rlimits(const struct spec_process *p, nook_error *err) {
  for (size_t i = 0; i < p->n_rlimits; i++) {
    const struct spec_rlimit *l = &p->rlimits[i];
    if (rlimit_resource(l->type) < 0)
      return nook_errx(err, EINVAL,
                       "process.rlimits[%zu]: unknown type `%s` (such as RLIMIT_NOFILE, "
                       "RLIMIT_NPROC, RLIMIT_CORE)",
                       i, l->type ? l->type : "");
    if (l->soft > l->hard)
      return nook_errx(err, EINVAL, "process.rlimits[%zu]: %s soft limit %llu is above the hard "
                       "limit %llu",
                       i, l->type, (unsigned long long)l->soft, (unsigned long long)l->hard);
  }
  for (size_t i = 0; i < p->n_rlimits; i++) {
    const struct spec_rlimit *l = &p->rlimits[i];
    struct rlimit rl = {.rlim_cur = l->soft, .rlim_max = l->hard};
    if (setrlimit(rlimit_resource(l->type), &rl) < 0) {
      if (errno == EPERM)
        return nook_err(err, errno,
                        "process.rlimits: set %s to %llu/%llu (raising a hard limit needs "
                        "CAP_SYS_RESOURCE on the host)",
                        l->type, (unsigned long long)l->soft, (unsigned long long)l->hard);
      return nook_err(err, errno, "process.rlimits: set %s to %llu/%llu", l->type,
                      (unsigned long long)l->soft, (unsigned long long)l->hard);
    }
  }
  return 0;
}

int process_apply_oom_score_adj(const struct spec_process *p, nook_error *err) {
  if (!p->has_oom_score_adj)
    return 0;
  if (p->oom_score_adj < -1000 || p->oom_score_adj > 1000)
    return nook_errx(err, EINVAL, "process.oomScoreAdj: %d is outside -1000..1000",
                     p->oom_score_adj);
  _cleanup_close_ int fd = open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return nook_err(err, errno, "process.oomScoreAdj: open /proc/self/oom_score_adj");
  char cur[16] = "", want[16];
  ssize_t n = read(fd, cur, sizeof(cur) - 1);
  cur[n > 0 ? n : 0] = '\0';
  snprintf(want, sizeof(want), "%d\n", p->oom_score_adj);
  /* Writing the current value again needs no privilege, and a rootless
   * caller often asks for exactly that. */
  if (strcmp(cur, want) == 0)
    return 0;
  if (pwrite(fd, want, strlen(want), 0) < 0) {
    if (errno == EACCES || errno == EPERM)
      return nook_err(err, errno,
                      "process.oomScoreAdj: set %d (now %d; lowering it needs "
                      "CAP_SYS_RESOURCE on the host)",
                      p->oom_score_adj, atoi(cur));
    return nook_err(err, errno, "process.oomScoreAdj: set %d", p->oom_score_adj);
  }
  return 0;
}

int process_apply_no_new_privs(const struct spec_process *p, nook_error *err) {
  if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return nook_err(err, errno, "process.noNewPrivileges: prctl(PR_SET_NO_NEW_PRIVS)");
  return 0;
}

void process_apply_umask(const struct spec_process *p) {
  umask(p->user.has_umask ? p->user.umask : 0022);
}

int process_apply_security(const struct spec_process *p, const struct seccomp_program *seccomp,
                           bool can_setgroups, nook_error *err) {
  int r;
  /* The capability lists are checked before the first change. */
  struct caps_masks m;
  if (p->capabilities && (r = caps_parse(p->capabilities, &m, err)) < 0)
    return r;
  bool late = !seccomp || p->no_new_privileges ||
              (p->capabilities ? (m.effective & (1ULL << CAP_SYS_ADMIN)) != 0 : p->user.uid == 0);

  if ((r = process_apply_rlimits(p, err)) < 0 || (r = process_apply_oom_score_adj(p, err)) < 0)
    return r;
  process_apply_umask(p);

  const struct seccomp_program *early = late ? NULL : seccomp;
  if ((r = user_and_caps(p, can_setgroups, &early, err)) < 0)
    return r;
  if ((r = process_apply_no_new_privs(p, err)) < 0)
    return r;
  /* Loaded last unless user_and_caps had to load it early. */
  return seccomp && late ? seccomp_program_load(seccomp, err) : 0;
}
