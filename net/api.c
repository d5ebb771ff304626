/* slirp4netns's API socket: a client connects, writes one JSON request
 * ({"execute": "add_hostfwd", "arguments": {...}}), reads one reply
 * ({"return": {...}} or {"error": {"desc": "..."}}). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "nook-net.h"
#include "util.h"

#define API_MAX_REQUEST 65536

int api_listen(const char *path, nook_error *err) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  _cleanup_close_ int dirfd = -1;
  if (strlen(path) < sizeof(sa.sun_path)) {
    strcpy(sa.sun_path, path);
  } else {
    /* A deep state directory (--root) outgrows sun_path: bind through the
     * directory's fd instead. */
    _cleanup_free_ char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    const char *name = slash ? slash + 1 : path;
    if (slash)
      *slash = '\0';
    dirfd = open(slash ? (*dir ? dir : "/") : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
      return nook_err(err, errno, "open the API socket's directory for `%s`", path);
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd, name);
    if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
      return nook_errx(err, ENAMETOOLONG, "API socket name `%s` is too long", name);
  }
  _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return nook_err(err, errno, "API socket");
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
    return nook_err(err, errno, "bind API socket `%s`%s", path,
                    errno == EADDRINUSE ? " (remove the stale socket first)" : "");
  if (listen(fd, 16) < 0)
    return nook_err(err, errno, "listen on API socket `%s`", path);
  return steal_fd(&fd);
}

static const char *str_field(yajl_val obj, const char *name) {
  const char *path[] = {name, NULL};
  yajl_val v = yajl_tree_get(obj, path, yajl_t_string);
  return v ? YAJL_GET_STRING(v) : NULL;
}

static bool int_field(yajl_val obj, const char *name, long long *out) {
  const char *path[] = {name, NULL};
  yajl_val v = yajl_tree_get(obj, path, yajl_t_number);
  if (!v || !YAJL_IS_INTEGER(v))
    return false;
  *out = YAJL_GET_INTEGER(v);
  return true;
}

static void gen_str(yajl_gen g, const char *s) {
  yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static int add_hostfwd(struct net_loop *l, yajl_val args, int *id, nook_error *err) {
  const char *proto = str_field(args, "proto");
  const char *host_addr = str_field(args, "host_addr");
  const char *guest_addr = str_field(args, "guest_addr");
  long long host_port, guest_port;
  if (!proto || (strcmp(proto, "tcp") && strcmp(proto, "udp")))
    return nook_errx(err, EINVAL, "add_hostfwd: \"proto\" must be \"tcp\" or \"udp\"");
  if (!int_field(args, "host_port", &host_port) || host_port < 1 || host_port > 65535)
    return nook_errx(err, EINVAL, "add_hostfwd: \"host_port\" must be a port number");
  if (!int_field(args, "guest_port", &guest_port) || guest_port < 1 || guest_port > 65535)
    return nook_errx(err, EINVAL, "add_hostfwd: \"guest_port\" must be a port number");
  _cleanup_free_ char *spec = NULL;
  bool v6 = host_addr && strchr(host_addr, ':');
  spec = xasprintf("%s%s%s%s%lld:%lld/%s", v6 ? "[" : "", host_addr ? host_addr : "",
                   v6 ? "]" : "", host_addr ? ":" : "", host_port, guest_port, proto);
  struct net_port p;
  int r = net_port_parse(spec, &p, err);
  if (r < 0)
    return r;
  if (guest_addr && inet_pton(AF_INET, guest_addr, &p.guest_addr) != 1)
    return nook_errx(err, EINVAL, "add_hostfwd: bad \"guest_addr\" `%s`", guest_addr);
  return net_loop_add_port(l, &p, id, err);
}

static void gen_entries(yajl_gen g, struct net_loop *l) {
  gen_str(g, "entries");
  yajl_gen_array_open(g);
  for (int id = 1; id <= NET_MAX_PORTS; id++) {
    const struct net_port *p = net_loop_port(l, id);
    if (!p)
      continue;
    char hip[INET6_ADDRSTRLEN], gip[INET_ADDRSTRLEN];
    net_port_host_ip(p, hip, sizeof(hip));
    inet_ntop(AF_INET, &p->guest_addr, gip, sizeof(gip));
    yajl_gen_map_open(g);
    gen_str(g, "id");
    yajl_gen_integer(g, id);
    gen_str(g, "proto");
    gen_str(g, p->proto == NET_TCP ? "tcp" : "udp");
    gen_str(g, "host_addr");
    gen_str(g, hip);
    gen_str(g, "host_port");
    yajl_gen_integer(g, p->host_port);
    gen_str(g, "guest_addr");
    gen_str(g, gip);
    gen_str(g, "guest_port");
    yajl_gen_integer(g, p->guest_port);
    yajl_gen_map_close(g);
  }
  yajl_gen_array_close(g);
}

/* Builds the reply to one request into g. */
static void handle(struct net_loop *l, const char *req, yajl_gen g) {
  char errbuf[256];
  nook_error err;
  nook_err_clear(&err);
  yajl_val tree = yajl_tree_parse(req, errbuf, sizeof(errbuf));
  const char *exec = tree ? str_field(tree, "execute") : NULL;
  const char *args_path[] = {"arguments", NULL};
  yajl_val args = tree ? yajl_tree_get(tree, args_path, yajl_t_object) : NULL;
  int r = 0, id = 0;
  enum { OUT_ID, OUT_ENTRIES, OUT_EMPTY } out = OUT_EMPTY;
  if (!tree)
    r = nook_errx(&err, EINVAL, "request is not JSON: %s", errbuf);
  else if (!exec)
    r = nook_errx(&err, EINVAL, "request has no \"execute\"");
  else if (strcmp(exec, "add_hostfwd") == 0) {
    r = args ? add_hostfwd(l, args, &id, &err)
             : nook_errx(&err, EINVAL, "add_hostfwd needs \"arguments\"");
    out = OUT_ID;
  } else if (strcmp(exec, "list_hostfwd") == 0)
    out = OUT_ENTRIES;
  else if (strcmp(exec, "remove_hostfwd") == 0) {
    long long rid;
    if (!args || !int_field(args, "id", &rid))
      r = nook_errx(&err, EINVAL, "remove_hostfwd needs \"arguments\": {\"id\": N}");
    else
      r = net_loop_remove_port(l, (int)rid, &err);
  } else
    r = nook_errx(&err, EINVAL, "unknown \"execute\" `%s` (add_hostfwd, list_hostfwd, "
                                "remove_hostfwd)", exec);
  yajl_tree_free(tree);

  yajl_gen_map_open(g);
  if (r < 0) {
    gen_str(g, "error");
    yajl_gen_map_open(g);
    gen_str(g, "desc");
    gen_str(g, err.msg);
    yajl_gen_map_close(g);
  } else {
    gen_str(g, "return");
    yajl_gen_map_open(g);
    if (out == OUT_ID) {
      gen_str(g, "id");
      yajl_gen_integer(g, id);
    } else if (out == OUT_ENTRIES)
      gen_entries(g, l);
    yajl_gen_map_close(g);
  }
  yajl_gen_map_close(g);
}

/* Reads until the request parses or the client stops writing; a client
 * that stalls for a second is dropped so the network never waits on it. */
static char *read_request(int fd) {
  size_t len = 0;
  char *buf = xmalloc(API_MAX_REQUEST + 1);
  while (len < API_MAX_REQUEST) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 1000) <= 0)
      break;
    ssize_t n = read(fd, buf + len, API_MAX_REQUEST - len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n <= 0)
      break;
    len += (size_t)n;
    buf[len] = '\0';
    yajl_val t = yajl_tree_parse(buf, NULL, 0);
    if (t) {
      yajl_tree_free(t);
      break;
    }
  }
  buf[len] = '\0';
  return buf;
}

void api_serve_one(int listen_fd, struct net_loop *l) {
  _cleanup_close_ int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0)
    return;
  _cleanup_free_ char *req = read_request(fd);
  yajl_gen g = yajl_gen_alloc(NULL);
  handle(l, req, g);
  const unsigned char *out;
  size_t out_len;
  yajl_gen_get_buf(g, &out, &out_len);
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  struct timeval tv = {.tv_sec = 1};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  write_all(fd, out, out_len);
  yajl_gen_free(g);
}
