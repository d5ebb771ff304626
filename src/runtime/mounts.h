/* The container's filesystem view, set up by its init inside its own user
 * and mount namespaces: the rootfs, spec mounts, /dev, pivot_root, masked and
 * read-only paths. Targets are resolved inside the rootfs (openat2
 * RESOLVE_IN_ROOT) so no container symlink leads out of it. */
#pragma once

#include <stdbool.h>

#include "error.h"
#include "spec.h"

struct mount_context {
  const struct spec *spec;
  bool in_userns;    /* rootless: no mknod, bind host devices instead */
  bool no_pivot;
  int rootfd;        /* O_PATH fd of the rootfs once bound onto itself */
  /* Called once, before the first thing that depends on the container's
   * cgroup (a cgroup mount, a process started), at the latest at the end of
   * mounts_prepare_rootfs, or with cgroup_late in mounts_enter_cgroup_late.
   * May be NULL. */
  int (*enter_cgroup)(void *data, nook_error *err);
  void *data;
  /* The caller runs nothing in between that needs the cgroup (no hooks):
   * the cgroup mount may wait until after pivot_root when nothing else is
   * mounted below it. */
  bool cgroup_late;
  /* Set by mounts_prepare_rootfs. */
  bool cgroup_entered;
  bool host_cgroup2;                    /* /sys/fs/cgroup of the host is cgroup v2 */
  bool pivoted;
  const struct spec_mount *late_cgroup; /* the cgroup mount waiting, or NULL */
  int late_cgroup_target;               /* its target, opened before pivot_root */
};

/* Before hooks: propagation, rootfs bind, spec mounts, devices; enters the
 * cgroup on the way. */
int mounts_prepare_rootfs(struct mount_context *ctx, nook_error *err);
/* After createContainer hooks: pivot_root (or chroot), then masked and
 * read-only paths, the read-only root, rootfsPropagation. */
int mounts_enter_rootfs(struct mount_context *ctx, nook_error *err);
/* With cgroup_late: enters the cgroup and makes the cgroup mount that
 * waited (after mounts_enter_rootfs, before the process starts). */
int mounts_enter_cgroup_late(struct mount_context *ctx, nook_error *err);
/* Binds the terminal's slave over /dev/console (after the pivot). */
int mounts_bind_console(const char *slave_path, nook_error *err);
