/* The container's init process: created in its namespaces by clone3, set up
 * step by step in lock-step with the runtime over a socket, then left waiting
 * on the exec fifo until `start`. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "spec.h"

struct init_hooks {
  /* Once the init's pid is known, before its ids are mapped: record the
   * pid, start putting it into a cgroup. May be NULL. */
  int (*init_created)(void *data, pid_t pid, nook_error *err);
  /* While the init sets up its mounts: finish joining the cgroup. The init
   * makes its cgroup namespace (and starts processes) only after this
   * returns. May be NULL. */
  int (*cgroup_wait)(void *data, nook_error *err);
  /* prestart and createRuntime hooks, in the runtime's namespaces, before
   * pivot_root. May be NULL. */
  int (*create_runtime)(void *data, pid_t pid, nook_error *err);
  /* The OCI state JSON for hooks run by the init itself; called in the init. */
  char *(*state_json)(void *data, pid_t pid, const char *status);
  void *data;
};

struct init_request {
  const struct spec *spec;
  bool in_userns;                /* not in the initial user namespace: no mknod, host devices are bound */
  bool idmap_fallback;           /* a single-id map is acceptable when newuidmap fails */
  bool no_pivot;
  bool no_new_keyring;
  int preserve_fds;
  int exec_fifo_fd;              /* the init blocks reading it until `start` */
  int exec_fifo_keepalive_fd;    /* a writer the init holds so the read blocks, not EOFs */
  const sigset_t *saved_sigmask; /* restored in the init before it execs */
  const char *seccomp_cache_dir; /* compiled seccomp filters are kept here; NULL: no cache */
  struct init_hooks hooks;
};

struct init_process {
  pid_t pid;       /* in the runtime's pid namespace */
  int sync_fd;     /* runtime side of the set-up socket; -1 once released */
  int pty_master;  /* process.terminal: the pty master; else -1 */
  bool is_child;   /* a child of this process (waitpid works) */
};

/* Creates the init and drives its set-up until it is ready to run the user's
 * process. On failure nothing of it is left running. */
int linux_spawn_init(const struct init_request *req, struct init_process *out, nook_error *err);

/* Tells the init the runtime is done with it: it closes the set-up socket and
 * waits on the exec fifo. */
int linux_init_release(struct init_process *init, nook_error *err);

/* Kills and reaps an init that failed half-way. */
void linux_init_abort(struct init_process *init);

/* Whether the caller is unprivileged in the initial user namespace (a normal
 * user, or root inside a user namespace). */
bool linux_running_rootless(void);
/* --rootless true|false: overrides the detection (-1 restores it). */
void linux_set_rootless_override(int rootless);

/* args[0] looked up as execve will see it (process.env's PATH), from the
 * current root; a missing or non-executable command is a clear error. */
int linux_resolve_executable(const struct spec_process *p, char **out, nook_error *err);
/* process.env with HOME added from /etc/passwd when it is missing. */
char **linux_process_env(const struct spec_process *p);
