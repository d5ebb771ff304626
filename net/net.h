/* The core's side of networking: start the nook-net helper for a container
 * and stop it. Compiled into nook, so no glib here; the helper does the work.
 *
 * Annotations read from config.json (documented in docs/network.md):
 *   nook.network                        slirp | none | host (absent: none)
 *   nook.ports                          "[IP:]HOSTPORT:CONTAINERPORT[/tcp|udp],..."
 *   nook.network.allow_host_loopback    true | false (default false)
 *   nook.network.mtu                    68..65520 (default 65520)
 *   nook.network.outbound_addr          IPv4 address or interface name
 *   nook.network.enable_ipv6            true | false (default true)
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "spec.h"

/* What the helper attaches to. */
struct net_target {
  pid_t pid;      /* the container's init: the network ends with it */
  int netns_fd;   /* its network namespace, opened by the runtime; -1: /proc/PID/ns/net */
  bool own_netns; /* the namespace is the container's own and ends with it */
  bool hold;      /* the ids are not mapped yet: attach on net_attach */
};

/* A helper being started. */
struct net_helper {
  pid_t pid; /* 0: none (the spec asks for no slirp network) */
  int ready_fd;
  int err_fd;
  int go_fd; /* target.hold: written by net_attach */
};
#define NET_HELPER_NONE {.pid = 0, .ready_fd = -1, .err_fd = -1, .go_fd = -1}

/* Starts the helper for target's network namespace when the spec asks for
 * slirp, without waiting for it; h->pid is 0 when no helper is needed. The
 * API socket is state_dir/net.sock. Bad annotations are refused first. */
int net_start(const struct spec *spec, const struct net_target *target, const char *state_dir,
              struct net_helper *h, nook_error *err);
/* Lets a helper started with target.hold attach, once the namespace's ids
 * are mapped (net_wait_ready does it too). */
int net_attach(struct net_helper *h, nook_error *err);
/* Waits until a started helper's network is up. On failure the helper is
 * killed and reaped (h->pid 0) and its own line is the error. */
int net_wait_ready(struct net_helper *h, nook_error *err);
/* Closes the pipes of a helper that is not waited for (it may run on). */
void net_helper_close(struct net_helper *h);

/* Stops the helper (if still running) and removes its socket. Idempotent. */
int net_teardown(pid_t helper_pid, const char *state_dir, nook_error *err);

/* net_start from the annotation values directly (NULL: absent). */
struct net_options {
  const char *network;
  const char *ports;
  const char *allow_host_loopback;
  const char *mtu;
  const char *outbound_addr;
  const char *enable_ipv6;
};
int net_start_options(const struct net_options *o, const struct net_target *target,
                      const char *state_dir, struct net_helper *h, nook_error *err);
/* Start and wait at once, for init_pid's namespaces: returns once the
 * network is up (*helper_pid > 0; 0 when no helper is needed). On failure
 * nothing is left running. */
int net_setup_options(const struct net_options *o, pid_t init_pid, const char *state_dir,
                      pid_t *helper_pid, nook_error *err);
