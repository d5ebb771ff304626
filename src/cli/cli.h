/* The command line: global options shared by every command, and one entry
 * point per command, each in its own cmd-NAME.c. */
#pragma once

#include <stdbool.h>

#include "error.h"

enum nook_rootless { NOOK_ROOTLESS_AUTO, NOOK_ROOTLESS_TRUE, NOOK_ROOTLESS_FALSE };

struct nook_globals {
  const char *root;           /* --root, NULL for the default */
  const char *log_file;       /* --log */
  bool log_json;              /* --log-format json */
  bool debug;                 /* --debug */
  enum nook_rootless rootless;
  const char *cgroup_manager; /* systemd | cgroupfs | disabled | NULL (auto) */
  const char *argv0;
};

typedef int (*nook_command_fn)(struct nook_globals *g, int argc, char **argv, nook_error *err);

struct nook_command {
  const char *name;
  nook_command_fn run;
  const char *summary;
  bool hidden;
};

extern const struct nook_command nook_commands[];

/* Prints usage to stdout and returns 0: every command's --help. */
int cli_print_usage(const char *usage);
/* Fills err for an unknown or malformed option, naming the command. */
int cli_bad_usage(nook_error *err, const char *command, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Checks that exactly `want` positional arguments remain after getopt's
 * optind; `names` says what they are ("a container id"). */
int cli_want_args(nook_error *err, const char *command, int argc, char **argv, int want,
                  const char *names);

/* After a command's own options: exactly one container id (*id) and the
 * state root (*root, malloc'd). */
int cli_id_and_root(struct nook_globals *g, int argc, char **argv, const char **id, char **root,
                    nook_error *err);
/* For commands whose only option is --help: 1 when help was printed. */
int cli_parse_help_only(int argc, char **argv, const char *usage, nook_error *err);

/* The state root for this invocation (--root or the per-user default). */
int cli_state_root(struct nook_globals *g, char **root, nook_error *err);
/* Fills a create_options' cgroup fields from the global options. */
struct create_options;
void cli_cgroup_options(const struct nook_globals *g, struct create_options *o);

#define NOOK_COMMANDS(X)                                                                           \
  X(create, "create a container from a bundle, ready to start")                                   \
  X(start, "start the user process of a created container")                                       \
  X(run, "create and start a container")                                                          \
  X(state, "print the state of a container as JSON")                                              \
  X(kill, "send a signal to a container's processes")                                             \
  X(delete, "delete a container and everything it holds")                                         \
  X(list, "list the containers")                                                                  \
  X(exec, "run a new process inside a container")                                                 \
  X(ps, "list the processes of a container")                                                      \
  X(pause, "suspend every process of a container")                                                \
  X(resume, "resume a paused container")                                                          \
  X(events, "print container events and statistics")                                              \
  X(update, "update a container's resource limits")                                               \
  X(spec, "write a default config.json")                                                          \
  X(features, "print the OCI features document")                                                  \
  X(checkpoint, "checkpoint a container (not supported)")                                         \
  X(restore, "restore a container (not supported)")                                               \
  X(launch, "run a command in a new container made from an image")                                \
  X(logs, "print the output of a detached container")                                            \
  X(wait, "wait for a container to stop and print its exit code")                                \
  X(stop, "stop a container: SIGTERM, then SIGKILL")                                             \
  X(rm, "remove containers made by launch, with their files")                                    \
  X(containers, "list containers with their image, command, status and ports")                   \
  X(port, "list a container's published ports")                                                  \
  X(attach, "attach this terminal to a container launched with -d -t")                          \
  X(image, "manage images: import, pull, list, inspect, rm, prune")                              \
  X(check, "examine the host and say what nook can use")                                          \
  X(slirp4netns, "slirp4netns-compatible network helper")                                         \
  X(fuse_overlayfs, "fuse-overlayfs-compatible overlay filesystem")

#define NOOK_DECLARE_COMMAND(name, summary)                                                        \
  int cmd_##name(struct nook_globals *g, int argc, char **argv, nook_error *err);
NOOK_COMMANDS(NOOK_DECLARE_COMMAND)
#undef NOOK_DECLARE_COMMAND

/* A command returns 0 or a negative errno (err filled), or a positive exit
 * status to end with (run's container status). Commands not built yet are
 * weak stubs in cmd-stubs.c, replaced by their own cmd-NAME.c. */

/* Hidden helper for shell completion. */
int cmd___complete(struct nook_globals *g, int argc, char **argv, nook_error *err);
