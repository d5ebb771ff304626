/* libslirp driven by one poll() loop: the tap is read in batches (one wake-up
 * moves many frames into slirp), slirp's own sockets and timers share the
 * same poll, and the port forwarder's epoll fd is one more entry. */
#include <arpa/inet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <signal.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "nook-net.h"
#include "util.h"

#define TAP_BATCH 128
/* libslirp's TCP has no window scaling: 64 KiB in flight at most, and Linux
 * cuts its MSS to half of that (32767). At that MSS two segments do not fit
 * in one 64 KiB TSO frame, so the container sends every 32 KiB alone and
 * slirp answers each with an ACK. Offering an MSS that fits twice (slirp
 * offers its MTU - 40) lets the container send the whole window as one
 * frame: half the frames, ACKs and host writes per byte. */
#define SLIRP_MTU_MAX 32640
#define VNET_HDR_LEN sizeof(struct virtio_net_hdr)
#define FRAME_MAX (VNET_HDR_LEN + 14 + 65536 + 256)

struct net_timer {
  struct net_timer *next;
  bool armed;
  int64_t expire_ms;
  bool opaque_api; /* slirp_handle_timer (v4) rather than a callback */
  SlirpTimerId id;
  SlirpTimerCb cb;
  void *cb_opaque;
};

struct loop_port {
  bool used;
  struct net_port port;
  int fwd_id;
};

struct net_loop {
  const struct net_config *cfg;
  Slirp *slirp;
  int tap_fd;
  struct portfwd *pf;
  struct net_timer *timers;
  struct pollfd *pfds;
  size_t n_pfds, cap_pfds;
  struct loop_port ports[NET_MAX_PORTS];
  uint8_t *frame;
};

enum { PFD_TAP, PFD_PORTFWD, PFD_API, PFD_PIDFD, PFD_EXIT, PFD_SIGNAL, PFD_FIXED };

static int64_t clock_ms(void) { return (int64_t)(now_ns() / 1000000ULL); }

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque) {
  struct net_loop *l = opaque;
  static const struct virtio_net_hdr none; /* a complete, checksummed frame */
  struct iovec iov[2] = {{.iov_base = (void *)&none, .iov_len = VNET_HDR_LEN},
                         {.iov_base = (void *)buf, .iov_len = len}};
  ssize_t n = writev(l->tap_fd, iov, 2);
  if (n < 0 && errno != EAGAIN && errno != EINTR && errno != ENOBUFS)
    return -errno;
  /* A frame the tap cannot take now is dropped: TCP resends it. */
  return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque) {
  nook_debug("slirp: guest error: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque) { return (int64_t)now_ns(); }

static void *timer_alloc(struct net_loop *l) {
  struct net_timer *t = xcalloc(1, sizeof(*t));
  t->next = l->timers;
  l->timers = t;
  return t;
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque) {
  struct net_timer *t = timer_alloc(opaque);
  t->cb = cb;
  t->cb_opaque = cb_opaque;
  return t;
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque) {
  struct net_timer *t = timer_alloc(opaque);
  t->opaque_api = true;
  t->id = id;
  t->cb_opaque = cb_opaque;
  return t;
}

static void cb_timer_free(void *timer, void *opaque) {
  struct net_loop *l = opaque;
  for (struct net_timer **p = &l->timers; *p; p = &(*p)->next) {
    if (*p == timer) {
      *p = ((struct net_timer *)timer)->next;
      free(timer);
      return;
    }
  }
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque) {
  struct net_timer *t = timer;
  t->armed = true;
  t->expire_ms = expire_ms;
}

static void cb_register_poll_fd(int fd, void *opaque) {}
static void cb_unregister_poll_fd(int fd, void *opaque) {}
static void cb_notify(void *opaque) {}

static const SlirpCb slirp_callbacks = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_unregister_poll_fd,
    .notify = cb_notify,
    .timer_new_opaque = cb_timer_new_opaque,
};

static int pfd_push(struct net_loop *l, int fd, short events) {
  if (l->n_pfds == l->cap_pfds) {
    l->cap_pfds = l->cap_pfds ? l->cap_pfds * 2 : 64;
    l->pfds = xrealloc(l->pfds, l->cap_pfds * sizeof(*l->pfds));
  }
  l->pfds[l->n_pfds] = (struct pollfd){.fd = fd, .events = events};
  return (int)l->n_pfds++;
}

static int cb_add_poll(int fd, int events, void *opaque) {
  short ev = 0;
  if (events & SLIRP_POLL_IN)
    ev |= POLLIN;
  if (events & SLIRP_POLL_OUT)
    ev |= POLLOUT;
  if (events & SLIRP_POLL_PRI)
    ev |= POLLPRI;
  return pfd_push(opaque, fd, ev);
}

static int cb_get_revents(int idx, void *opaque) {
  struct net_loop *l = opaque;
  short rev = l->pfds[idx].revents;
  int r = 0;
  if (rev & POLLIN)
    r |= SLIRP_POLL_IN;
  if (rev & POLLOUT)
    r |= SLIRP_POLL_OUT;
  if (rev & POLLPRI)
    r |= SLIRP_POLL_PRI;
  if (rev & POLLERR)
    r |= SLIRP_POLL_ERR;
  if (rev & POLLHUP)
    r |= SLIRP_POLL_HUP;
  return r;
}

int net_loop_new(const struct net_config *cfg, int tap_fd, struct ns_child *child,
                 struct net_loop **out, nook_error *err) {
  struct net_loop *l = xcalloc(1, sizeof(*l));
  l->cfg = cfg;
  l->tap_fd = tap_fd;
  l->frame = xmalloc(FRAME_MAX);
  /* Best effort: without offloads the frames simply come complete. */
  ioctl(tap_fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);

  SlirpConfig sc = {0};
  sc.version = 4;
  sc.in_enabled = true;
  sc.vnetwork = cfg->network;
  sc.vnetmask.s_addr = htonl(cfg->prefix_len ? ~0U << (32 - cfg->prefix_len) : 0);
  sc.vhost = cfg->host_addr;
  sc.vnameserver = cfg->dns_addr;
  sc.vdhcp_start = cfg->guest_addr;
  sc.in6_enabled = cfg->enable_ipv6;
  inet_pton(AF_INET6, "fd00::", &sc.vprefix_addr6);
  sc.vprefix_len = 64;
  inet_pton(AF_INET6, "fd00::2", &sc.vhost6);
  inet_pton(AF_INET6, "fd00::3", &sc.vnameserver6);
  sc.if_mtu = cfg->mtu < SLIRP_MTU_MAX ? cfg->mtu : SLIRP_MTU_MAX;
  sc.if_mru = cfg->mtu;
  sc.disable_host_loopback = cfg->disable_host_loopback;
  sc.outbound_addr = cfg->has_outbound_addr ? (struct sockaddr_in *)&cfg->outbound_addr : NULL;
  sc.outbound_addr6 =
      cfg->has_outbound_addr6 ? (struct sockaddr_in6 *)&cfg->outbound_addr6 : NULL;
  sc.disable_dns = cfg->disable_dns;
  sc.disable_dhcp = false;
  l->slirp = slirp_new(&sc, &slirp_callbacks, l);
  if (!l->slirp) {
    net_loop_free(l);
    return nook_errx(err, EINVAL, "libslirp refused the network configuration (check --cidr "
                                  "and --mtu: the MTU must be between 68 and 65521)");
  }
  int r = portfwd_new(child, &l->pf, err);
  if (r < 0) {
    net_loop_free(l);
    return r;
  }
  *out = l;
  return 0;
}

void net_loop_free(struct net_loop *l) {
  if (!l)
    return;
  if (l->slirp)
    slirp_cleanup(l->slirp);
  while (l->timers) {
    struct net_timer *t = l->timers;
    l->timers = t->next;
    free(t);
  }
  if (l->pf)
    portfwd_free(l->pf);
  free(l->pfds);
  free(l->frame);
  free(l);
}

void net_loop_child_ready(struct net_loop *l) { portfwd_routing_ready(l->pf); }

int net_loop_add_port(struct net_loop *l, const struct net_port *port, int *id, nook_error *err) {
  int slot = -1;
  for (int i = 0; i < NET_MAX_PORTS; i++) {
    if (!l->ports[i].used) {
      slot = i;
      break;
    }
  }
  if (slot < 0)
    return nook_errx(err, ENOSPC, "too many forwarded ports (at most %d)", NET_MAX_PORTS);
  struct net_port p = *port;
  if (!p.guest_addr.s_addr)
    p.guest_addr = l->cfg->guest_addr;
  p.guest_ipv6 = l->cfg->enable_ipv6 && p.guest_addr.s_addr == l->cfg->guest_addr.s_addr;
  struct loop_port *lp = &l->ports[slot];
  int r = portfwd_add(l->pf, &p, &lp->fwd_id, err);
  if (r < 0)
    return r;
  lp->used = true;
  lp->port = p;
  *id = slot + 1;
  return 0;
}

int net_loop_remove_port(struct net_loop *l, int id, nook_error *err) {
  if (id < 1 || id > NET_MAX_PORTS || !l->ports[id - 1].used)
    return nook_errx(err, ENOENT, "no forwarded port with id %d", id);
  struct loop_port *lp = &l->ports[id - 1];
  portfwd_remove(l->pf, lp->fwd_id);
  lp->used = false;
  return 0;
}

const struct net_port *net_loop_port(struct net_loop *l, int id) {
  if (id < 1 || id > NET_MAX_PORTS || !l->ports[id - 1].used)
    return NULL;
  return &l->ports[id - 1].port;
}

/* The Internet checksum of buf, added to sum (RFC 1071). Four independent
 * 64-bit sums of 32-bit words: twice the speed of one (it runs over every
 * byte the container sends). */
static uint32_t csum_add(uint64_t sum, const uint8_t *buf, size_t len) {
  uint64_t s[4] = {sum, 0, 0, 0};
  while (len >= 16) {
    uint32_t v[4];
    memcpy(v, buf, 16);
    s[0] += v[0];
    s[1] += v[1];
    s[2] += v[2];
    s[3] += v[3];
    buf += 16;
    len -= 16;
  }
  sum = s[0] + s[1] + s[2] + s[3];
  while (len >= 2) {
    uint16_t v;
    memcpy(&v, buf, 2);
    sum += v;
    buf += 2;
    len -= 2;
  }
  if (len)
    sum += *buf; /* little-endian: the odd byte is the low half of a word */
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (uint32_t)sum;
}

/* The kernel left the transport checksum to us (the tap offers checksum
 * offload): the field holds the pseudo-header's sum, complete it over the
 * rest. libslirp verifies checksums, so this must be right. */
static void complete_checksum(uint8_t *pkt, size_t len, const struct virtio_net_hdr *h) {
  size_t start = h->csum_start, off = h->csum_start + h->csum_offset;
  if (start >= len || off + 2 > len)
    return;
  uint16_t c = (uint16_t)~csum_add(0, pkt + start, len - start);
  memcpy(pkt + off, &c, 2);
}

static void read_tap_batch(struct net_loop *l) {
  for (int i = 0; i < TAP_BATCH; i++) {
    ssize_t n = read(l->tap_fd, l->frame, FRAME_MAX);
    if (n <= (ssize_t)VNET_HDR_LEN)
      return;
    const struct virtio_net_hdr *h = (const struct virtio_net_hdr *)l->frame;
    uint8_t *pkt = l->frame + VNET_HDR_LEN;
    size_t len = (size_t)n - VNET_HDR_LEN;
    if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
      complete_checksum(pkt, len, h);
    /* A TSO frame goes to slirp whole: its IP length covers all of it and
     * slirp's TCP takes a segment larger than the MSS as it is. */
    slirp_input(l->slirp, pkt, (int)len);
  }
}

static int64_t run_timers(struct net_loop *l) {
  int64_t now = clock_ms(), next = -1;
  bool fired;
  do {
    fired = false;
    for (struct net_timer *t = l->timers; t; t = t->next) {
      if (!t->armed)
        continue;
      if (t->expire_ms <= now) {
        t->armed = false;
        if (t->opaque_api)
          slirp_handle_timer(l->slirp, t->id, t->cb_opaque);
        else
          t->cb(t->cb_opaque);
        fired = true; /* the list may have changed: start over */
        break;
      }
    }
  } while (fired);
  for (struct net_timer *t = l->timers; t; t = t->next)
    if (t->armed && (next < 0 || t->expire_ms - now < next))
      next = t->expire_ms - now;
  return next;
}

int net_loop_run(struct net_loop *l, int api_fd, int pidfd) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  _cleanup_close_ int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

  for (;;) {
    l->n_pfds = 0;
    pfd_push(l, l->tap_fd, POLLIN);
    pfd_push(l, portfwd_fd(l->pf), POLLIN);
    pfd_push(l, api_fd, POLLIN);
    pfd_push(l, pidfd, POLLIN);
    pfd_push(l, l->cfg->exit_fd, POLLIN);
    pfd_push(l, sfd, POLLIN);
    uint32_t timeout = UINT32_MAX;
    slirp_pollfds_fill(l->slirp, &timeout, cb_add_poll, l);
    int64_t t = run_timers(l);
    if (t >= 0 && (uint64_t)t < timeout)
      timeout = (uint32_t)t;
    int n = poll(l->pfds, l->n_pfds, timeout == UINT32_MAX ? -1 : (int)timeout);
    if (n < 0 && errno != EINTR)
      return -errno;
    slirp_pollfds_poll(l->slirp, n < 0, cb_get_revents, l);
    if (n <= 0)
      continue;
    if (l->pfds[PFD_SIGNAL].revents || l->pfds[PFD_PIDFD].revents ||
        l->pfds[PFD_EXIT].revents)
      return 0;
    if (l->pfds[PFD_TAP].revents & POLLIN)
      read_tap_batch(l);
    if (l->pfds[PFD_PORTFWD].revents)
      portfwd_dispatch(l->pf);
    if (l->pfds[PFD_API].revents)
      api_serve_one(api_fd, l);
  }
}
