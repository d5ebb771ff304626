/* Port forwarding without the user-mode TCP stack: accept on the host,
 * connect to the container's port with a socket created inside its network
 * namespace (by the namespace child), and move the bytes between the two
 * kernel sockets with splice() through a pipe per direction. One epoll set,
 * edge-triggered, drives every connection. UDP is relayed the same way, a
 * socket in the namespace per client address (libslirp's own UDP
 * forwarding drops the replies to host-loopback clients when host loopback
 * is disabled). Inside, both come from the client's own address, IPv4 or
 * IPv6, where the namespace's routing allows it (rtnl_source_routing). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "log.h"
#include "nook-net.h"
#include "util.h"

#define PIPE_SIZE (512 * 1024)
#define SPLICE_CHUNK (1 << 20)

#define UDP_FLOW_IDLE_NS (60ULL * 1000000000ULL)
#define UDP_MAX_DATAGRAM 65536

enum ref_kind { REF_LISTENER, REF_CONN, REF_UDP_FLOW };

struct ep_ref {
  enum ref_kind kind;
  int side;
  void *ptr;
};

struct udp_flow {
  struct udp_flow *next;
  struct sockaddr_storage client;
  socklen_t client_len;
  int fd; /* inside the container's namespace, bound to the client's address when it may be */
  struct sockaddr_storage to; /* the container's port */
  socklen_t to_len;
  /* Sent over IPv6 and not answered yet: an ICMP port unreachable means
   * the server listens on IPv4 only, and pending goes again that way. */
  bool v6_unconfirmed;
  uint8_t *pending;
  size_t pending_len;
  unsigned long long last_used;
  struct ep_ref ref;
  struct listener *ls;
};

struct listener {
  bool used;
  int fd;
  struct net_port port;
  struct ep_ref ref;
  struct udp_flow *flows;
  bool reply_rule; /* UDP: the container's replies from the port come back to the flows */
};

struct conn {
  struct conn *prev, *next;
  struct net_port port;          /* what it forwards to */
  struct sockaddr_storage peer; /* the client */
  bool inside_v6; /* connecting over IPv6: refused, it tries IPv4 */
  int fd[2];      /* 0: the host's client, 1: the container's server */
  int pipe[2][2]; /* pipe[d] carries fd[d] -> fd[1 - d] */
  size_t in_pipe[2];
  bool eof[2];  /* fd[d] has no more to read */
  bool shut[2]; /* fd[1 - d] was shut for writing */
  bool connecting;
  bool dead;
  struct ep_ref ref[2];
};

struct portfwd {
  int epfd;
  bool routing_ready; /* the namespace child takes rule requests */
  uint8_t *datagram;
  struct ns_child *child;
  struct listener listeners[NET_MAX_PORTS];
  struct conn *conns;
  struct conn *dead; /* closed during a dispatch, freed after it */
};

int net_bind_host_port(const struct net_port *port, int type, nook_error *err) {
  char ip[INET6_ADDRSTRLEN];
  net_port_host_ip(port, ip, sizeof(ip));
  _cleanup_close_ int fd = socket(port->family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return nook_err(err, errno, "socket for host port %u", port->host_port);
  int one = 1;
  if (type == SOCK_STREAM)
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, (const struct sockaddr *)&port->host_addr, port->host_len) < 0) {
    int e = errno;
    if (e == EADDRINUSE)
      return nook_errx(err, e,
                       "host port %s:%u/%s is already in use: stop what listens there or pick "
                       "another host port",
                       ip, port->host_port, type == SOCK_STREAM ? "tcp" : "udp");
    if (e == EACCES) {
      _cleanup_free_ char *start = NULL;
      nook_error ignore;
      read_file_at(AT_FDCWD, "/proc/sys/net/ipv4/ip_unprivileged_port_start", &start, NULL,
                   &ignore);
      if (start)
        start[strcspn(start, "\n")] = '\0';
      return nook_errx(err, e,
                       "host port %u is below net.ipv4.ip_unprivileged_port_start (%s): use a "
                       "port >= %s, or as root run `sysctl "
                       "net.ipv4.ip_unprivileged_port_start=%u`",
                       port->host_port, start ? start : "1024", start ? start : "1024",
                       port->host_port);
    }
    if (e == EADDRNOTAVAIL)
      return nook_errx(err, e, "host address %s is not an address of this host", ip);
    return nook_err(err, e, "bind host port %s:%u", ip, port->host_port);
  }
  if (type == SOCK_STREAM && listen(fd, 4096) < 0)
    return nook_err(err, errno, "listen on host port %u", port->host_port);
  return steal_fd(&fd);
}

int portfwd_new(struct ns_child *child, struct portfwd **out, nook_error *err) {
  struct portfwd *pf = xcalloc(1, sizeof(*pf));
  pf->child = child;
  pf->datagram = xmalloc(UDP_MAX_DATAGRAM);
  pf->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (pf->epfd < 0) {
    free(pf);
    return nook_err(err, errno, "epoll_create1");
  }
  *out = pf;
  return 0;
}

int portfwd_fd(struct portfwd *pf) { return pf->epfd; }

static void conn_free(struct conn *c) {
  for (int d = 0; d < 2; d++) {
    if (c->fd[d] >= 0)
      close(c->fd[d]);
    for (int i = 0; i < 2; i++)
      if (c->pipe[d][i] >= 0)
        close(c->pipe[d][i]);
  }
  free(c);
}

static void conn_close(struct portfwd *pf, struct conn *c, bool reset) {
  if (c->dead)
    return;
  c->dead = true;
  if (reset) {
    /* The client sees a reset, as it would from a closed port. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd[0], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  for (int d = 0; d < 2; d++)
    if (c->fd[d] >= 0)
      epoll_ctl(pf->epfd, EPOLL_CTL_DEL, c->fd[d], NULL);
  if (c->prev)
    c->prev->next = c->next;
  else
    pf->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->next = pf->dead;
  pf->dead = c;
}

/* Moves what fd[d] has to fd[1 - d]. Returns false when the connection broke. */
static bool pump(struct conn *c, int d) {
  int from = c->fd[d], to = c->fd[1 - d];
  for (;;) {
    if (c->in_pipe[d] > 0) {
      ssize_t n = splice(c->pipe[d][0], NULL, to, NULL, c->in_pipe[d],
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        c->in_pipe[d] -= (size_t)n;
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return true; /* EPOLLOUT on `to` brings us back */
      return false;
    }
    if (c->eof[d]) {
      if (!c->shut[d]) {
        shutdown(to, SHUT_WR);
        c->shut[d] = true;
      }
      return true;
    }
    ssize_t n = splice(from, NULL, c->pipe[d][1], NULL, SPLICE_CHUNK,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      c->in_pipe[d] += (size_t)n;
      continue;
    }
    if (n == 0) {
      c->eof[d] = true;
      continue;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN)
      return true;
    return false;
  }
}

static int conn_retry_ipv4(struct portfwd *pf, struct conn *c);

static void conn_event(struct portfwd *pf, struct conn *c, int side, uint32_t events) {
  if (c->dead)
    return;
  if (c->connecting) {
    if (side != 1)
      return; /* the client waits until the container's side is connected */
    int e = 0;
    socklen_t len = sizeof(e);
    getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &e, &len);
    if (e == EINPROGRESS || (!e && !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))))
      return;
    if (e || (events & EPOLLERR)) {
      nook_debug("port forward: connect to the container failed: %s", strerror(e));
      if (c->inside_v6 && conn_retry_ipv4(pf, c) == 0)
        return;
      conn_close(pf, c, true);
      return;
    }
    c->connecting = false;
  }
  if (!pump(c, 0) || !pump(c, 1)) {
    conn_close(pf, c, true);
    return;
  }
  if (c->shut[0] && c->shut[1])
    conn_close(pf, c, false);
}

static int make_pipe(int p[2]) {
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
    return -errno;
  fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE); /* best effort: per-user pipe limits */
  return 0;
}

/* The client's IPv4 address, from a v4-mapped IPv6 one too. */
static bool client_ipv4(const struct sockaddr_storage *ss, struct sockaddr_in *out) {
  *out = (struct sockaddr_in){.sin_family = AF_INET};
  if (ss->ss_family == AF_INET) {
    *out = *(const struct sockaddr_in *)ss;
    return true;
  }
  const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
  if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
    return false;
  memcpy(&out->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
  out->sin_port = s6->sin6_port;
  return true;
}

/* Connections that never leave this host (loopback, the container's own
 * address) have no path to probe: BBR, a common default, paces them with
 * timers that cost more than the transfer itself. Reno, which every user
 * may choose, does not pace. */
static void local_congestion_control(int fd) {
  static const char reno[] = "reno";
  setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, reno, strlen(reno));
}

static bool is_loopback(const struct sockaddr_storage *ss) {
  const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
  if (ss->ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
    return true;
  struct sockaddr_in a;
  return client_ipv4(ss, &a) && (ntohl(a.sin_addr.s_addr) >> 24) == 127;
}

/* fd00::100, the container's IPv6 address (rtnl.c). */
static const struct in6_addr guest_addr6 = {
    .s6_addr = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00}};

/* How a client reaches the container: over which family, and from which
 * address (keep: the client's own; otherwise the container's). */
struct inside_plan {
  int family;
  bool keep;
  bool loopback;
  struct sockaddr_storage from; /* port 0: the kernel picks one inside */
  socklen_t from_len;
  struct sockaddr_storage to;
  socklen_t to_len;
};

/* A loopback address is local in every namespace; any other needs
 * IP_TRANSPARENT and the rules that bring the replies back: routing (TCP:
 * the mark) and, for UDP, the port's reply rule. An IPv6 client comes as
 * itself only when the container has IPv6 and the namespace's IPv6 routing
 * is ours (a reset to ::1 needs it too, rtnl.c); otherwise, as an IPv4
 * client that cannot be kept, from the container's own address. */
static void plan_inside(const struct portfwd *pf, const struct listener *ls,
                        const struct sockaddr_storage *peer, bool force_v4,
                        struct inside_plan *pl) {
  const struct net_port *port = &ls->port;
  bool routed = port->proto == NET_UDP ? ls->reply_rule : pf->child->source_routing;
  bool routed6 = routed && pf->child->source_routing6;
  *pl = (struct inside_plan){.family = AF_INET, .loopback = is_loopback(peer)};
  struct sockaddr_in v4;
  const struct sockaddr_in6 *p6 = (const struct sockaddr_in6 *)peer;
  if (client_ipv4(peer, &v4)) {
    pl->keep = pl->loopback || routed;
    v4.sin_port = 0;
    memcpy(&pl->from, &v4, sizeof(v4));
    pl->from_len = sizeof(v4);
  } else if (!force_v4 && peer->ss_family == AF_INET6 && port->guest_ipv6 &&
             pf->child->source_routing6 && !IN6_IS_ADDR_LINKLOCAL(&p6->sin6_addr) &&
             (pl->loopback || routed6)) {
    pl->family = AF_INET6;
    pl->keep = true;
    struct sockaddr_in6 from = {.sin6_family = AF_INET6, .sin6_addr = p6->sin6_addr};
    memcpy(&pl->from, &from, sizeof(from));
    pl->from_len = sizeof(from);
    struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_addr = guest_addr6,
                              .sin6_port = htons(port->guest_port)};
    memcpy(&pl->to, &to, sizeof(to));
    pl->to_len = sizeof(to);
    return;
  } else {
    pl->loopback = false;
  }
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr = port->guest_addr,
                           .sin_port = htons(port->guest_port)};
  memcpy(&pl->to, &to, sizeof(to));
  pl->to_len = sizeof(to);
}

/* A socket inside the namespace, bound to the client's address when the
 * plan keeps it and that works (pl->keep is cleared when it does not). */
static int open_inside(struct portfwd *pf, struct inside_plan *pl, int type, nook_error *err) {
  for (;;) {
    bool transparent = false;
    _cleanup_close_ int fd =
        pl->keep ? ns_child_connector(pf->child, pl->family, type | SOCK_NONBLOCK, &transparent,
                                      err)
                 : ns_child_socket(pf->child, pl->family, type | SOCK_NONBLOCK, err);
    if (fd < 0)
      return fd;
    if (!pl->keep)
      return steal_fd(&fd);
    int one = 1;
    if (type == SOCK_STREAM)
      setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    if ((transparent || pl->loopback) && bind(fd, (struct sockaddr *)&pl->from, pl->from_len) == 0)
      return steal_fd(&fd);
    if (pl->family == AF_INET6)
      return nook_errx(err, EADDRNOTAVAIL, "bind to the client's IPv6 address");
    pl->keep = false;
  }
}

/* Connects to the container's port from a socket inside its namespace.
 * The socket takes the client's address, so the server sees who connected
 * (plan_inside). The port is the kernel's choice among its ephemeral ones,
 * as for any connection the container makes: the client's own port could
 * be one a server in the container wants to bind later. When the address
 * cannot be had, the connection comes from the container's own address. */
static int connect_inside(struct portfwd *pf, struct conn *c, bool force_v4, nook_error *err) {
  struct listener ls = {.port = c->port};
  struct inside_plan pl;
  plan_inside(pf, &ls, &c->peer, force_v4, &pl);
  for (;;) {
    _cleanup_close_ int fd = open_inside(pf, &pl, SOCK_STREAM, err);
    if (fd < 0 && pl.family == AF_INET6) {
      plan_inside(pf, &ls, &c->peer, true, &pl);
      continue;
    }
    if (fd < 0)
      return fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    local_congestion_control(fd);
    if (connect(fd, (struct sockaddr *)&pl.to, pl.to_len) < 0 && errno != EINPROGRESS) {
      if (pl.family == AF_INET6) {
        plan_inside(pf, &ls, &c->peer, true, &pl);
        continue;
      }
      if (pl.keep) {
        pl.keep = false;
        continue;
      }
      return nook_err(err, errno, "connect to the container's port %u", c->port.guest_port);
    }
    c->inside_v6 = pl.family == AF_INET6;
    return steal_fd(&fd);
  }
}

static void conn_watch(struct portfwd *pf, struct conn *c, int d) {
  c->ref[d] = (struct ep_ref){.kind = REF_CONN, .side = d, .ptr = c};
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                           .data.ptr = &c->ref[d]};
  epoll_ctl(pf->epfd, EPOLL_CTL_ADD, c->fd[d], &ev);
}

/* The server listens on IPv4 only: the IPv6 client comes from the
 * container's address instead. */
static int conn_retry_ipv4(struct portfwd *pf, struct conn *c) {
  nook_error err;
  nook_err_clear(&err);
  epoll_ctl(pf->epfd, EPOLL_CTL_DEL, c->fd[1], NULL);
  close(c->fd[1]);
  c->fd[1] = connect_inside(pf, c, true, &err);
  if (c->fd[1] < 0)
    return c->fd[1];
  conn_watch(pf, c, 1);
  return 0;
}

static void accept_one(struct portfwd *pf, struct listener *ls, int client,
                       const struct sockaddr_storage *peer) {
  nook_error err;
  nook_err_clear(&err);
  struct conn *c = xcalloc(1, sizeof(*c));
  c->fd[0] = client;
  c->fd[1] = -1;
  c->port = ls->port;
  c->peer = *peer;
  for (int d = 0; d < 2; d++)
    c->pipe[d][0] = c->pipe[d][1] = -1;
  int one = 1;
  setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (is_loopback(peer))
    local_congestion_control(client);
  c->fd[1] = connect_inside(pf, c, false, &err);
  if (c->fd[1] < 0 || make_pipe(c->pipe[0]) < 0 || make_pipe(c->pipe[1]) < 0) {
    nook_warn("port forward: %s", c->fd[1] < 0 ? err.msg : "pipe2 failed");
    conn_free(c);
    return;
  }
  c->connecting = true;
  for (int d = 0; d < 2; d++)
    conn_watch(pf, c, d);
  c->next = pf->conns;
  if (pf->conns)
    pf->conns->prev = c;
  pf->conns = c;
}

static void listener_event(struct portfwd *pf, struct listener *ls) {
  for (;;) {
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    int fd = accept4(ls->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      return;
    accept_one(pf, ls, fd, &peer);
  }
}

static void udp_flow_free(struct portfwd *pf, struct udp_flow *f) {
  epoll_ctl(pf->epfd, EPOLL_CTL_DEL, f->fd, NULL);
  close(f->fd);
  free(f->pending);
  free(f);
}

/* Flows nobody used for a while go, so a long-running container does not
 * collect one socket per client it ever had. */
static void udp_expire(struct portfwd *pf, struct listener *ls, unsigned long long now) {
  for (struct udp_flow **p = &ls->flows; *p;) {
    struct udp_flow *f = *p;
    if (now - f->last_used > UDP_FLOW_IDLE_NS) {
      *p = f->next;
      udp_flow_free(pf, f);
    } else {
      p = &f->next;
    }
  }
}

/* The flow's socket inside: bound to the client's address (the server sees
 * the datagrams come from it; what it sends back from the port is routed
 * to this socket by the port's reply rule), not connected, since a server
 * bound to a wildcard address answers from whichever address the route
 * gives. */
static int udp_flow_open(struct portfwd *pf, struct udp_flow *f, bool force_v4) {
  nook_error err;
  nook_err_clear(&err);
  struct inside_plan pl;
  plan_inside(pf, f->ls, &f->client, force_v4, &pl);
  int fd = open_inside(pf, &pl, SOCK_DGRAM, &err);
  if (fd < 0 && pl.family == AF_INET6) {
    plan_inside(pf, f->ls, &f->client, true, &pl);
    fd = open_inside(pf, &pl, SOCK_DGRAM, &err);
  }
  if (fd < 0) {
    nook_warn("port forward: %s", err.msg);
    return fd;
  }
  int one = 1;
  f->v6_unconfirmed = pl.family == AF_INET6 &&
                      setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &one, sizeof(one)) == 0;
  f->fd = fd;
  f->to = pl.to;
  f->to_len = pl.to_len;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &f->ref};
  epoll_ctl(pf->epfd, EPOLL_CTL_ADD, fd, &ev);
  return 0;
}

static struct udp_flow *udp_flow_for(struct portfwd *pf, struct listener *ls,
                                     const struct sockaddr_storage *from, socklen_t len) {
  for (struct udp_flow *f = ls->flows; f; f = f->next)
    if (f->client_len == len && memcmp(&f->client, from, len) == 0)
      return f;
  struct udp_flow *f = xcalloc(1, sizeof(*f));
  memcpy(&f->client, from, len);
  f->client_len = len;
  f->ls = ls;
  f->ref = (struct ep_ref){.kind = REF_UDP_FLOW, .ptr = f};
  if (udp_flow_open(pf, f, false) < 0) {
    free(f);
    return NULL;
  }
  f->next = ls->flows;
  ls->flows = f;
  return f;
}

static void udp_send_inside(struct udp_flow *f, const uint8_t *data, size_t len) {
  sendto(f->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&f->to, f->to_len);
  if (f->v6_unconfirmed) {
    f->pending = xrealloc(f->pending, len ? len : 1);
    memcpy(f->pending, data, len);
    f->pending_len = len;
  }
}

static void udp_listener_event(struct portfwd *pf, struct listener *ls) {
  unsigned long long now = now_ns();
  for (int i = 0; i < 64; i++) {
    struct sockaddr_storage from;
    socklen_t len = sizeof(from);
    ssize_t n = recvfrom(ls->fd, pf->datagram, UDP_MAX_DATAGRAM, MSG_DONTWAIT,
                         (struct sockaddr *)&from, &len);
    if (n < 0)
      return;
    struct udp_flow *f = udp_flow_for(pf, ls, &from, len);
    if (!f)
      continue;
    f->last_used = now;
    udp_send_inside(f, pf->datagram, (size_t)n);
  }
}

/* An error queued on an IPv6 flow's socket: before any answer, the port is
 * unreachable over IPv6, and the flow moves to IPv4 with what it sent. */
static void udp_flow_error(struct portfwd *pf, struct udp_flow *f) {
  bool refused = false;
  for (;;) {
    union {
      char buf[512];
      struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = pf->datagram, .iov_len = UDP_MAX_DATAGRAM};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                        .msg_controllen = sizeof(ctl.buf)};
    if (recvmsg(f->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
      break;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
      struct sock_extended_err ee;
      if (c->cmsg_level != SOL_IPV6 || c->cmsg_type != IPV6_RECVERR)
        continue;
      memcpy(&ee, CMSG_DATA(c), sizeof(ee));
      refused |= ee.ee_errno == ECONNREFUSED;
    }
  }
  if (!f->v6_unconfirmed || !refused)
    return;
  nook_debug("port forward: UDP port %u unreachable over IPv6, trying IPv4",
             f->ls->port.guest_port);
  epoll_ctl(pf->epfd, EPOLL_CTL_DEL, f->fd, NULL);
  close(f->fd);
  f->fd = -1;
  f->v6_unconfirmed = false;
  if (udp_flow_open(pf, f, true) < 0) {
    /* Left with no socket: the next datagram's flow lookup finds a dead
     * one, so drop it now. */
    for (struct udp_flow **p = &f->ls->flows; *p; p = &(*p)->next)
      if (*p == f) {
        *p = f->next;
        break;
      }
    free(f->pending);
    free(f);
    return;
  }
  udp_send_inside(f, f->pending, f->pending_len);
}

static void udp_flow_event(struct portfwd *pf, struct udp_flow *f, uint32_t events) {
  if (events & EPOLLERR) {
    udp_flow_error(pf, f);
    return;
  }
  uint16_t port = htons(f->ls->port.guest_port);
  for (int i = 0; i < 64; i++) {
    struct sockaddr_storage from;
    socklen_t len = sizeof(from);
    ssize_t n = recvfrom(f->fd, pf->datagram, UDP_MAX_DATAGRAM, MSG_DONTWAIT,
                         (struct sockaddr *)&from, &len);
    if (n < 0)
      return;
    /* Only the forwarded port answers a client (the socket is not
     * connected: a wildcard-bound server's source address varies). */
    in_port_t sport = from.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&from)->sin6_port
                                                 : ((struct sockaddr_in *)&from)->sin_port;
    if (sport != port)
      continue;
    if (f->v6_unconfirmed) {
      f->v6_unconfirmed = false;
      free(f->pending);
      f->pending = NULL;
    }
    f->last_used = now_ns();
    sendto(f->ls->fd, pf->datagram, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&f->client,
           f->client_len);
  }
}

void portfwd_dispatch(struct portfwd *pf) {
  struct epoll_event evs[64];
  struct listener *udp_listeners[ARRAY_SIZE(evs)];
  int n_udp = 0;
  int n = epoll_wait(pf->epfd, evs, ARRAY_SIZE(evs), 0);
  for (int i = 0; i < n; i++) {
    struct ep_ref *ref = evs[i].data.ptr;
    if (ref->kind == REF_LISTENER) {
      struct listener *ls = ref->ptr;
      if (ls->port.proto == NET_UDP) {
        udp_listener_event(pf, ls);
        udp_listeners[n_udp++] = ls;
      } else
        listener_event(pf, ls);
    } else if (ref->kind == REF_UDP_FLOW)
      udp_flow_event(pf, ref->ptr, evs[i].events);
    else
      conn_event(pf, ref->ptr, ref->side, evs[i].events);
  }
  while (pf->dead) {
    struct conn *c = pf->dead;
    pf->dead = c->next;
    conn_free(c);
  }
  /* After the batch: an idle flow freed earlier could still have had an
   * event of its own in it. */
  for (int i = 0; i < n_udp; i++)
    udp_expire(pf, udp_listeners[i], now_ns());
}

/* Another UDP listener forwards to the same container port (the rule is
 * the port's, not the listener's). */
static bool udp_port_shared(const struct portfwd *pf, const struct listener *ls) {
  for (int i = 0; i < NET_MAX_PORTS; i++) {
    const struct listener *o = &pf->listeners[i];
    if (o != ls && o->used && o->port.proto == NET_UDP &&
        o->port.guest_port == ls->port.guest_port)
      return true;
  }
  return false;
}

static void udp_reply_rule(struct portfwd *pf, struct listener *ls) {
  if (!pf->routing_ready || !pf->child->source_routing || ls->port.proto != NET_UDP)
    return;
  nook_error err;
  nook_err_clear(&err);
  ls->reply_rule = ns_child_udp_rule(pf->child, true, ls->port.guest_port, &err) == 0;
  if (!ls->reply_rule)
    nook_debug("UDP port %u: clients come from the container's address: %s",
               ls->port.guest_port, err.msg);
}

void portfwd_routing_ready(struct portfwd *pf) {
  pf->routing_ready = true;
  for (int i = 0; i < NET_MAX_PORTS; i++)
    if (pf->listeners[i].used)
      udp_reply_rule(pf, &pf->listeners[i]);
}

int portfwd_add(struct portfwd *pf, const struct net_port *port, int *id, nook_error *err) {
  int slot = -1;
  for (int i = 0; i < NET_MAX_PORTS; i++)
    if (!pf->listeners[i].used) {
      slot = i;
      break;
    }
  if (slot < 0)
    return nook_errx(err, ENOSPC, "too many forwarded ports");
  int fd = net_bind_host_port(port, port->proto == NET_UDP ? SOCK_DGRAM : SOCK_STREAM, err);
  if (fd < 0)
    return fd;
  struct listener *ls = &pf->listeners[slot];
  *ls = (struct listener){.used = true, .fd = fd, .port = *port};
  ls->ref = (struct ep_ref){.kind = REF_LISTENER, .ptr = ls};
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &ls->ref};
  if (epoll_ctl(pf->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    close(fd);
    ls->used = false;
    return nook_err(err, errno, "epoll_ctl");
  }
  udp_reply_rule(pf, ls);
  *id = slot;
  return 0;
}

int portfwd_remove(struct portfwd *pf, int id) {
  if (id < 0 || id >= NET_MAX_PORTS || !pf->listeners[id].used)
    return -ENOENT;
  struct listener *ls = &pf->listeners[id];
  while (ls->flows) {
    struct udp_flow *f = ls->flows;
    ls->flows = f->next;
    udp_flow_free(pf, f);
  }
  epoll_ctl(pf->epfd, EPOLL_CTL_DEL, ls->fd, NULL);
  close(ls->fd);
  if (ls->reply_rule && !udp_port_shared(pf, ls)) {
    nook_error ignore;
    ns_child_udp_rule(pf->child, false, ls->port.guest_port, &ignore);
  }
  ls->used = false;
  return 0;
}

void portfwd_free(struct portfwd *pf) {
  while (pf->conns)
    conn_close(pf, pf->conns, false);
  while (pf->dead) {
    struct conn *c = pf->dead;
    pf->dead = c->next;
    conn_free(c);
  }
  for (int i = 0; i < NET_MAX_PORTS; i++)
    portfwd_remove(pf, i);
  close(pf->epfd);
  free(pf->datagram);
  free(pf);
}
