/* Port mapping syntax, shared by nook (validating annotations before the
 * container starts) and nook-net. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "nook-net.h"
#include "util.h"

static bool parse_port(const char *s, uint16_t *out) {
  unsigned long long v;
  if (!parse_u64(s, &v) || v < 1 || v > 65535)
    return false;
  *out = (uint16_t)v;
  return true;
}

int net_port_parse(const char *spec, struct net_port *out, nook_error *err) {
  memset(out, 0, sizeof(*out));
  _cleanup_free_ char *s = xstrdup(spec);
  out->proto = NET_TCP;
  char *slash = strrchr(s, '/');
  if (slash) {
    *slash = '\0';
    if (strcmp(slash + 1, "tcp") == 0)
      out->proto = NET_TCP;
    else if (strcmp(slash + 1, "udp") == 0)
      out->proto = NET_UDP;
    else
      return nook_errx(err, EINVAL, "port `%s`: protocol must be tcp or udp, not `%s`", spec,
                       slash + 1);
  }
  /* The host IP is everything before the last two ':'-separated fields. */
  char *last = strrchr(s, ':');
  if (!last)
    return nook_errx(err, EINVAL,
                     "port `%s`: expected [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp], e.g. 8080:80",
                     spec);
  *last = '\0';
  const char *cport = last + 1;
  char *mid = strrchr(s, ':');
  const char *hport = s, *ip = NULL;
  if (mid) {
    *mid = '\0';
    hport = mid + 1;
    ip = s;
  }
  if (!parse_port(hport, &out->host_port))
    return nook_errx(err, EINVAL, "port `%s`: host port `%s` is not a number from 1 to 65535",
                     spec, hport);
  if (!parse_port(cport, &out->guest_port))
    return nook_errx(err, EINVAL,
                     "port `%s`: container port `%s` is not a number from 1 to 65535", spec,
                     cport);
  _cleanup_free_ char *ipbuf = NULL;
  if (ip && ip[0] == '[') {
    size_t n = strlen(ip);
    if (n < 2 || ip[n - 1] != ']')
      return nook_errx(err, EINVAL, "port `%s`: unbalanced [ ] around the IPv6 address", spec);
    ipbuf = xstrndup(ip + 1, n - 2);
    ip = ipbuf;
  }
  if (!ip || !*ip)
    ip = "0.0.0.0";
  struct sockaddr_in *in = (struct sockaddr_in *)&out->host_addr;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->host_addr;
  if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
    out->family = AF_INET;
    in->sin_family = AF_INET;
    in->sin_port = htons(out->host_port);
    out->host_len = sizeof(*in);
  } else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
    out->family = AF_INET6;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(out->host_port);
    out->host_len = sizeof(*in6);
  } else {
    return nook_errx(err, EINVAL, "port `%s`: `%s` is not an IPv4 or IPv6 address", spec, ip);
  }
  return 0;
}

const char *net_port_host_ip(const struct net_port *p, char *buf, size_t len) {
  if (p->family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&p->host_addr)->sin6_addr, buf, len);
  else
    inet_ntop(AF_INET, &((const struct sockaddr_in *)&p->host_addr)->sin_addr, buf, len);
  return buf;
}
