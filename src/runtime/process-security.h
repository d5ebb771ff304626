/* The last steps of a container process before execve: limits, user and
 * groups, capabilities, no_new_privs and the seccomp filter, in the order
 * that keeps each step possible:
 *
 *   rlimits, oom_score_adj, umask   while CAP_SYS_RESOURCE is still there
 *   bounding set                    needs CAP_SETPCAP, so before the uid change
 *   keepcaps, setgroups, setresgid, setresuid
 *   inheritable/permitted/effective, ambient
 *   no_new_privs                    when process.noNewPrivileges
 *   seccomp                         last; without no_new_privs it needs
 *                                   CAP_SYS_ADMIN, so then it is loaded
 *                                   just before the final capability set
 *                                   drops it (unless effective keeps it)
 *
 * process_apply_security does all of it; the single steps are for exec and
 * for tests. */
#pragma once

#include <stdbool.h>

#include "error.h"
#include "seccomp-filter.h"
#include "spec.h"

/* Whether setgroups(2) is allowed: /proc/self/setgroups is not "deny". */
bool process_can_setgroups(void);

/* Bounding set, keepcaps, setgroups (additionalGids; an error only when some
 * are requested and setgroups is denied in the user namespace), setresgid,
 * setresuid, then the capability sets. With no process.capabilities a
 * non-root user ends with no capabilities and root keeps its own. */
/* additionalGids cannot be set where setgroups(2) is denied (a map written
 * without newgidmap): checked by the runtime at create, before the start. */
int process_check_groups(const struct spec_user *u, bool can_setgroups, nook_error *err);
int process_set_user_and_caps(const struct spec_process *p, bool can_setgroups, nook_error *err);

/* Every name is checked before any limit is set; an unknown name is an error. */
int process_apply_rlimits(const struct spec_process *p, nook_error *err);
/* Writes /proc/self/oom_score_adj when the spec has oomScoreAdj. */
int process_apply_oom_score_adj(const struct spec_process *p, nook_error *err);
/* prctl(PR_SET_NO_NEW_PRIVS) when process.noNewPrivileges. */
int process_apply_no_new_privs(const struct spec_process *p, nook_error *err);
/* process.user.umask, or 0022 when absent (as runc). */
void process_apply_umask(const struct spec_process *p);

/* The whole sequence above. seccomp (NULL: none) is prepared beforehand
 * with seccomp_program_prepare, best in the runtime before the container
 * process exists, so a bad profile is reported before anything starts and
 * the compiled filter can come from the cache. The caller execs next. */
int process_apply_security(const struct spec_process *p, const struct seccomp_program *seccomp,
                           bool can_setgroups, nook_error *err);

/* Warns once for each Linux security module setting of p that nook cannot
 * apply (process.apparmorProfile, process.selinuxLabel): they are accepted,
 * as runc's clients set them, never silently. Settings equal to those of
 * `warned` (NULL for none), which were warned about already, are skipped. */
void process_warn_unapplied_lsm(const struct spec_process *p, const struct spec_process *warned);
