/* exec: a new process in a running container. It joins every namespace of
 * the container's init (the user namespace first), its cgroup and root, and
 * gets the container's seccomp filter, capabilities and rlimits, then the
 * process the caller describes. */
#pragma once

#include <stdbool.h>

#include "error.h"
#include "spec.h"

struct exec_options {
  const char *root; /* resolved state root */
  const char *id;
  /* The process: from --process (a whole OCI process object) or the
   * container's own process with the command line's changes applied. */
  struct spec_process *process;
  bool detach;
  const char *console_socket; /* with process->terminal */
  const char *pid_file;
  int preserve_fds;
  const char *sub_cgroup; /* --cgroup: a sub-cgroup of the container's */
  bool ignore_paused;     /* exec into a paused container: it starts on resume */
};

/* What the command line changes in the container's process. */
struct exec_changes {
  char **args;            /* the command; NULL with --process */
  char **env;             /* K=V, replacing the same K */
  const char *cwd;
  bool has_user;
  uint32_t uid, gid;
  bool has_gid;
  uint32_t *additional_gids;
  size_t n_additional_gids;
  char **caps;            /* added to every set */
  bool tty;
  bool no_new_privs;
};

/* Fills p from the container's config.json (saved in its state directory) and
 * the changes. */
int exec_process_from_config(const char *root, const char *id, const struct exec_changes *ch,
                             struct spec_process *p, nook_error *err);
/* Applies the command line's changes (all but args) to p; to the process of
 * a --process file too, where runc would drop them without a word. */
void exec_apply_changes(struct spec_process *p, const struct exec_changes *ch);

/* Runs the process. In the foreground returns its exit status (128+signal
 * when killed); detached returns 0 once it has started. */
int exec_run(const struct exec_options *o, nook_error *err);
