/* The helper's child inside the container: an unprivileged process cannot
 * come back to the host's user namespace once it joined the container's, so
 * a child joins (user namespace first, then network) and stays there. It
 * creates the tap device, and later the sockets the port forwarder connects
 * to the container with: a socket keeps the namespace it was created in, so
 * the host side can use it directly. */
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/nsfs.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "log.h"
#include "nook-net.h"
#include "util.h"

enum { NS_REQ_CONNECTOR = 1, NS_REQ_UDP_RULE_ADD = 2, NS_REQ_UDP_RULE_DEL = 4 };
enum { NS_REPLY_TRANSPARENT = 1, NS_REPLY_SOURCE_ROUTING = 2, NS_REPLY_SOURCE_ROUTING6 = 4 };

struct ns_request {
  int32_t family;
  int32_t type; /* the UDP rule requests: the port */
  int32_t flags;
};

struct ns_reply {
  int32_t error; /* positive errno, 0 with an fd attached */
  int32_t flags;
  char msg[512];
};

static int send_reply(int sock, int error, int flags, const char *msg, int fd) {
  struct ns_reply r = {.error = error, .flags = flags};
  if (msg)
    snprintf(r.msg, sizeof(r.msg), "%s", msg);
  struct iovec iov = {.iov_base = &r, .iov_len = sizeof(r)};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
  if (fd >= 0) {
    mh.msg_control = u.buf;
    mh.msg_controllen = sizeof(u.buf);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* fd NULL: a reply that carries no fd. */
static int recv_reply(int sock, int *fd, int *flags, nook_error *err) {
  struct ns_reply r;
  struct iovec iov = {.iov_base = &r, .iov_len = sizeof(r)};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                      .msg_controllen = sizeof(u.buf)};
  ssize_t n;
  do
    n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return nook_err(err, errno, "read from the namespace helper");
  if (n != sizeof(r))
    return nook_errx(err, EPIPE, "the namespace helper ended unexpectedly");
  int got = -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  if (c && c->cmsg_type == SCM_RIGHTS)
    memcpy(&got, CMSG_DATA(c), sizeof(int));
  *flags = r.flags;
  if (r.error || !fd) {
    if (got >= 0)
      close(got);
    r.msg[sizeof(r.msg) - 1] = '\0';
    return r.error ? nook_errx(err, r.error, "%s", r.msg) : 0;
  }
  if (got < 0)
    return nook_errx(err, EPROTO, "the namespace helper sent no file descriptor");
  *fd = got;
  return 0;
}

static bool same_ns(int fd, const char *self_path) {
  struct stat a, b;
  return fstat(fd, &a) == 0 && stat(self_path, &b) == 0 && a.st_ino == b.st_ino &&
         a.st_dev == b.st_dev;
}

static int open_tap(const char *name, bool own_netns, nook_error *err) {
  _cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT)
      return nook_err(err, errno, "open /dev/net/tun (load the tun module: `modprobe tun`)");
    if (errno == EACCES || errno == EPERM)
      return nook_err(err, errno,
                      "open /dev/net/tun (give users access to it: `chmod 0666 /dev/net/tun`)");
    return nook_err(err, errno, "open /dev/net/tun");
  }
  struct ifreq ifr = {0};
  /* A virtio-net header on each frame lets the kernel hand us unsegmented,
   * unchecksummed TCP (see loop.c): one read per 64 KiB at any MTU. */
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0)
    return nook_err(err, errno, "create tap device `%s` in the container's network namespace",
                    name);
  /* Removing a tap when its last fd closes waits for an RCU barrier (10-20
   * ms here), and the runtime waits for our exit. A namespace that ends
   * with the container takes a persistent tap with it, in the kernel's
   * own time. */
  if (own_netns && ioctl(fd, TUNSETPERSIST, 1) < 0)
    return nook_err(err, errno, "make tap device `%s` end with its network namespace", name);
  return steal_fd(&fd);
}

/* A connector may take any address (the client's), and carries the mark
 * that routes what answers it back to it. */
static bool make_transparent(int fd, int family) {
  int one = 1, mark = (int)NET_FWD_MARK;
  bool v6 = family == AF_INET6;
  if (setsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_TRANSPARENT : IP_TRANSPARENT, &one,
                 sizeof(one)) < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0)
    return false;
  setsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_FREEBIND : IP_FREEBIND, &one, sizeof(one));
  return true;
}

/* rtnl: the netlink socket opened before the sandbox (-1: no source
 * routing, so no UDP port rules). */
__attribute__((noreturn)) static void serve_sockets(int sock, int rtnl, bool ipv6) {
  for (;;) {
    struct ns_request req;
    ssize_t n = recv(sock, &req, sizeof(req), 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n != sizeof(req))
      _exit(0); /* the helper went away */
    if (req.flags & (NS_REQ_UDP_RULE_ADD | NS_REQ_UDP_RULE_DEL)) {
      nook_error err;
      nook_err_clear(&err);
      int r = rtnl < 0 ? nook_errx(&err, EOPNOTSUPP, "no source routing")
                       : rtnl_udp_port_rule(rtnl, req.flags & NS_REQ_UDP_RULE_ADD,
                                            (uint16_t)req.type, ipv6, &err);
      send_reply(sock, r < 0 ? -r : 0, 0, r < 0 ? err.msg : NULL, -1);
      continue;
    }
    int fd = socket(req.family, req.type | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      send_reply(sock, errno, 0, "create a socket in the container's network namespace", -1);
      continue;
    }
    int reply_flags = 0;
    if ((req.flags & NS_REQ_CONNECTOR) && make_transparent(fd, req.family))
      reply_flags |= NS_REPLY_TRANSPARENT;
    send_reply(sock, 0, reply_flags, NULL, fd);
    close(fd);
  }
}

__attribute__((noreturn)) static void child_fail(int sock, const nook_error *err) {
  send_reply(sock, err->code ? err->code : EINVAL, 0, err->msg, -1);
  _exit(1);
}

/* Joins the namespaces and makes the tap: its fd, flags for the reply, the
 * netlink socket that adds UDP port rules later (-1: none). */
static int child_attach(const struct net_config *cfg, int userns_fd, int netns_fd, int *flags,
                        int *rtnl, nook_error *err) {
  if (userns_fd >= 0 && setns(userns_fd, CLONE_NEWUSER) < 0)
    return nook_err(err, errno, "join the container's user namespace");
  if (setns(netns_fd, CLONE_NEWNET) < 0)
    return nook_err(err, errno, "join the container's network namespace");
  close(netns_fd);
  if (userns_fd >= 0)
    close(userns_fd);
  _cleanup_close_ int tap = open_tap(cfg->tapname, cfg->own_netns, err);
  if (tap < 0)
    return tap;
  int r;
  if (cfg->configure && (r = rtnl_configure(cfg->tapname, cfg->mtu, cfg, err)) < 0)
    return r;
  *flags = 0;
  if (cfg->configure) {
    nook_error why;
    nook_err_clear(&why);
    bool ipv6 = false;
    if (rtnl_source_routing(cfg->tapname, rtnl, &ipv6, &why) == 0)
      *flags |= NS_REPLY_SOURCE_ROUTING |
                (ipv6 && cfg->enable_ipv6 ? NS_REPLY_SOURCE_ROUTING6 : 0);
    else
      nook_debug("forwarded ports show clients at their own address only from loopback: %s",
                 why.msg);
  }
  return steal_fd(&tap);
}

/* Runs in the child: never returns. It attaches when asked, replies with
 * the tap, then sandboxes itself while the helper sets up its loop, and
 * says how that went. */
__attribute__((noreturn)) static void child_main(const struct net_config *cfg, int sock,
                                                 int userns_fd, int netns_fd) {
  nook_error err;
  nook_err_clear(&err);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1)
    _exit(1);
  /* Only the helper answers on these: a copy here would keep a reader of
   * the ready fd waiting for its end. */
  if (cfg->ready_fd >= 0)
    close(cfg->ready_fd);
  if (cfg->exit_fd >= 0)
    close(cfg->exit_fd);
  if (cfg->wait_fd >= 0)
    close(cfg->wait_fd);

  struct ns_request req;
  ssize_t n;
  do
    n = recv(sock, &req, sizeof(req), 0);
  while (n < 0 && errno == EINTR);
  if (n != sizeof(req))
    _exit(0); /* the helper gave up before attaching */
  int flags = 0, rtnl = -1;
  int tap = child_attach(cfg, userns_fd, netns_fd, &flags, &rtnl, &err);
  if (tap < 0)
    child_fail(sock, &err);
  if (send_reply(sock, 0, flags, NULL, tap) < 0)
    _exit(1);
  close(tap);
  /* CAP_NET_ADMIN in the container's user namespace stays: the connector
   * sockets need it for IP_TRANSPARENT and SO_MARK. */
  if ((cfg->sandbox && sandbox_enter(NULL, true, &err) < 0) ||
      (cfg->seccomp && sandbox_seccomp(&err) < 0))
    child_fail(sock, &err);
  if (send_reply(sock, 0, 0, NULL, -1) < 0)
    _exit(1);
  serve_sockets(sock, rtnl, flags & NS_REPLY_SOURCE_ROUTING6);
}

static int open_target_netns(const struct net_config *cfg, nook_error *err) {
  if (cfg->netns_fd >= 0) {
    /* Opened by the runtime before the container's init changed its ids:
     * /proc/PID/ns may no longer be ours to open. */
    if (ioctl(cfg->netns_fd, NS_GET_NSTYPE) != CLONE_NEWNET)
      return nook_errx(err, EBADF, "--netns-fd %d is not an open network namespace",
                       cfg->netns_fd);
    fcntl(cfg->netns_fd, F_SETFD, FD_CLOEXEC);
    return cfg->netns_fd;
  }
  if (cfg->netns_path) {
    int fd = open(cfg->netns_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return nook_err(err, errno, "open network namespace `%s`", cfg->netns_path);
    return fd;
  }
  _cleanup_free_ char *path = xasprintf("/proc/%d/ns/net", (int)cfg->pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return nook_errx(err, ESRCH,
                       "the container's process %d is gone: its network namespace vanished",
                       (int)cfg->pid);
    return nook_err(err, errno, "open %s", path);
  }
  return fd;
}

static int open_target_userns(const struct net_config *cfg, int netns_fd, nook_error *err) {
  int fd;
  if (cfg->userns_path) {
    fd = open(cfg->userns_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return nook_err(err, errno, "open user namespace `%s`", cfg->userns_path);
  } else {
    /* The namespace that owns the netns is the one whose capabilities
     * configure it. EPERM: it is an ancestor of ours, nothing to join. */
    fd = ioctl(netns_fd, NS_GET_USERNS);
    if (fd < 0)
      return errno == EPERM ? -1 : nook_err(err, errno, "find the network namespace's owner");
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  if (same_ns(fd, "/proc/self/ns/user")) {
    close(fd);
    return -1;
  }
  return fd;
}

int ns_child_start(const struct net_config *cfg, struct ns_child *child, nook_error *err) {
  _cleanup_close_ int netns_fd = open_target_netns(cfg, err);
  if (netns_fd < 0)
    return netns_fd;
  nook_err_clear(err);
  _cleanup_close_ int userns_fd = open_target_userns(cfg, netns_fd, err);
  if (userns_fd < 0 && err->code)
    return -err->code;

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return nook_err(err, errno, "socketpair");
  pid_t pid = fork();
  if (pid < 0) {
    close(sv[0]);
    close(sv[1]);
    return nook_err(err, errno, "fork");
  }
  if (pid == 0) {
    close(sv[0]);
    child_main(cfg, sv[1], userns_fd, netns_fd);
  }
  close(sv[1]);
  child->pid = pid;
  child->sock = sv[0];
  return 0;
}

int ns_child_attach(struct ns_child *child, int *tap_fd, nook_error *err) {
  struct ns_request req = {.family = AF_UNSPEC};
  if (send(child->sock, &req, sizeof(req), MSG_NOSIGNAL) < 0)
    return nook_err(err, errno, "start the namespace helper");
  int flags = 0;
  int r = recv_reply(child->sock, tap_fd, &flags, err);
  if (r == 0) {
    child->source_routing = flags & NS_REPLY_SOURCE_ROUTING;
    child->source_routing6 = flags & NS_REPLY_SOURCE_ROUTING6;
  }
  return r;
}

int ns_child_sandboxed(struct ns_child *child, nook_error *err) {
  int flags;
  return recv_reply(child->sock, NULL, &flags, err);
}

static int request_socket(struct ns_child *child, int family, int type, int req_flags,
                          int *reply_flags, nook_error *err) {
  struct ns_request req = {.family = family, .type = type, .flags = req_flags};
  if (send(child->sock, &req, sizeof(req), MSG_NOSIGNAL) < 0)
    return nook_err(err, errno, "ask the namespace helper for a socket");
  int fd;
  int r = recv_reply(child->sock, &fd, reply_flags, err);
  return r < 0 ? r : fd;
}

int ns_child_socket(struct ns_child *child, int family, int type, nook_error *err) {
  int flags;
  return request_socket(child, family, type, 0, &flags, err);
}

int ns_child_connector(struct ns_child *child, int family, int type, bool *transparent,
                       nook_error *err) {
  int flags = 0;
  int fd = request_socket(child, family, type, NS_REQ_CONNECTOR, &flags, err);
  *transparent = flags & NS_REPLY_TRANSPARENT;
  return fd;
}

int ns_child_udp_rule(struct ns_child *child, bool add, uint16_t port, nook_error *err) {
  struct ns_request req = {.type = port,
                           .flags = add ? NS_REQ_UDP_RULE_ADD : NS_REQ_UDP_RULE_DEL};
  if (send(child->sock, &req, sizeof(req), MSG_NOSIGNAL) < 0)
    return nook_err(err, errno, "ask the namespace helper for a routing rule");
  int flags;
  return recv_reply(child->sock, NULL, &flags, err);
}

void ns_child_stop(struct ns_child *child) {
  if (child->sock >= 0)
    close(child->sock);
  child->sock = -1;
  if (child->pid > 0) {
    kill(child->pid, SIGKILL);
    while (waitpid(child->pid, NULL, 0) < 0 && errno == EINTR)
      ;
  }
  child->pid = 0;
}
