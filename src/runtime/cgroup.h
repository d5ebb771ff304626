/* PLACEHOLDER until the cgroup module lands: the API it implements. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "error.h"
#include "spec.h"

struct cgroup_request {
  const char *manager;
  bool manager_explicit;
  const char *container_id;
  const char *cgroups_path;
  yajl_val resources;
  bool rootless;
  const struct spec_kv *annotations;
  size_t n_annotations;
};

struct cgroup_handle {
  char *path;
  char *manager;
  char *unit;
};

int cgroup_enter(const struct cgroup_request *req, pid_t pid, struct cgroup_handle *out,
                 nook_error *err);
int cgroup_destroy(const struct cgroup_handle *h, nook_error *err);
int cgroup_freeze(const struct cgroup_handle *h, bool frozen, nook_error *err);
int cgroup_kill_all(const struct cgroup_handle *h, int signal, nook_error *err);
void cgroup_handle_clear(struct cgroup_handle *h);
