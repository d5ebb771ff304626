/* A bundle can ask for an overlay rootfs through annotations, so that any
 * OCI client (and nook's own image workflow) gets a copy-on-write root that
 * the container's init mounts inside its user namespace:
 *   nook.rootfs.lowerdirs  colon-separated layer dirs, topmost first
 *   nook.rootfs.upper      the container's upper dir
 *   nook.rootfs.work       its work dir (same filesystem as upper)
 *   nook.rootfs.driver     native | fuse (default native)
 * The overlay is mounted at root.path. */
#pragma once

#include "error.h"
#include "spec.h"

/* 0 when the spec asks for nothing. Called in the init before the rootfs is
 * bound onto itself. */
int rootfs_mount_annotated(const struct spec *spec, nook_error *err);
/* Whether that mount starts a process (the FUSE server), which must start
 * in the container's cgroup. */
bool rootfs_annotated_starts_process(const struct spec *spec);
