/* Published ports: -P (the image's ExposedPorts on free host ports, as
 * podman picks them) and how they are shown (`nook port`, the PORTS
 * column), "80/tcp -> 0.0.0.0:40123". */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "container.h"
#include "net/nook-net.h"
#include "util.h"
#include "workflow.h"

/* "80", "80/tcp", "53/udp" (an image's ExposedPorts key or `nook port`'s
 * argument). */
static bool launch_parse_exposed(const char *spec, uint16_t *port, enum net_proto *proto) {
  _cleanup_free_ char *s = xstrdup(spec);
  char *slash = strchr(s, '/');
  *proto = NET_TCP;
  if (slash) {
    *slash++ = '\0';
    if (!strcmp(slash, "udp"))
      *proto = NET_UDP;
    else if (strcmp(slash, "tcp"))
      return false;
  }
  unsigned long long v;
  if (!parse_u64(s, &v) || v < 1 || v > 65535)
    return false;
  *port = (uint16_t)v;
  return true;
}

static const char *proto_name(enum net_proto p) {
  return p == NET_UDP ? "udp" : "tcp";
}

/* A port nothing uses now on every address; the socket stays open (so the
 * next pick differs) until the caller closes it. */
static int pick_free_port(enum net_proto proto, uint16_t *port, nook_error *err) {
  int fd = socket(AF_INET, (proto == NET_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return nook_err(err, errno, "-P: socket");
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
  socklen_t len = sizeof(a);
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
    int e = errno;
    close(fd);
    return nook_err(err, e, "-P: find a free %s port", proto_name(proto));
  }
  *port = ntohs(a.sin_port);
  return fd;
}

/* The free host ports picked so far, held until all are picked. */
struct port_picks {
  int fds[NET_MAX_PORTS];
  size_t n;
};

static int pick(struct port_picks *picks, enum net_proto proto, uint16_t *port,
                nook_error *err) {
  if (picks->n == ARRAY_SIZE(picks->fds))
    return nook_errx(err, E2BIG, "more than %zu ports to publish, the most nook forwards for a "
                                 "container", ARRAY_SIZE(picks->fds));
  int fd = pick_free_port(proto, port, err);
  if (fd < 0)
    return fd;
  picks->fds[picks->n++] = fd;
  return 0;
}

/* -p [[IP:][HOST[-END]]:]CTR[-END][/proto], one mapping a port, with HOST
 * filled in: free ports when it is not given, as podman does. */
static int resolve_publish(const char *spec, struct port_picks *picks, char ***ports,
                           nook_error *err) {
  struct launch_port_range range;
  int r = launch_port_range_parse(spec, &range, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *ip = range.ip;
  for (unsigned i = 0; i < range.count; i++) {
    uint16_t host = (uint16_t)(range.host_start + i);
    if (!range.host_start &&
        (r = pick(picks, strcmp(range.proto, "udp") ? NET_TCP : NET_UDP, &host, err)) < 0)
      return nook_err_prefix(err, r, "-p %s", spec);
    _cleanup_free_ char *one = xasprintf("%s%s%u:%u/%s", ip, *ip ? ":" : "", host,
                                         range.ctr_start + i, range.proto);
    strv_push(ports, one);
  }
  return 0;
}

static bool publishes(char *const *ports, uint16_t ctr, enum net_proto proto) {
  for (size_t j = 0; ports && ports[j]; j++) {
    struct net_port p;
    nook_error ignore;
    if (net_port_parse(ports[j], &p, &ignore) == 0 && p.guest_port == ctr && p.proto == proto)
      return true;
  }
  return false;
}

static int publish_all(char *const *exposed, struct port_picks *picks, char ***ports,
                       nook_error *err) {
  for (size_t i = 0; exposed && exposed[i]; i++) {
    uint16_t ctr, host = 0;
    enum net_proto proto;
    if (!launch_parse_exposed(exposed[i], &ctr, &proto))
      return nook_errx(err, EINVAL, "-P: the image's exposed port `%s` is not PORT[/tcp|udp]",
                       exposed[i]);
    if (publishes(*ports, ctr, proto))
      continue;
    int r = pick(picks, proto, &host, err);
    if (r < 0)
      return nook_err_prefix(err, r, "-P");
    _cleanup_free_ char *spec = xasprintf("0.0.0.0:%u:%u/%s", host, ctr, proto_name(proto));
    strv_push(ports, spec);
  }
  return 0;
}

int launch_ports(const struct launch_options *o, char *const *exposed, char ***out,
                 nook_error *err) {
  *out = NULL;
  _cleanup_strv_ char **ports = NULL;
  struct port_picks picks = {.n = 0};
  int r = 0;
  for (size_t i = 0; o->ports && o->ports[i] && r == 0; i++)
    r = resolve_publish(o->ports[i], &picks, &ports, err);
  if (r == 0 && o->publish_all)
    r = publish_all(exposed, &picks, &ports, err);
  if (r == 0 && strv_len(ports) > NET_MAX_PORTS)
    r = nook_errx(err, E2BIG, "%zu ports to publish (-p and -P), more than the %d nook forwards "
                              "for a container", strv_len(ports), NET_MAX_PORTS);
  for (size_t i = 0; i < picks.n; i++)
    close(picks.fds[i]);
  if (r < 0)
    return r;
  *out = steal_pointer(&ports);
  return 0;
}

/* "0.0.0.0" or "[::1]" */
static char *host_text(const struct net_port *p) {
  char ip[INET6_ADDRSTRLEN] = "";
  if (p->family == AF_INET6) {
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&p->host_addr)->sin6_addr, ip,
              sizeof(ip));
    return xasprintf("[%s]", ip);
  }
  inet_ntop(AF_INET, &((const struct sockaddr_in *)&p->host_addr)->sin_addr, ip, sizeof(ip));
  return xstrdup(ip);
}

/* The mappings of a container's ports annotation, in its order. */
static size_t parse_mappings(const char *annotation, struct net_port *ports, size_t max) {
  size_t n = 0;
  if (!annotation)
    return 0;
  _cleanup_free_ char *copy = xstrdup(annotation);
  char *save = NULL;
  for (char *s = strtok_r(copy, ",", &save); s && n < max; s = strtok_r(NULL, ",", &save)) {
    nook_error ignore;
    if (net_port_parse(s, &ports[n], &ignore) == 0)
      n++;
  }
  return n;
}

/* How many mappings from ports[i] on make one range, as podman shows them
 * ("0.0.0.0:8000-8002->80-82/tcp"): the same address and protocol, both
 * ports one more each time. */
static size_t range_at(const struct net_port *ports, size_t n, size_t i) {
  size_t k = 1;
  while (i + k < n && ports[i + k].proto == ports[i].proto &&
         ports[i + k].family == ports[i].family &&
         ports[i + k].host_len == ports[i].host_len &&
         ports[i + k].host_port == ports[i].host_port + k &&
         ports[i + k].guest_port == ports[i].guest_port + k) {
    struct net_port a = ports[i + k], b = ports[i];
    /* the addresses without their ports */
    ((struct sockaddr_in *)&a.host_addr)->sin_port = 0;
    ((struct sockaddr_in *)&b.host_addr)->sin_port = 0;
    if (memcmp(&a.host_addr, &b.host_addr, a.host_len) != 0)
      break;
    k++;
  }
  return k;
}

static char *port_range_text(unsigned first, size_t count) {
  return count > 1 ? xasprintf("%u-%zu", first, first + count - 1) : xasprintf("%u", first);
}

char *launch_ports_text(const char *annotation) {
  struct net_port ports[NET_MAX_PORTS];
  size_t n = parse_mappings(annotation, ports, ARRAY_SIZE(ports));
  char *text = xstrdup("");
  for (size_t i = 0; i < n;) {
    size_t k = range_at(ports, n, i);
    _cleanup_free_ char *host = host_text(&ports[i]);
    _cleanup_free_ char *hp = port_range_text(ports[i].host_port, k);
    _cleanup_free_ char *gp = port_range_text(ports[i].guest_port, k);
    char *next = xasprintf("%s%s%s:%s->%s/%s", text, i ? ", " : "", host, hp, gp,
                           proto_name(ports[i].proto));
    free(text);
    text = next;
    i += k;
  }
  return text;
}

static void gen_key(yajl_gen g, const char *k) {
  yajl_gen_string(g, (const unsigned char *)k, strlen(k));
}

void launch_ports_json(yajl_gen g, const char *annotation) {
  struct net_port ports[NET_MAX_PORTS];
  size_t n = parse_mappings(annotation, ports, ARRAY_SIZE(ports));
  yajl_gen_array_open(g);
  for (size_t i = 0, k; i < n; i += k) {
    k = range_at(ports, n, i);
    char ip[INET6_ADDRSTRLEN] = "";
    if (ports[i].family == AF_INET6)
      inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&ports[i].host_addr)->sin6_addr, ip,
                sizeof(ip));
    else
      inet_ntop(AF_INET, &((const struct sockaddr_in *)&ports[i].host_addr)->sin_addr, ip,
                sizeof(ip));
    const char *proto = proto_name(ports[i].proto);
    yajl_gen_map_open(g);
    gen_key(g, "host_ip");
    yajl_gen_string(g, (const unsigned char *)ip, strlen(ip));
    gen_key(g, "container_port");
    yajl_gen_integer(g, ports[i].guest_port);
    gen_key(g, "host_port");
    yajl_gen_integer(g, ports[i].host_port);
    gen_key(g, "range");
    yajl_gen_integer(g, (long long)k);
    gen_key(g, "protocol");
    yajl_gen_string(g, (const unsigned char *)proto, strlen(proto));
    yajl_gen_map_close(g);
  }
  yajl_gen_array_close(g);
}

int launch_port_print(const char *root, const char *id, const char *which, nook_error *err) {
  uint16_t want = 0;
  enum net_proto want_proto = NET_TCP;
  if (which && !launch_parse_exposed(which, &want, &want_proto))
    return nook_errx(err, EINVAL, "port: `%s` is not a container port (80, 80/tcp, 53/udp)",
                     which);
  _cleanup_container_ struct container c = {.dirfd = -1};
  int r = container_load(root, id, &c, err);
  if (r < 0)
    return r;
  struct net_port ports[NET_MAX_PORTS];
  size_t n = parse_mappings(spec_kv_find(c.state.annotations, c.state.n_annotations,
                                         LAUNCH_ANN_PORTS),
                            ports, ARRAY_SIZE(ports));
  bool found = false;
  for (size_t i = 0; i < n; i++) {
    _cleanup_free_ char *host = host_text(&ports[i]);
    if (!which) {
      printf("%u/%s -> %s:%u\n", ports[i].guest_port, proto_name(ports[i].proto), host,
             ports[i].host_port);
    } else if (ports[i].guest_port == want && ports[i].proto == want_proto) {
      printf("%s:%u\n", host, ports[i].host_port);
      found = true;
    }
  }
  if (which && !found)
    return nook_errx(err, ENOENT, "port: container `%s` does not publish %u/%s", id, want,
                     proto_name(want_proto));
  return 0;
}
