/* User-namespace id maps for rootless operation: the caller's subordinate id
 * ranges from /etc/subuid and /etc/subgid, written into a child's namespace
 * with the setuid newuidmap/newgidmap helpers (package uidmap), or, without
 * a range, a single-id map written directly. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "spec.h"

/* The subordinate id file to read: /etc/subuid or /etc/subgid, unless
 * NOOK_SUBUID_FILE / NOOK_SUBGID_FILE name another (for tests and unusual
 * setups; newuidmap/newgidmap still check the real files). */
const char *idmap_subid_file(bool gid);

struct subid_range {
  uint32_t start;
  uint32_t count;
};

/* Reads the ranges of file (/etc/subuid or /etc/subgid) that belong to the
 * user, listed by name or by numeric uid. user may be NULL (looked up from
 * uid). A missing file gives no ranges, not an error. *r is malloc'd. */
int idmap_read_subids(const char *file, uid_t uid, const char *user, struct subid_range **r,
                      size_t *n, nook_error *err);

/* The usual rootless maps: container 0 is the caller (id), container 1..N
 * are the subordinate ranges in file order. *maps is malloc'd; *n is 1 when
 * the user has no range. */
int idmap_build_rootless(const char *subid_file, uid_t uid, uint32_t id, struct spec_idmap **maps,
                         size_t *n, nook_error *err);

/* Runs newuidmap (gid false) or newgidmap (gid true) for pid with maps. On
 * failure the error names the helper's complaint and the fix. */
int idmap_write_with_helper(pid_t pid, bool gid, const struct spec_idmap *maps, size_t n,
                            nook_error *err);

/* The same in two steps, so that newuidmap and newgidmap (a few ms each, as
 * setuid programs) run side by side: start runs the helper, finish waits
 * for it and reports its failure. Every started helper must be finished. */
struct idmap_helper {
  pid_t pid;
  int out_fd; /* its stderr */
  pid_t target;
  bool gid;
};
int idmap_helper_start(pid_t pid, bool gid, const struct spec_idmap *maps, size_t n,
                       struct idmap_helper *h, nook_error *err);
int idmap_helper_finish(struct idmap_helper *h, nook_error *err);

/* Writes /proc/PID/{uid,gid}_map directly, which an unprivileged parent may
 * do only for a single id (its own); for gid, "deny" goes to setgroups first
 * as the kernel requires. */
int idmap_write_direct(pid_t pid, bool gid, const struct spec_idmap *maps, size_t n,
                       nook_error *err);

/* Writes both maps of pid in the rootless layout: subordinate ranges through
 * the helpers when the user has them (both files), otherwise a single-id map
 * of the caller written directly. *single_id tells which happened. */
int idmap_setup_rootless(pid_t pid, bool *single_id, nook_error *err);
