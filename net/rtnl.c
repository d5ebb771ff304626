/* Interface configuration with plain rtnetlink messages: loopback up, the
 * tap's MTU, addresses and default routes, and the policy route that brings
 * replies to forwarded connections back to the port forwarder. Runs inside
 * the container's network namespace. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "nook-net.h"
#include "util.h"

struct rtnl_msg {
  struct nlmsghdr nh;
  char payload[512];
};

static void *msg_tail(struct rtnl_msg *m) { return (char *)m + NLMSG_ALIGN(m->nh.nlmsg_len); }

static void add_attr(struct rtnl_msg *m, unsigned short type, const void *data, size_t len) {
  struct rtattr *a = msg_tail(m);
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  memcpy(RTA_DATA(a), data, len);
  m->nh.nlmsg_len = NLMSG_ALIGN(m->nh.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Starts a request of type with a zeroed family header of hdr_len bytes;
 * returns that header. */
static void *msg_init(struct rtnl_msg *m, unsigned short type, unsigned short flags,
                      size_t hdr_len) {
  *m = (struct rtnl_msg){0};
  m->nh.nlmsg_len = NLMSG_LENGTH(hdr_len);
  m->nh.nlmsg_type = type;
  m->nh.nlmsg_flags = flags;
  return NLMSG_DATA(&m->nh);
}

/* Sends one request and waits for its acknowledgement. */
static int rtnl_talk(int fd, struct rtnl_msg *m, const char *what, nook_error *err) {
  static unsigned seq;
  m->nh.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  m->nh.nlmsg_seq = ++seq;
  if (send(fd, m, m->nh.nlmsg_len, 0) < 0)
    return nook_err(err, errno, "netlink: %s", what);
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return nook_err(err, errno, "netlink: %s", what);
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
         h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR)
        continue;
      struct nlmsgerr *e = NLMSG_DATA(h);
      if (e->error == 0 || e->error == -EEXIST)
        return 0;
      return nook_err(err, -e->error, "netlink: %s", what);
    }
  }
}

static int link_set(int fd, int ifindex, unsigned mtu, const char *name, nook_error *err) {
  struct rtnl_msg m;
  struct ifinfomsg *ifi = msg_init(&m, RTM_NEWLINK, 0, sizeof(*ifi));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  if (mtu) {
    uint32_t v = mtu;
    add_attr(&m, IFLA_MTU, &v, sizeof(v));
  }
  _cleanup_free_ char *what = xasprintf("bring %s up", name);
  return rtnl_talk(fd, &m, what, err);
}

static int addr_add(int fd, int ifindex, int family, const void *addr, unsigned prefix,
                    nook_error *err) {
  struct rtnl_msg m;
  struct ifaddrmsg *ifa = msg_init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifa));
  ifa->ifa_family = family;
  ifa->ifa_prefixlen = prefix;
  ifa->ifa_index = ifindex;
  /* Usable at once: no duplicate detection on a link only slirp is on. */
  ifa->ifa_flags = family == AF_INET6 ? IFA_F_NODAD : 0;
  size_t len = family == AF_INET ? 4 : 16;
  add_attr(&m, IFA_LOCAL, addr, len);
  add_attr(&m, IFA_ADDRESS, addr, len);
  return rtnl_talk(fd, &m, "add the container's address", err);
}

/* A new route through interface oif, in table (RTA_TABLE: any id). */
static void route_msg(struct rtnl_msg *m, int family, uint32_t table, unsigned char type,
                      unsigned char scope, int oif) {
  struct rtmsg *rt = msg_init(m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, sizeof(*rt));
  rt->rtm_family = family;
  rt->rtm_table = RT_TABLE_UNSPEC;
  rt->rtm_protocol = RTPROT_BOOT;
  rt->rtm_scope = scope;
  rt->rtm_type = type;
  add_attr(m, RTA_TABLE, &table, sizeof(table));
  uint32_t o = oif;
  add_attr(m, RTA_OIF, &o, sizeof(o));
}

static int route_add_default(int fd, int ifindex, int family, const void *gw, nook_error *err) {
  struct rtnl_msg m;
  route_msg(&m, family, RT_TABLE_MAIN, RTN_UNICAST, RT_SCOPE_UNIVERSE, ifindex);
  add_attr(&m, RTA_GATEWAY, gw, family == AF_INET ? 4 : 16);
  return rtnl_talk(fd, &m, "add the default route", err);
}

/* Every address is local in the forwarder's table: a reply carrying its
 * mark is delivered to the connector socket that stands for the client. */
static int route_add_local_all(int fd, int family, int lo, nook_error *err) {
  struct rtnl_msg m;
  route_msg(&m, family, NET_FWD_TABLE, RTN_LOCAL, RT_SCOPE_HOST, lo);
  return rtnl_talk(fd, &m, "add the port forwarder's local route", err);
}

/* A rule sending to the forwarder's table: what carries the mark, or (port
 * non-zero) the UDP datagrams sent from that port. */
static void rule_msg(struct rtnl_msg *m, int family, bool add, uint16_t udp_port) {
  struct fib_rule_hdr *fr = msg_init(m, add ? RTM_NEWRULE : RTM_DELRULE,
                                     add ? NLM_F_CREATE | NLM_F_EXCL : 0, sizeof(*fr));
  fr->family = family;
  fr->action = FR_ACT_TO_TBL;
  fr->table = RT_TABLE_UNSPEC;
  uint32_t table = NET_FWD_TABLE, prio = NET_FWD_RULE_PRIORITY;
  add_attr(m, FRA_TABLE, &table, sizeof(table));
  if (udp_port) {
    uint8_t proto = IPPROTO_UDP;
    struct fib_rule_port_range range = {.start = udp_port, .end = udp_port};
    prio++;
    add_attr(m, FRA_IP_PROTO, &proto, sizeof(proto));
    add_attr(m, FRA_SPORT_RANGE, &range, sizeof(range));
  } else {
    uint32_t mark = NET_FWD_MARK, mask = 0xffffffff;
    add_attr(m, FRA_FWMARK, &mark, sizeof(mark));
    add_attr(m, FRA_FWMASK, &mask, sizeof(mask));
  }
  add_attr(m, FRA_PRIORITY, &prio, sizeof(prio));
}

/* The kernel sends a reset (from a closed port) to an IPv6 loopback
 * address through the interface the SYN came in on, which for the
 * container's address is the tap, not lo: ::1 is local there too. */
static int route_add_local_loopback6(int fd, int tap, nook_error *err) {
  struct rtnl_msg m;
  route_msg(&m, AF_INET6, NET_FWD_TABLE, RTN_LOCAL, RT_SCOPE_HOST, tap);
  ((struct rtmsg *)NLMSG_DATA(&m.nh))->rtm_dst_len = 128;
  add_attr(&m, RTA_DST, &in6addr_loopback, sizeof(in6addr_loopback));
  return rtnl_talk(fd, &m, "add the port forwarder's IPv6 loopback route", err);
}

static int family_routing(int fd, int family, int lo, int tap, nook_error *err) {
  const char *reflect = family == AF_INET ? "/proc/sys/net/ipv4/fwmark_reflect"
                                          : "/proc/sys/net/ipv6/fwmark_reflect";
  int r = write_file_at(AT_FDCWD, reflect, "1", 1, 0, err);
  if (r < 0 || (r = route_add_local_all(fd, family, lo, err)) < 0)
    return r;
  if (family == AF_INET6 && (r = route_add_local_loopback6(fd, tap, err)) < 0)
    return r;
  struct rtnl_msg m;
  rule_msg(&m, family, true, 0);
  return rtnl_talk(fd, &m, "add the port forwarder's routing rule", err);
}

/* Forwarded connections keep the client's address (see portfwd.c): the
 * connector socket inside carries NET_FWD_MARK, the server's accepted
 * socket inherits it from the SYN (tcp_fwmark_accept, for IPv6 too), and
 * the rule sends whatever carries the mark to local delivery instead of out
 * through the tap, whatever the client's address. The kernel's own answers
 * to marked packets (a reset from a closed port, ICMP port unreachable)
 * take the mark too (fwmark_reflect), so they reach the connector. */
int rtnl_source_routing(const char *ifname, int *fd_out, bool *ipv6, nook_error *err) {
  _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0)
    return nook_err(err, errno, "netlink socket");
  int lo = if_nametoindex("lo");
  int tap = if_nametoindex(ifname);
  if (!lo || !tap)
    return nook_err(err, errno, "find interface %s", lo ? ifname : "lo");
  int r = write_file_at(AT_FDCWD, "/proc/sys/net/ipv4/tcp_fwmark_accept", "1", 1, 0, err);
  if (r < 0 || (r = family_routing(fd, AF_INET, lo, tap, err)) < 0)
    return r;
  nook_error why;
  nook_err_clear(&why);
  *ipv6 = family_routing(fd, AF_INET6, lo, tap, &why) == 0;
  *fd_out = steal_fd(&fd);
  return 0;
}

/* UDP has no fwmark_accept: a server answers from an unmarked socket. What
 * it sends from a forwarded port goes to local delivery instead, where the
 * connector bound to the client's address receives it. */
int rtnl_udp_port_rule(int fd, bool add, uint16_t port, bool ipv6, nook_error *err) {
  int r = 0;
  for (int i = 0; i < (ipv6 ? 2 : 1) && r == 0; i++) {
    struct rtnl_msg m;
    rule_msg(&m, i ? AF_INET6 : AF_INET, add, port);
    r = rtnl_talk(fd, &m, add ? "add a UDP port's reply rule" : "remove a UDP port's reply rule",
                  err);
  }
  return r;
}

int rtnl_configure(const char *ifname, unsigned mtu, const struct net_config *cfg,
                   nook_error *err) {
  _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0)
    return nook_err(err, errno, "netlink socket");
  int lo = if_nametoindex("lo");
  int tap = if_nametoindex(ifname);
  if (!lo || !tap)
    return nook_err(err, errno, "find interface %s", lo ? ifname : "lo");
  int r;
  if ((r = link_set(fd, lo, 0, "lo", err)) < 0)
    return r;
  if ((r = link_set(fd, tap, mtu, ifname, err)) < 0)
    return r;
  if ((r = addr_add(fd, tap, AF_INET, &cfg->guest_addr, cfg->prefix_len, err)) < 0)
    return r;
  if ((r = route_add_default(fd, tap, AF_INET, &cfg->host_addr, err)) < 0)
    return r;
  if (cfg->enable_ipv6) {
    struct in6_addr a6, gw6;
    inet_pton(AF_INET6, "fd00::100", &a6);
    inet_pton(AF_INET6, "fd00::2", &gw6);
    if ((r = addr_add(fd, tap, AF_INET6, &a6, 64, err)) < 0)
      return r;
    if ((r = route_add_default(fd, tap, AF_INET6, &gw6, err)) < 0)
      return r;
  }
  return 0;
}
