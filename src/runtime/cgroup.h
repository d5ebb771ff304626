/* Cgroups: one cgroup v2 node per container, made by the driver the user's
 * session allows (a systemd scope over D-Bus, a directory in a delegated
 * subtree, or none), with the limits of linux.resources. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "error.h"
#include "spec.h"

#define CGROUP_MOUNT "/sys/fs/cgroup"

struct cgroup_request {
  const char *manager;   /* "systemd" | "cgroupfs" | "disabled" | NULL: auto */
  bool manager_explicit; /* chosen by the user: then failing to apply requested limits is an error */
  const char *container_id;
  const char *cgroups_path; /* linux.cgroupsPath, may be NULL; "slice:prefix:name" for systemd */
  yajl_val resources;       /* linux.resources, may be NULL */
  bool rootless;            /* geteuid() != 0 */
  const struct spec_kv *annotations;
  size_t n_annotations;
};

/* What the lifecycle stores in the container state. */
struct cgroup_handle {
  char *path;    /* relative to the cgroup2 mount, "" or NULL: no cgroup */
  char *manager; /* the driver that was used, or "disabled" */
  char *unit;    /* systemd unit name, or NULL */
};

/* Puts pid (the container init, created but not yet running user code) into a
 * new cgroup and applies the limits. Auto mode: systemd when a manager
 * answers (user bus when rootless, system bus as root), else cgroupfs when
 * the current cgroup's parent is delegated (writable), else no cgroup with
 * one warning line saying why and which requested limits were not applied. */
int cgroup_enter(const struct cgroup_request *req, pid_t pid, struct cgroup_handle *out,
                 nook_error *err);
/* cgroup_enter in two steps, for work in between while systemd starts the
 * scope: begin sends the request (*req's strings must live until finish),
 * finish waits for it and frees *p. cgroup_pending_free instead of finish
 * undoes whatever begin started. */
struct cgroup_pending;
int cgroup_enter_begin(const struct cgroup_request *req, pid_t pid, struct cgroup_pending **p,
                       nook_error *err);
int cgroup_enter_finish(struct cgroup_pending *p, struct cgroup_handle *out, nook_error *err);
void cgroup_pending_free(struct cgroup_pending *p);
/* When the manager may be systemd ("systemd" or NULL: auto): connects to
 * it now, so that it sets up its side while the container is prepared;
 * for systemd and cgroupfs also starts the kernel's wait before a first
 * cgroup move (see cgroup.c), which the container's move would otherwise
 * wait out. */
void cgroup_connect_early(const char *manager, bool rootless);
/* The same for a cgroup_destroy of h to come. */
void cgroup_connect_early_to_destroy(const struct cgroup_handle *h);
/* Kills what is left, stops the unit, removes the directory. Missing is fine. */
int cgroup_destroy(const struct cgroup_handle *h, nook_error *err);
/* Writes cgroup.freeze and waits until cgroup.events says frozen 1 (or 0). */
int cgroup_freeze(const struct cgroup_handle *h, bool frozen, nook_error *err);
/* SIGKILL: cgroup.kill where the kernel has it; other signals (and older
 * kernels): every pid of cgroup.procs, recursively. */
int cgroup_kill_all(const struct cgroup_handle *h, int signal, nook_error *err);
/* Every process of the cgroup and its children; *pids is malloc'd. */
int cgroup_pids(const struct cgroup_handle *h, pid_t **pids, size_t *n, nook_error *err);
/* Changes the limits of a live cgroup to those of a LinuxResources object. */
int cgroup_update(const struct cgroup_handle *h, yajl_val resources, nook_error *err);
/* Generates the object runc's `events --stats` puts in "data". */
int cgroup_stats_json(const struct cgroup_handle *h, yajl_gen g, nook_error *err);
bool cgroup_is_frozen(const struct cgroup_handle *h);
void cgroup_handle_clear(struct cgroup_handle *h);
/* True when the handle names a cgroup (not "disabled"). */
bool cgroup_handle_active(const struct cgroup_handle *h);

/* ---- linux.resources, converted for cgroup v2 ---- */

#define CGROUP_MAX UINT64_MAX /* "max" in a cgroup file, infinity for systemd */

struct cgroup_io_device {
  int64_t major, minor;
  bool has_weight;
  uint64_t weight; /* blkio weight as given, 10-1000 */
};

struct cgroup_io_limit {
  int64_t major, minor;
  const char *key; /* rbps wbps riops wiops */
  uint64_t rate;
};

struct cgroup_hugetlb {
  char *page_size; /* "2MB" */
  uint64_t limit;
};

struct cgroup_limits {
  bool has_memory_max;
  uint64_t memory_max; /* CGROUP_MAX: unlimited */
  bool has_memory_low;
  uint64_t memory_low;
  bool has_swap_max;
  uint64_t swap_max; /* swap only, as memory.swap.max wants it */
  bool has_pids_max;
  uint64_t pids_max;
  bool has_cpu_weight;
  uint64_t cpu_weight; /* 1-10000 */
  bool has_cpu_max;
  uint64_t cpu_quota; /* CGROUP_MAX: no quota */
  uint64_t cpu_period;
  bool has_cpu_burst;
  uint64_t cpu_burst;
  bool has_cpu_idle;
  int64_t cpu_idle;
  char *cpus; /* cpuset.cpus, NULL: not set */
  char *mems;
  bool has_io_weight;
  uint64_t blkio_weight; /* 10-1000 (io.bfq.weight); io.weight takes its conversion */
  struct cgroup_io_device *io_devices;
  size_t n_io_devices;
  struct cgroup_io_limit *io_limits;
  size_t n_io_limits;
  struct cgroup_hugetlb *hugetlb;
  size_t n_hugetlb;
  struct spec_kv *unified;
  size_t n_unified;
  /* OCI fields that were set but cgroup v2 cannot express
   * ("memory.swappiness", "cpu.realtimeRuntime", ...). */
  char **inexpressible;
};

/* Parses a LinuxResources object (linux.resources, or `update --resources`).
 * NULL is an empty request. Bad values name their JSON path. */
int cgroup_limits_parse(yajl_val resources, struct cgroup_limits *out, nook_error *err);
/* Reads a LinuxResources JSON file ("-": stdin). */
int cgroup_limits_parse_file(const char *file, struct cgroup_limits *out, nook_error *err);
void cgroup_limits_clear(struct cgroup_limits *l);
/* The OCI names of the limits set ("memory.limit", "cpu.shares", ...), each with
 * the controller it needs; a NULL-terminated list of "name\0controller" pairs is
 * awkward, so: fills parallel string vectors. */
void cgroup_limits_requested(const struct cgroup_limits *l, char ***names, char ***controllers);
bool cgroup_limits_empty(const struct cgroup_limits *l);

/* cpu.shares (2-262144) to cpu.weight (1-10000): the quadratic mapping crun
 * and runc use, which sends the default 1024 to the default 100. */
uint64_t cgroup_shares_to_weight(uint64_t shares);
/* blkio weight (10-1000) to io.weight (1-10000), linear as crun does. */
uint64_t cgroup_blkio_to_io_weight(uint64_t weight);
/* OCI memory.swap is memory+swap; memory.swap.max is swap alone. Values as
 * in the spec and runc: -1 unlimited, 0 unset (also for *out). */
int cgroup_swap_to_v2(int64_t memory, int64_t swap, int64_t *out, nook_error *err);

/* A cpu or memory-node list ("0-3,6") as the byte array systemd's AllowedCPUs
 * takes (bit i of byte i/8). -EINVAL when it is not such a list. */
int cgroup_cpu_list_mask(const char *list, uint8_t **mask, size_t *n);

/* One cgroup file write: controller (NULL for core files), file, value. */
struct cgroup_write {
  const char *controller;
  const char *what; /* OCI name for messages */
  char *file;
  char *value;
  bool systemd;  /* the systemd driver sets it as a unit property */
  bool optional; /* a missing file is fine (io.bfq.weight without BFQ) */
};
/* The file writes that realise l. skip_systemd leaves out what the systemd
 * driver sets as unit properties. */
void cgroup_limits_writes(const struct cgroup_limits *l, bool skip_systemd, struct cgroup_write **w,
                          size_t *n);
void cgroup_writes_free(struct cgroup_write *w, size_t n);

/* ---- shared by the drivers (cgroup-fs.c) ---- */

bool cgroup_v2_mounted(void);
/* The cgroup of pid from /proc/PID/cgroup ("0::PATH"), e.g. "/user.slice/x". */
int cgroup_of_pid(pid_t pid, char **path, nook_error *err);
/* Writes value to CGROUP_MOUNT/path/file. */
int cgroup_write_file(const char *path, const char *file, const char *value, nook_error *err);
int cgroup_read_file(const char *path, const char *file, char **out, nook_error *err);
/* Whether the cgroup at path offers controller (its cgroup.controllers). */
bool cgroup_has_controller(const char *path, const char *controller);
/* Applies the writes to path. Writes whose controller path lacks are collected
 * in *not_applied (OCI names), others that fail are errors. */
int cgroup_apply_writes(const char *path, const struct cgroup_write *w, size_t n,
                        char ***not_applied, nook_error *err);

/* Driver entry points. Each returns 0 with out filled, or -errno with err
 * saying why the driver cannot be used. */
int cgroup_fs_enter(const struct cgroup_request *req, const struct cgroup_limits *l, pid_t pid,
                    struct cgroup_handle *out, char ***not_applied, nook_error *err);
int cgroup_fs_destroy(const char *path, nook_error *err);
/* The systemd driver in two steps, so that the container's init goes on
 * with its set-up while systemd starts the scope: begin sends the request,
 * finish waits for the scope and fills out; abandon (instead of finish)
 * waits and stops whatever was started. */
struct cgroup_systemd_start;
int cgroup_systemd_begin(const struct cgroup_request *req, const struct cgroup_limits *l, pid_t pid,
                         struct cgroup_systemd_start **out, nook_error *err);
int cgroup_systemd_finish(struct cgroup_systemd_start *s, struct cgroup_handle *out,
                          char ***not_applied, nook_error *err);
void cgroup_systemd_abandon(struct cgroup_systemd_start *s);
void cgroup_systemd_connect_early(bool user_bus);
/* user_bus: the unit is the user manager's (its cgroup is below user@UID.service). */
int cgroup_systemd_stop(const char *unit, bool user_bus, nook_error *err);
int cgroup_systemd_update(const char *unit, bool user_bus, const struct cgroup_limits *l,
                          nook_error *err);
