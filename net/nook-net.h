/* nook-net: the user-mode network helper. One process per container: a tap
 * device in the container's network namespace on one side, libslirp (NAT,
 * DNS, gateway) and a splice-based TCP port forwarder on the host side. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

#define NET_DEFAULT_MTU 65520
#define NET_MAX_PORTS 256

/* The policy routing that keeps forwarded clients' addresses (rtnl.c): a
 * mark, a table and a rule priority the container is unlikely to use. */
#define NET_FWD_MARK 0x6e6f6f6bU /* "nook" */
#define NET_FWD_TABLE 28267
#define NET_FWD_RULE_PRIORITY 1000

enum net_proto { NET_TCP, NET_UDP };

struct net_port {
  enum net_proto proto;
  int family; /* of host_addr: AF_INET or AF_INET6 */
  struct sockaddr_storage host_addr;
  socklen_t host_len;
  uint16_t host_port;
  struct in_addr guest_addr; /* 0: the container's address */
  uint16_t guest_port;
  bool guest_ipv6; /* the container has fd00::100: IPv6 clients may come as such */
};

struct net_config {
  /* target */
  pid_t pid;             /* netns-type pid: the process whose namespace to join */
  const char *netns_path;/* netns-type path */
  const char *userns_path;
  int netns_fd;           /* inherited from the runtime; -1: by pid or path */
  int wait_fd;            /* attach once a byte arrives here; -1: at once */
  bool own_netns;         /* the namespace ends with pid: its tap goes with it */
  const char *tapname;

  /* slirp */
  bool configure;
  unsigned mtu;
  struct in_addr network; /* 10.0.2.0 */
  unsigned prefix_len;    /* 24 */
  struct in_addr host_addr;  /* network + 2: the gateway */
  struct in_addr dns_addr;   /* network + 3 */
  struct in_addr guest_addr; /* network + 100 */
  bool disable_host_loopback;
  bool enable_ipv6;
  bool disable_dns;
  bool has_outbound_addr;
  struct sockaddr_in outbound_addr;
  bool has_outbound_addr6;
  struct sockaddr_in6 outbound_addr6;
  const char *resolv_conf; /* file whose nameservers slirp's DNS forwards to */

  /* control */
  int ready_fd;
  int exit_fd;
  const char *api_socket;
  bool sandbox;
  bool seccomp;
  bool debug;

  struct net_port ports[NET_MAX_PORTS];
  size_t n_ports;
};

/* Parses "[IP:]HOSTPORT:CONTAINERPORT[/tcp|udp]". */
int net_port_parse(const char *spec, struct net_port *out, nook_error *err);
/* Formats the host address of a port for messages and list_hostfwd. */
const char *net_port_host_ip(const struct net_port *p, char *buf, size_t len);

/* ---- ns.c: the helper's child inside the container's namespaces ---- */
struct ns_child {
  pid_t pid;
  int sock; /* SOCK_SEQPACKET to the child */
  /* Replies to marked connector sockets come back to them whatever their
   * address (rtnl_source_routing succeeded). */
  bool source_routing;
  bool source_routing6; /* the same for IPv6, and the container has IPv6 */
};
/* Forks a child for the target's user and network namespaces (opened now,
 * while /proc is still at hand). Asked with ns_child_attach, it joins them,
 * creates and configures the tap device and passes its fd back; then it
 * sandboxes itself, which ns_child_sandboxed waits for. The child stays to
 * create sockets inside the namespace on request. On a failure of attach or
 * sandboxed, ns_child_stop it. */
int ns_child_start(const struct net_config *cfg, struct ns_child *child, nook_error *err);
int ns_child_attach(struct ns_child *child, int *tap_fd, nook_error *err);
int ns_child_sandboxed(struct ns_child *child, nook_error *err);
/* A new socket(family, type) living in the container's network namespace. */
int ns_child_socket(struct ns_child *child, int family, int type, nook_error *err);
/* The same, as a connector that may bind to any address (IP_TRANSPARENT,
 * IP_FREEBIND) and carries NET_FWD_MARK; *transparent says whether it got
 * both. */
int ns_child_connector(struct ns_child *child, int family, int type, bool *transparent,
                       nook_error *err);
/* Adds or removes the rule that routes what the container sends from UDP
 * port back to the connectors (rtnl_udp_port_rule). */
int ns_child_udp_rule(struct ns_child *child, bool add, uint16_t port, nook_error *err);
void ns_child_stop(struct ns_child *child);

/* ---- rtnl.c: interface configuration with plain rtnetlink ---- */
int rtnl_configure(const char *ifname, unsigned mtu, const struct net_config *cfg,
                   nook_error *err);
/* *fd: a netlink socket for rtnl_udp_port_rule; *ipv6: IPv6 has it too. */
int rtnl_source_routing(const char *ifname, int *fd, bool *ipv6, nook_error *err);
int rtnl_udp_port_rule(int fd, bool add, uint16_t port, bool ipv6, nook_error *err);

/* ---- portfwd.c: host TCP port -> container port, spliced ---- */
struct portfwd;
int portfwd_new(struct ns_child *child, struct portfwd **out, nook_error *err);
void portfwd_free(struct portfwd *pf);
/* The epoll fd to watch for readability in the main loop. */
int portfwd_fd(struct portfwd *pf);
void portfwd_dispatch(struct portfwd *pf);
/* The namespace child is sandboxed and serves requests: UDP ports get
 * their reply rules from now on. */
void portfwd_routing_ready(struct portfwd *pf);
int portfwd_add(struct portfwd *pf, const struct net_port *port, int *id, nook_error *err);
int portfwd_remove(struct portfwd *pf, int id);

/* Opens the listening host socket for a port; a taken or privileged port is
 * one line naming the fix. */
int net_bind_host_port(const struct net_port *port, int type, nook_error *err);

/* ---- loop.c: libslirp and the event loop ---- */
struct net_loop;
int net_loop_new(const struct net_config *cfg, int tap_fd, struct ns_child *child,
                 struct net_loop **out, nook_error *err);
/* The namespace child is sandboxed (portfwd_routing_ready). */
void net_loop_child_ready(struct net_loop *l);
int net_loop_add_port(struct net_loop *l, const struct net_port *port, int *id, nook_error *err);
int net_loop_remove_port(struct net_loop *l, int id, nook_error *err);
/* The forwarded port with that id (1..NET_MAX_PORTS), NULL when none. */
const struct net_port *net_loop_port(struct net_loop *l, int id);
/* Runs until the exit fd, the target process or a signal ends it. */
int net_loop_run(struct net_loop *l, int api_fd, int pidfd);
void net_loop_free(struct net_loop *l);

/* ---- api.c: slirp4netns's JSON API on a unix socket ---- */
int api_listen(const char *path, nook_error *err);
/* Serves one client connected on listen_fd. */
void api_serve_one(int listen_fd, struct net_loop *l);

/* ---- sandbox.c ---- */
/* Empty tmpfs root with only /etc/resolv.conf, capabilities dropped but
 * CAP_NET_ADMIN when keep_net_admin. */
int sandbox_enter(const char *resolv_conf_content, bool keep_net_admin, nook_error *err);
int sandbox_seccomp(nook_error *err);
