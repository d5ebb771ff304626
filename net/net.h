/* PLACEHOLDER until the net module lands: the API it implements. */
#pragma once

#include <sys/types.h>

#include "error.h"
#include "spec.h"

int net_setup(const struct spec *spec, pid_t init_pid, const char *state_dir, pid_t *helper_pid,
              nook_error *err);
int net_teardown(pid_t helper_pid, const char *state_dir, nook_error *err);
