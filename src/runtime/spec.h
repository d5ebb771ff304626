/* The OCI runtime spec (config.json), parsed into plain C structures. Each
 * bad field is reported with its JSON path ("process.args: expected an array
 * of strings"). Optional numbers carry a has_ flag. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

#include "error.h"

enum spec_ns_type {
  SPEC_NS_USER,
  SPEC_NS_MOUNT,
  SPEC_NS_PID,
  SPEC_NS_NET,
  SPEC_NS_UTS,
  SPEC_NS_IPC,
  SPEC_NS_CGROUP,
  SPEC_NS_TIME,
  SPEC_NS_COUNT
};

struct spec_namespace {
  bool enabled; /* listed in linux.namespaces */
  char *path;   /* join this one instead of creating a new one */
};

struct spec_idmap {
  uint32_t container_id;
  uint32_t host_id;
  uint32_t size;
};

struct spec_mount {
  char *destination;
  char *type;
  char *source;
  char **options; /* NULL-terminated, as written */
  struct spec_idmap *uid_mappings;
  size_t n_uid_mappings;
  struct spec_idmap *gid_mappings;
  size_t n_gid_mappings;
};

struct spec_user {
  uint32_t uid;
  uint32_t gid;
  bool has_umask;
  uint32_t umask;
  uint32_t *additional_gids;
  size_t n_additional_gids;
  char *username;
};

struct spec_capabilities {
  char **bounding; /* NULL-terminated names such as "CAP_CHOWN"; NULL: absent */
  char **effective;
  char **inheritable;
  char **permitted;
  char **ambient;
};

struct spec_rlimit {
  char *type; /* "RLIMIT_NOFILE" */
  uint64_t soft;
  uint64_t hard;
};

struct spec_io_priority {
  bool set;
  char *class_name; /* "IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE" or "IOPRIO_CLASS_IDLE" */
  int priority;
};

struct spec_scheduler {
  bool set;
  char *policy; /* "SCHED_OTHER" ... */
  int nice;
  int priority;
  char **flags; /* NULL-terminated "SCHED_FLAG_..." names; NULL: none */
  uint64_t runtime;
  uint64_t deadline;
  uint64_t period;
};

struct spec_process {
  bool terminal;
  bool has_console_size;
  uint32_t console_height;
  uint32_t console_width;
  struct spec_user user;
  char **args;
  char **env;
  char *cwd;
  struct spec_capabilities *capabilities; /* NULL: none given */
  struct spec_rlimit *rlimits;
  size_t n_rlimits;
  bool no_new_privileges;
  char *apparmor_profile;
  char *selinux_label;
  bool has_oom_score_adj;
  int oom_score_adj;
  struct spec_io_priority io_priority;
  struct spec_scheduler scheduler;
  char *exec_cpu_affinity_initial; /* CPU list such as "0-3,7"; NULL: absent */
  char *exec_cpu_affinity_final;
};

struct spec_hook {
  char *path;
  char **args;
  char **env;
  int timeout; /* seconds, 0: none */
};

enum spec_hook_kind {
  SPEC_HOOK_PRESTART,
  SPEC_HOOK_CREATE_RUNTIME,
  SPEC_HOOK_CREATE_CONTAINER,
  SPEC_HOOK_START_CONTAINER,
  SPEC_HOOK_POSTSTART,
  SPEC_HOOK_POSTSTOP,
  SPEC_HOOK_COUNT
};

struct spec_hook_list {
  struct spec_hook *hooks;
  size_t n;
};

struct spec_device {
  char *path;
  char type; /* 'c', 'b', 'u' or 'p' */
  int64_t major;
  int64_t minor;
  bool has_file_mode;
  uint32_t file_mode;
  bool has_uid;
  uint32_t uid;
  bool has_gid;
  uint32_t gid;
};

struct spec_seccomp_arg {
  uint32_t index;
  uint64_t value;
  uint64_t value_two;
  char *op; /* SCMP_CMP_EQ ... */
};

struct spec_seccomp_syscall {
  char **names;
  char *action;
  bool has_errno_ret;
  uint32_t errno_ret;
  struct spec_seccomp_arg *args;
  size_t n_args;
};

struct spec_seccomp {
  char *default_action;
  bool has_default_errno_ret;
  uint32_t default_errno_ret;
  char **architectures;
  char **flags;
  char *listener_path;
  char *listener_metadata;
  struct spec_seccomp_syscall *syscalls;
  size_t n_syscalls;
};

struct spec_kv {
  char *key;
  char *value;
};

struct spec_time_offset {
  bool set;
  int64_t secs;
  uint32_t nanosecs;
};

struct spec {
  char *oci_version;
  char *bundle;     /* absolute path of the bundle directory */
  char *root_path;  /* absolute, resolved against the bundle */
  bool root_readonly;
  char *hostname;
  char *domainname;
  bool has_process;
  struct spec_process process;
  struct spec_mount *mounts;
  size_t n_mounts;
  struct spec_hook_list hooks[SPEC_HOOK_COUNT];
  struct spec_kv *annotations;
  size_t n_annotations;

  /* linux */
  struct spec_namespace namespaces[SPEC_NS_COUNT];
  struct spec_idmap *uid_mappings;
  size_t n_uid_mappings;
  struct spec_idmap *gid_mappings;
  size_t n_gid_mappings;
  struct spec_device *devices;
  size_t n_devices;
  char *cgroups_path;
  yajl_val resources; /* linux.resources, parsed by the cgroup module; NULL: absent */
  struct spec_kv *sysctl;
  size_t n_sysctl;
  struct spec_seccomp *seccomp; /* NULL: none */
  char *rootfs_propagation;
  char **masked_paths;
  char **readonly_paths;
  char *mount_label;
  char *personality_domain;
  char **personality_flags;
  struct spec_time_offset time_offset_monotonic;
  struct spec_time_offset time_offset_boottime;

  yajl_val tree; /* the parsed document, owner of `resources` */
};

extern const char *const spec_ns_names[SPEC_NS_COUNT];  /* "user", "mount", ... */
extern const char *const spec_hook_names[SPEC_HOOK_COUNT]; /* "prestart", ... */

/* Reads BUNDLE/config.json. The message names the file and the field. */
int spec_load(const char *bundle, struct spec **out, nook_error *err);
/* Parses a config from memory; bundle is used to resolve root.path. */
int spec_parse(const char *json, const char *bundle, struct spec **out, nook_error *err);
/* Parses an OCI `process` object alone (exec --process). */
int spec_parse_process(const char *json, struct spec_process *out, nook_error *err);
void spec_free(struct spec *spec);
void spec_process_clear(struct spec_process *p);
void spec_freep(struct spec **spec);
#define _cleanup_spec_ __attribute__((cleanup(spec_freep)))

const char *spec_annotation(const struct spec *spec, const char *key);

/* The config runc's `spec` writes, with --rootless its rootless variant
 * (user namespace mapping uid/gid to root, no network namespace). */
char *spec_default_json(bool rootless, uint32_t uid, uint32_t gid);
