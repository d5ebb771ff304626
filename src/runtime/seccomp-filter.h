/* (Named seccomp-filter.h so that <seccomp.h> still finds libseccomp.)
 * linux.seccomp from config.json turned into a libseccomp filter. Building
 * checks every name first, so a bad profile fails before anything is loaded;
 * loading is the caller's last step before execve. */
#pragma once

#include <linux/filter.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stddef.h>

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

/* A filter compiled to BPF, ready for seccomp(2): what the container init
 * loads. Turning a libseccomp filter into BPF is the slow part of a start
 * (about 8-15 ms for a 400-syscall profile on x86_64+x86+x32), so compiled
 * programs are kept in a cache directory keyed by everything that shapes
 * them: the profile, the libseccomp version and the kernel. */
struct seccomp_program {
  struct sock_filter *insns;
  size_t n_insns;
  unsigned flags; /* SECCOMP_FILTER_FLAG_* for seccomp(2) */
};

/* Checks and compiles s. cache_dir (created 0700 when missing) may be NULL:
 * no cache. A cache entry holds the full key and is used only when the key
 * matches byte for byte; failing to write one is not an error. */
int seccomp_program_prepare(const struct spec_seccomp *s, const char *cache_dir,
                            struct seccomp_program *out, nook_error *err);
/* The cache directory under a state root (malloc'd): a dot name, which
 * state_list_ids skips. */
char *seccomp_cache_dir(const char *state_root);
/* seccomp(SECCOMP_SET_MODE_FILTER); without no_new_privs it needs
 * CAP_SYS_ADMIN in the current user namespace. */
int seccomp_program_load(const struct seccomp_program *prog, nook_error *err);
void seccomp_program_clear(struct seccomp_program *prog);

/* The names nook understands, for `nook features`: NULL-terminated. */
extern const char *const seccomp_action_names[];
extern const char *const seccomp_operator_names[];
extern const char *const seccomp_arch_names[];
extern const char *const seccomp_flag_names[];
/* Whether this libseccomp and kernel can honour a flag from
 * seccomp_flag_names. */
bool seccomp_flag_supported(const char *flag);
