/* (Named seccomp-filter.h so that <seccomp.h> still finds libseccomp.)
 * linux.seccomp from config.json turned into a libseccomp filter. Building
 * checks every name first, so a bad profile fails before anything is loaded;
 * loading is the caller's last step before execve. */
#pragma once

#include <seccomp.h>
#include <stdbool.h>

#include "error.h"
#include "spec.h"

/* Builds the filter without loading it. The filter does not set
 * no_new_privs itself (SCMP_FLTATR_CTL_NNP is off): the caller sets it when
 * process.noNewPrivileges says so, and otherwise loads with CAP_SYS_ADMIN.
 * Unknown syscall names are skipped (as runc does: profiles list syscalls
 * newer than the kernel or libseccomp); an unknown action, architecture,
 * operator or flag is an error naming it. *out is released with
 * seccomp_release(). */
int seccomp_build(const struct spec_seccomp *s, scmp_filter_ctx *out, nook_error *err);

/* seccomp_build then seccomp_load. */
int seccomp_load_filter(const struct spec_seccomp *s, nook_error *err);

/* Loads a built filter (and releases it). */
int seccomp_load_built(scmp_filter_ctx ctx, nook_error *err);

/* The names nook understands, for `nook features`: NULL-terminated. */
extern const char *const seccomp_action_names[];
extern const char *const seccomp_operator_names[];
extern const char *const seccomp_arch_names[];
extern const char *const seccomp_flag_names[];
/* Whether this libseccomp and kernel can honour a flag from
 * seccomp_flag_names. */
bool seccomp_flag_supported(const char *flag);
