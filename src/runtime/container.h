/* The OCI lifecycle: create, start, run, kill, delete, and loading a
 * container's state with its true status. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "cgroup.h"
#include "state.h"

/* The cgroup a container's state records; the handle borrows the strings. */
static inline struct cgroup_handle state_cgroup(const struct container_state *st) {
  return (struct cgroup_handle){
      .path = st->cgroup_path, .manager = st->cgroup_manager, .unit = st->cgroup_unit};
}

struct create_options {
  const char *root; /* resolved state root */
  const char *id;
  const char *bundle; /* NULL: the current directory */
  const char *pid_file;
  const char *console_socket;
  int preserve_fds;
  bool no_pivot;
  bool no_new_keyring;
  const char *cgroup_manager; /* NULL: automatic */
  bool cgroup_manager_explicit;
  /* run only */
  bool detach;
  bool keep;
  /* keep, but the caller removes it right after it ends (launch --rm) */
  bool removed_after;
};

int container_create(const struct create_options *o, nook_error *err);
int container_start(const char *root, const char *id, nook_error *err);
/* create + start; in the foreground returns the container's exit status
 * (128+signal when killed). */
int container_run(const struct create_options *o, nook_error *err);
int container_kill(const char *root, const char *id, int sig, bool all, nook_error *err);
int container_delete(const char *root, const char *id, bool force, nook_error *err);

/* A loaded container: its state, status and open state directory. */
struct container {
  struct container_state state;
  enum container_status status;
  int dirfd;
};
int container_load(const char *root, const char *id, struct container *c, nook_error *err);
/* container_load, failing with the command's name when the container is not
 * in one of the allowed states (a mask of 1 << STATUS_*). */
int container_load_for(const char *root, const char *id, const char *command, unsigned allowed,
                       struct container *c, nook_error *err);
void container_release(struct container *c);
#define _cleanup_container_ __attribute__((cleanup(container_release)))

/* Waits for pid (a child, or reparented to this subreaper), forwarding the
 * signals read from sigfd to it and relaying the terminal master (-1: none).
 * Returns its exit status as a shell reports it (128+signal). */
int container_supervise(pid_t pid, int sigfd, int master);
/* The signals a foreground nook forwards to its container: all but those
 * that cannot be caught or that mean nook itself crashed. */
void container_forwarded_signals(sigset_t *set);
/* Writes pid to path atomically (--pid-file). */
int container_write_pid_file(const char *path, pid_t pid, nook_error *err);
