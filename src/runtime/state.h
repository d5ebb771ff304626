/* Per-user container state: one directory per container under the state
 * root, holding state.json (written atomically), a lock, the exec fifo while
 * the container waits to start, and a copy of its config. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "spec.h"

enum container_status {
  STATUS_CREATING,
  STATUS_CREATED,
  STATUS_RUNNING,
  STATUS_PAUSED,
  STATUS_STOPPED,
};

struct container_state {
  char *id;
  char *bundle;
  char *rootfs;
  pid_t pid;                            /* the container's init, 0 before it exists */
  unsigned long long pid_start_time;    /* /proc/PID/stat starttime: tells a recycled pid */
  bool creating;                        /* create has not finished */
  char *created;                        /* RFC 3339 */
  char *owner;
  struct spec_kv *annotations;
  size_t n_annotations;
  char *cgroup_path;                    /* relative to the cgroup2 mount; NULL: none */
  char *cgroup_manager;
  char *cgroup_unit;
  char *creator_cgroup; /* the creating nook's, until the container's own is recorded */
  pid_t net_helper_pid;
  bool use_systemd;
  bool has_exit_status;
  int exit_status;
  char *finished;                       /* RFC 3339, when the exit status was recorded */
};

/* The state root: --root, else $XDG_RUNTIME_DIR/nook, else /tmp/nook-UID;
 * /run/nook for real root. Created 0700 when missing; refused when another
 * user owns it or others can write to it. */
int state_root_resolve(const char *root_option, char **out, nook_error *err);

/* Checks an id for use as a directory name: no '/', not "." or "..", not
 * empty, printable. */
int state_validate_id(const char *id, nook_error *err);

/* Creates ROOT/ID atomically; "container \"ID\" already exists" if present.
 * Returns an fd on the new directory. */
int state_dir_create(const char *root, const char *id, nook_error *err);
/* Opens ROOT/ID; "container \"ID\" does not exist". Returns an fd. */
int state_dir_open(const char *root, const char *id, nook_error *err);

/* Takes the container's lock (flock on ROOT/ID/lock), waiting for another
 * nook on the same id to finish. Returns the lock fd; close releases it. */
int state_lock(int dirfd, nook_error *err);
/* Whether another process holds the container's lock (a create under way). */
bool state_is_locked(int dirfd);

int state_load(int dirfd, const char *id, struct container_state *st, nook_error *err);
int state_save(int dirfd, const struct container_state *st, nook_error *err);
void state_clear(struct container_state *st);

/* Removes ROOT/ID and all it holds. */
int state_dir_remove(const char *root, const char *id, nook_error *err);

/* The status, from the processes rather than the file: the init alive with
 * the same start time, the exec fifo still there, the cgroup frozen. */
enum container_status state_status(int dirfd, const struct container_state *st);
const char *state_status_name(enum container_status s);

/* Whether pid is alive and started at start_time (not a recycled pid). */
bool pid_is_same_process(pid_t pid, unsigned long long start_time);
/* Reads the start time of pid; 0 on failure. */
unsigned long long pid_start_time(pid_t pid);
bool pid_is_exiting_or_gone(pid_t pid);

/* The OCI state document (ociVersion, id, status, pid, bundle, annotations)
 * plus nook's own fields, as JSON text. */
char *state_to_oci_json(const struct container_state *st, enum container_status s, bool pretty);

/* Lists the ids under the root (sorted). */
int state_list_ids(const char *root, char ***ids, nook_error *err);

#define EXEC_FIFO_NAME "exec.fifo"
#define STATE_CONFIG_NAME "config.json"
