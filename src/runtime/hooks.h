/* OCI hooks: each run with the container's state JSON on its stdin, its own
 * args and env, killed when its timeout passes. */
#pragma once

#include "error.h"
#include "spec.h"

/* Runs every hook of one kind in order; the first failure stops them. */
int hooks_run(const struct spec *spec, enum spec_hook_kind kind, const char *state_json,
              nook_error *err);
