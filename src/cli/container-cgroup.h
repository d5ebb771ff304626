/* The cgroup a container's state records, for the commands that act on it
 * (pause, resume, ps, events, update). The handle borrows the strings. */
#pragma once

#include "cgroup.h"
#include "container.h"

static inline struct cgroup_handle container_cgroup(const struct container *c) {
  return (struct cgroup_handle){.path = c->state.cgroup_path,
                                .manager = c->state.cgroup_manager,
                                .unit = c->state.cgroup_unit};
}

/* Loads the container and fails with the command's name when it is not in
 * one of the allowed states (a bit mask of 1 << STATUS_*). */
static inline int container_load_for(const char *root, const char *id, const char *command,
                                     unsigned allowed, struct container *c, nook_error *err) {
  int r = container_load(root, id, c, err);
  if (r < 0)
    return r;
  if (!(allowed & (1u << c->status)))
    return nook_errx(err, EINVAL, "cannot %s container \"%s\": it is %s", command, id,
                     state_status_name(c->status));
  return 0;
}
