/* The image workflow: `nook launch IMAGE [COMMAND...]` turns an image and a
 * few docker-like flags into a bundle (an overlay rootfs asked for through
 * annotations, a generated config.json, /etc files) and runs it in the
 * foreground or under a per-container monitor; logs, wait, stop, rm and the
 * container list work on what it made. The OCI commands are untouched. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cli.h"
#include "error.h"
#include "spec.h"
#include "storage/rootfs.h"

/* Exit statuses as podman and docker give them, so CI can tell nook's own
 * failure from the command's. */
#define LAUNCH_EXIT_ERROR 125
#define LAUNCH_EXIT_NOT_EXECUTABLE 126
#define LAUNCH_EXIT_NOT_FOUND 127

/* Annotations launch leaves on its containers (they reach the state). */
#define LAUNCH_ANN_IMAGE "nook.launch.image"
#define LAUNCH_ANN_COMMAND "nook.launch.command"
#define LAUNCH_ANN_PORTS "nook.launch.ports"
#define LAUNCH_ANN_BUNDLE "nook.launch.bundle"
#define LAUNCH_ANN_RM "nook.launch.rm"
#define LAUNCH_ANN_STOP_SIGNAL "nook.launch.stop-signal"   /* a number */
#define LAUNCH_ANN_STOP_TIMEOUT "nook.launch.stop-timeout" /* seconds */
#define LAUNCH_ANN_LABEL_PREFIX "nook.launch.label."       /* + KEY: VALUE */
#define LAUNCH_STOP_TIMEOUT_DEFAULT 10

#define LAUNCH_LOG_NAME "container.log"

enum launch_net { LAUNCH_NET_SLIRP, LAUNCH_NET_NONE, LAUNCH_NET_HOST };
enum launch_pull { LAUNCH_PULL_MISSING, LAUNCH_PULL_ALWAYS, LAUNCH_PULL_NEVER };

struct launch_options {
  const char *image;
  char **command; /* after the image; not owned */
  int n_command;
  const char *name;
  bool rm, interactive, tty, detach, read_only, init, keep_id, publish_all;
  enum launch_net net;
  char **net_options; /* --net slirp:KEY=VALUE,...: "KEY=VALUE", KEY of nook.network.KEY */
  char **ports;   /* [[IP:][HOST]:]CTR[/proto] */
  char **volumes; /* SRC:DST[:ro] */
  char **tmpfs;   /* DST[:options] */
  char **env;     /* K=V, flags in order (env files first) */
  const char *workdir;
  const char *user;
  const char *entrypoint; /* NULL: the image's; "": none */
  const char *hostname;
  long long memory;     /* bytes, 0: none */
  long long pids_limit; /* 0: none */
  long long cpu_quota;  /* microseconds per 100 ms period, 0: none */
  char **cap_add;
  char **cap_drop;
  const char *seccomp; /* NULL: default profile; "unconfined"; a file */
  const char *detach_keys; /* -it in the foreground: NULL for ctrl-p,ctrl-q */
  bool tls_no_verify;  /* pulling: --tls-verify=false */
  enum launch_pull pull;
  /* The flags below are kept as given (checked by launch_parse) and taken
   * apart again by the launch-values.c parsers when the bundle is written. */
  char **mounts;      /* --mount type=...,... */
  char **devices;     /* HOST[:CTR][:rwm] */
  char **ulimits;     /* NAME=SOFT[:HARD] */
  char **group_add;   /* names or gids */
  char **add_hosts;   /* NAME:IP */
  char **dns;         /* IP */
  char **dns_search;  /* DOMAIN */
  char **dns_options; /* OPT */
  char **labels;      /* K=V */
  long long shm_size; /* bytes, 0: podman's 64m */
  int stop_signal;    /* 0: SIGTERM */
  int stop_timeout;   /* seconds, -1: LAUNCH_STOP_TIMEOUT_DEFAULT */
};

void launch_options_free(struct launch_options *o);

/* Parses `launch`'s arguments (argv[0] is the command). 1 after --help. */
int launch_parse(int argc, char **argv, struct launch_options *o, nook_error *err);

/* The values of launch's flags (launch-values.c): each parser checks one
 * value and fills its struct; errors name the flag and the value. */
struct launch_port_range {
  char *ip;                    /* as given ("" when none; "[::1]" keeps its brackets) */
  unsigned host_start;         /* 0: free host ports */
  unsigned ctr_start, count;   /* count >= 1 */
  const char *proto;           /* "tcp" or "udp" */
};
int launch_port_range_parse(const char *spec, struct launch_port_range *out, nook_error *err);

enum launch_mount_type { LAUNCH_MOUNT_BIND, LAUNCH_MOUNT_TMPFS, LAUNCH_MOUNT_VOLUME };
struct launch_mount {
  enum launch_mount_type type;
  char *source, *target;   /* source: bind only */
  bool readonly, recursive;
  char **options;          /* further mount options: propagation, size=, mode=, noexec... */
};
int launch_mount_parse(const char *spec, struct launch_mount *out, nook_error *err);
void launch_mount_free(struct launch_mount *m);

struct launch_device {
  char *host, *ctr;
  bool writable;
};
int launch_device_parse(const char *spec, struct launch_device *out, nook_error *err);

struct launch_ulimit {
  char type[32]; /* "RLIMIT_NOFILE" */
  unsigned long long soft, hard;
};
int launch_ulimit_parse(const char *spec, struct launch_ulimit *out, nook_error *err);
/* Calls fn with each limit name --ulimit takes (for `__complete`). */
void launch_ulimit_names(void (*fn)(const char *name, void *data), void *data);

/* "512m", "1g", "100k", "4096" (b, k, m, g, with an optional b). */
bool launch_parse_size(const char *s, long long *out);
int launch_add_host_check(const char *spec, nook_error *err);
int launch_dns_check(const char *flag, const char *value, nook_error *err);
int launch_ports_count(char *const *ports, nook_error *err);

/* Everything a container's config is made from. */
struct launch_plan {
  const struct launch_options *opts;
  const char *id;
  const char *bundle; /* absolute */
  const struct rootfs_info *rootfs;
  bool debug;
};

/* Writes BUNDLE/config.json, BUNDLE/etc/{hosts,hostname,resolv.conf} and
 * BUNDLE/rootfs (empty: the overlay is mounted there). */
int launch_write_bundle(const struct launch_plan *plan, nook_error *err);

/* The image's Volumes that no -v or --tmpfs covers: each gets a directory
 * under the container's storage seeded with the image's content there.
 * dests[i] is mounted from sources[i] (both NULL-terminated, malloc'd). */
int image_volumes_prepare(const struct launch_plan *p, char ***dests, char ***sources,
                          nook_error *err);
/* The destination of each -v, --tmpfs and --mount but type=volume
 * (NULL-terminated, malloc'd). */
char **launch_mount_destinations(const struct launch_options *o);
/* The targets of --mount type=volume (only the readonly ones when asked). */
char **launch_anonymous_volumes(const struct launch_options *o, bool readonly);
/* Whether path lies below one of dests (then it is mounted after them). */
bool image_volume_is_under(const char *path, char *const *dests);

/* The ports to publish as [IP:]HOST:CTR/PROTO: -p's (a free host port for
 * those without one), then with -P each of the image's exposed ports that
 * no -p publishes, on a free host port of all addresses. */
int launch_ports(const struct launch_options *o, char *const *exposed, char ***out,
                 nook_error *err);
/* A ports annotation as podman shows it: "0.0.0.0:8080->80/tcp, ...". */
char *launch_ports_text(const char *annotation);
/* The same as a JSON array of podman's port objects: host_ip, container_port,
 * host_port, range, protocol. */
struct yajl_gen_t;
void launch_ports_json(struct yajl_gen_t *g, const char *annotation);
/* `nook port`: every mapping ("80/tcp -> 0.0.0.0:8080"), or with which
 * ("80", "53/udp") the host address of that one. */
int launch_port_print(const char *root, const char *id, const char *which, nook_error *err);

/* A --group-add value: a gid, or a name of the image's /etc/group. */
int launch_resolve_group(char *const *lowerdirs, const char *name, uint32_t *gid,
                         nook_error *err);
/* Writes BUNDLE/etc/{hostname,hosts,resolv.conf} (etc-files.c). */
int launch_write_etc(const struct launch_plan *p, const char *hostname, nook_error *err);

/* A user spec ("name", "uid", "name:group", "uid:gid") resolved against the
 * image's /etc/passwd and /etc/group, read from the layers top-down. */
struct launch_user {
  uint32_t uid, gid;
  char *home;
};
int launch_resolve_user(char *const *lowerdirs, const char *spec, struct launch_user *out,
                        nook_error *err);

/* containers-common's seccomp.json (or an OCI profile) resolved for the
 * given capabilities and this machine's architecture into the OCI form,
 * generated as the value of linux.seccomp. */
struct yajl_gen_t;
int seccomp_profile_gen(struct yajl_gen_t *g, const char *path, char *const *caps,
                        nook_error *err);
#define DEFAULT_SECCOMP_PROFILE "/usr/share/containers/seccomp.json"

/* The whole command. */
int launch_main(struct nook_globals *g, struct launch_options *o, nook_error *err);

/* The per-container monitor of a detached container: forks itself away,
 * creates and starts the container with its output in the log, and returns
 * (in the caller) once the container runs or failed to. */
struct monitor_options {
  bool rm, tty, interactive;
  /* the launching nook attaches right away (launch -it in the foreground):
   * the monitor waits for monitor_start before it starts the container */
  bool foreground;
  unsigned short rows, cols; /* the terminal's size at the start, 0: none */
};
int monitor_launch(const char *root, const char *id, const char *bundle,
                   const struct nook_globals *g, const struct monitor_options *mo, int *start_fd,
                   nook_error *err);
/* With mo->foreground: *start_fd from monitor_launch. Starts the container
 * once the caller is attached; closes start_fd. */
int monitor_start(int start_fd, const char *id, nook_error *err);

/* Directory of launch's bundles under the state root. */
char *launch_bundle_dir(const char *root, const char *id);
/* Removes what launch made for id: the container (force), its rootfs, its
 * bundle. Missing parts are fine. */
int launch_remove(const char *root, const char *id, bool force, nook_error *err);
/* Removes the rootfs and bundle of id when it has no state (the runtime dir
 * was cleared): 1 when there were some, 0 when none or id has state. */
int launch_remove_leftovers(const char *root, const char *id, nook_error *err);
/* SIGKILLs every process of a running container and waits for its init.
 * -ENOENT when there is no such container. */
int launch_kill(const char *root, const char *id, nook_error *err);
/* Records the exit status and finish time in the container's state and stops
 * its network helper. */
void launch_record_exit(const char *root, const char *id, int status);

/* A detached container's stdio (attach-relay.c): the console socket the
 * monitor receives a terminal's master on (*path for create_options), and
 * the relay process that logs the container's output and serves `nook
 * attach` on ATTACH_SOCKET_NAME in the state dir; the protocol is described
 * at the top of attach-relay.c. */
#define ATTACH_SOCKET_NAME "attach"
#define ATTACH_MSG_HELLO 'h'
#define ATTACH_MSG_STDOUT 'o'
#define ATTACH_MSG_STDERR 'e'
#define ATTACH_MSG_EXIT 'x' /* + int32: the container's exit code, last */
#define ATTACH_MSG_INPUT 'i'
#define ATTACH_MSG_RESIZE 'w'
#define ATTACH_MSG_CLOSE_STDIN 'c'
#define ATTACH_HELLO_TTY 1
#define ATTACH_HELLO_STDIN 2
#define ATTACH_MAX_INPUT 4096 /* keys read at once; with held detach keys, 16 more */
struct tty_console {
  int listen_fd, dirfd;
  char *path;
};
int tty_console_listen(const char *bundle, struct tty_console *c, nook_error *err);
void tty_console_close(struct tty_console *c);
/* Once the container is created: takes the master from the console socket
 * and sizes it (rows, cols; 0: 24x80 unless the container set one). */
int tty_console_receive(int console_fd, unsigned short rows, unsigned short cols, int *master,
                        nook_error *err);
/* The attach socket of a created container (listening). */
int attach_listen(const char *root, const char *id, nook_error *err);
/* What the relay takes over (-1: none); the caller still closes its own. */
struct attach_relay_fds {
  int out, err; /* read ends of the container's stdout and stderr pipes */
  int master;   /* the terminal's master (-t) */
  int stdin_w;  /* write end of the container's stdin pipe (-i without -t) */
  int listen;   /* the attach socket */
  int logfd;
};
struct attach_relay {
  pid_t pid;
  int exit_fd;    /* the container's exit code goes there */
  int drained_fd; /* closed by the relay once all output is logged */
};
int attach_relay_start(const struct attach_relay_fds *fds, struct attach_relay *relay,
                       nook_error *err);
/* Waits (timeout_ms at most: something escaped may hold the container's
 * pipes) until the relay has logged everything the container wrote. */
void attach_relay_wait_drained(struct attach_relay *relay, int timeout_ms);
/* Tells the relay the exit code (-1: none), which it passes on to the
 * attached clients, and waits for it to end. */
void attach_relay_end(struct attach_relay *relay, int code);
/* Connects to the relay of the container whose state dir is dirfd: the
 * socket, or -errno (ENOENT, ECONNREFUSED: no relay) without a message. */
int attach_connect(int dirfd, nook_error *err);

/* `nook attach` and the foreground `launch -it`. */
struct attach_options {
  const char *detach_keys; /* podman's form, "ctrl-p,ctrl-q"; "" for none */
  bool no_stdin;           /* output only */
  /* SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2 passed to the container
   * (1) or detaching (0); -1: passed without a terminal, as podman does */
  int sig_proxy;
};
/* Checks a --detach-keys value. */
int attach_check_detach_keys(const char *spec, nook_error *err);
/* A connection to a container's relay, made before attach_run, so that one
 * made before the container started misses none of its output. */
struct attach_session {
  const char *root, *id;
  int sock;
  unsigned char flags; /* ATTACH_HELLO_* */
};
int attach_open(const char *root, const char *id, struct attach_session *s, nook_error *err);
/* Relays this process's stdio to the container's until it ends (*status:
 * its exit code, -1 when unknown) or the client detaches (*status: -2).
 * Closes the session. */
int attach_run(struct attach_session *s, const struct attach_options *o, int *status,
               nook_error *err);
/* Both. */
int launch_attach(const char *root, const char *id, const struct attach_options *o, int *status,
                  nook_error *err);

/* logs, wait, stop, list */
int logs_print(const char *root, const char *id, bool follow, const char *since, nook_error *err);
int launch_wait(const char *root, const char *id, int *status, nook_error *err);
/* timeout_s < 0: the container's --stop-timeout, else 10 s. */
int launch_stop(const char *root, const char *id, int timeout_s, nook_error *err);
int containers_list(const char *root, bool all, bool json, nook_error *err);

char *rfc3339_now(void);

/* Output on its way to the log, cut into lines. */
struct log_stream {
  int fd;
  const char *name; /* "stdout", "stderr" */
  bool strip_cr;    /* a terminal's "\r\n" ends a line as "\n" does */
  char buf[16384];
  size_t len;
};
/* Logs the complete lines of s (all: the rest too) and keeps what is left. */
void log_stream_flush(int logfd, struct log_stream *s, bool all);
/* Logs what s holds of a line not ended yet (a prompt), as stream
 * NAME-partial: the reader prints it without a line end. */
void log_stream_flush_partial(int logfd, struct log_stream *s);
/* Appends a line of nook's own to the log of the container of bundle. */
void log_note(const char *bundle, const char *text);
#define LOG_PARTIAL_SUFFIX "-partial"

/* The value of key among annotations, NULL when absent. */
const char *spec_kv_find(const struct spec_kv *kv, size_t n, const char *key);

/* Prints the store's image names, one a line (for `__complete`). */
int workflow_complete_images(void);
