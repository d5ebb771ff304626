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

#include <sys/types.h>

#include "error.h"
#include "spec.h"

/* Starts the helper for init_pid's network namespace when the spec asks for
 * slirp, and returns once the network is up (*helper_pid > 0); *helper_pid
 * is 0 when no helper is needed. The API socket is state_dir/net.sock. On
 * failure nothing is left running. */
int net_setup(const struct spec *spec, pid_t init_pid, const char *state_dir, pid_t *helper_pid,
              nook_error *err);

/* Stops the helper (if still running) and removes its socket. Idempotent. */
int net_teardown(pid_t helper_pid, const char *state_dir, nook_error *err);

/* The same, from the annotation values directly (NULL: absent). */
struct net_options {
  const char *network;
  const char *ports;
  const char *allow_host_loopback;
  const char *mtu;
  const char *outbound_addr;
  const char *enable_ipv6;
};
int net_setup_options(const struct net_options *o, pid_t init_pid, const char *state_dir,
                      pid_t *helper_pid, nook_error *err);
