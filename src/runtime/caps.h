/* process.capabilities applied with libcap and prctl. Names are checked
 * before anything changes, so a bad list leaves the process as it was. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/capability.h>

#include "error.h"
#include "spec.h"

/* Each set as a bit mask (bit N: capability N); only capabilities this
 * kernel has are set. */
struct caps_masks {
  uint64_t bounding, effective, inheritable, permitted, ambient;
};

/* "CAP_CHOWN", "cap_chown" or "CHOWN". 0, or -EINVAL when libcap does not
 * know the name. The value may be above caps_last_cap(). */
int caps_parse_name(const char *name, cap_value_t *out);

/* The highest capability the running kernel has (/proc/sys/kernel/cap_last_cap). */
int caps_last_cap(void);

/* Checks every name of every list. An unknown name is an error naming it and
 * the list; names libcap knows but this kernel lacks are skipped (debug
 * log). An absent list is empty. Effective must be within permitted, and
 * ambient within permitted and inheritable. */
int caps_parse(const struct spec_capabilities *c, struct caps_masks *out, nook_error *err);

/* Drops every capability not in m->bounding from the bounding set. Needs
 * CAP_SETPCAP, so it comes before a change to a non-root user. */
int caps_apply_bounding(const struct caps_masks *m, nook_error *err);

/* Makes the permitted set effective (after a uid change cleared it). */
int caps_raise_effective(nook_error *err);

/* Sets inheritable, permitted and effective, then the ambient set. */
int caps_apply_sets(const struct caps_masks *m, nook_error *err);

/* caps_parse, caps_apply_bounding, caps_apply_sets: for a process whose
 * user does not change. */
int caps_apply(const struct spec_capabilities *c, nook_error *err);

/* PR_SET_KEEPCAPS: keep the permitted set across a change from uid 0 to
 * another uid (the effective set is cleared by the change regardless). */
int caps_keep_for_setuid(bool keep, nook_error *err);
