/* A container's root filesystem from an image: the image's layers as the
 * lower dirs of an overlay, with a per-container upper and work dir under
 * the store's containers/ID/. The overlay is the kernel's when it works in
 * a user namespace on the store's filesystem (probed once, cached), else
 * nook-fuse-overlayfs. */
#pragma once

#include "error.h"
#include "storage/store.h"

enum rootfs_driver { ROOTFS_NATIVE, ROOTFS_FUSE };

struct rootfs_info {
  char *image_id;
  char *container_dir;  /* containers/ID */
  char **lowerdirs;     /* NULL-terminated, topmost layer first (overlay order) */
  char *upper;
  char *work;
  enum rootfs_driver driver;
  struct image_config config; /* Env, Cmd, Entrypoint, WorkingDir, User, ... */
};

const char *rootfs_driver_name(enum rootfs_driver d);

/* Finds the image, creates the container's upper and work dirs (or reuses
 * them for the same image) and fills out. */
int rootfs_prepare(const char *image_ref, const char *container_id, struct rootfs_info *out,
                   nook_error *err);
/* Mounts the overlay at target. Called inside the container's user and
 * mount namespaces (before pivot_root). */
int rootfs_mount_in_userns(const struct rootfs_info *info, const char *target, nook_error *err);
/* Removes the container's upper and work dirs. Missing is fine. */
int rootfs_remove(const char *container_id, nook_error *err);
void rootfs_info_free(struct rootfs_info *info);

/* Whether the kernel's overlay works inside a user namespace on the store's
 * filesystem; probed once and cached under the store. $NOOK_OVERLAY_DRIVER
 * (native|fuse) overrides. */
int overlay_driver_detect(const char *root, enum rootfs_driver *out, nook_error *err);
