/* nook-net: slirp4netns-compatible network helper. Usage as slirp4netns:
 *   nook-net [OPTION]... PID|PATH [TAPNAME]
 * plus --port for forwarded ports fixed at start. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <signal.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "nook-config.h"
#include "nook-net.h"
#include "util.h"

static const char usage[] =
    "Usage: nook-net [OPTION]... PID|PATH [TAPNAME]\n"
    "User-mode networking for unprivileged network namespaces (slirp4netns-compatible).\n\n"
    "  -c, --configure            bring up the tap interface (address, route, MTU, lo)\n"
    "  -e, --exit-fd=FD           exit when FD is readable or closed\n"
    "  -r, --ready-fd=FD          write \"1\" to FD once the network is ready\n"
    "  -m, --mtu=MTU              MTU (default 1500, max 65520)\n"
    "      --cidr=CIDR            virtual network (default 10.0.2.0/24)\n"
    "      --disable-host-loopback  prohibit connecting to 127.0.0.1:* on the host\n"
    "      --netns-type=TYPE      pid (default) or path\n"
    "      --userns-path=PATH     user namespace to join before the network namespace\n"
    "      --netns-fd=FD          join the network namespace open at FD (PID still ends the\n"
    "                             network); its owner is the user namespace joined\n"
    "      --own-netns            the namespace ends with PID: its tap device is left to the\n"
    "                             kernel's namespace clean-up instead of removed on exit\n"
    "      --wait-fd=FD           attach only once a byte can be read from FD (the ids of the\n"
    "                             namespace are mapped); exit when it closes first\n"
    "  -a, --api-socket=PATH      API socket (add_hostfwd, list_hostfwd, remove_hostfwd)\n"
    "  -6, --enable-ipv6          enable IPv6 (fd00::/64, experimental)\n"
    "      --enable-sandbox       empty mount namespace, no capabilities\n"
    "      --enable-seccomp       seccomp allow-list\n"
    "      --disable-dns          no DNS forwarding at the nameserver address\n"
    "      --outbound-addr=IPv4|IFNAME   source address of outbound connections\n"
    "      --outbound-addr6=IPv6|IFNAME  same, for IPv6\n"
    "      --macaddress=MAC       accepted for compatibility, ignored\n"
    "      --target-type=netns    only netns is supported\n"
    "  -p, --port=[IP:]HOSTPORT:CONTAINERPORT[/tcp|udp]  forward a host port (repeatable)\n"
    "      --debug                debug messages\n"
    "  -h, --help                 this help\n"
    "  -v, --version              version\n";

static int parse_fd(const char *s, int *out, const char *opt, nook_error *err) {
  long long v;
  if (!parse_i64(s, &v) || v < 0 || v > 1 << 20)
    return nook_errx(err, EINVAL, "%s: `%s` is not a file descriptor number", opt, s);
  *out = (int)v;
  return 0;
}

static int parse_cidr(const char *s, struct net_config *cfg, nook_error *err) {
  _cleanup_free_ char *ip = xstrdup(s);
  char *slash = strchr(ip, '/');
  unsigned long long len;
  if (!slash || !parse_u64(slash + 1, &len) || len < 1 || len > 25)
    return nook_errx(err, EINVAL, "--cidr `%s`: expected A.B.C.D/LEN with LEN from 1 to 25", s);
  *slash = '\0';
  struct in_addr a;
  if (inet_pton(AF_INET, ip, &a) != 1)
    return nook_errx(err, EINVAL, "--cidr `%s`: `%s` is not an IPv4 address", s, ip);
  uint32_t mask = ~0U << (32 - len);
  uint32_t net = ntohl(a.s_addr) & mask;
  cfg->prefix_len = (unsigned)len;
  cfg->network.s_addr = htonl(net);
  cfg->host_addr.s_addr = htonl(net + 2);
  cfg->dns_addr.s_addr = htonl(net + 3);
  cfg->guest_addr.s_addr = htonl(net + 100);
  return 0;
}

/* An address, or the first address of the named interface. */
static int parse_outbound(const char *s, int family, void *out, nook_error *err) {
  struct sockaddr_storage *ss = out;
  memset(ss, 0, family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
  void *addr = family == AF_INET ? (void *)&((struct sockaddr_in *)ss)->sin_addr
                                 : (void *)&((struct sockaddr_in6 *)ss)->sin6_addr;
  ss->ss_family = family;
  if (inet_pton(family, s, addr) == 1)
    return 0;
  struct ifaddrs *ifs;
  if (getifaddrs(&ifs) < 0)
    return nook_err(err, errno, "getifaddrs");
  bool found = false;
  for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next) {
    if (i->ifa_addr && i->ifa_addr->sa_family == family && strcmp(i->ifa_name, s) == 0) {
      memcpy(ss, i->ifa_addr,
             family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
      found = true;
    }
  }
  freeifaddrs(ifs);
  if (!found)
    return nook_errx(err, EINVAL, "outbound address `%s`: not an IPv%c address nor an "
                                  "interface with one", s, family == AF_INET ? '4' : '6');
  return 0;
}

enum {
  OPT_CIDR = 1000, OPT_DISABLE_HOST_LOOPBACK, OPT_NETNS_TYPE, OPT_USERNS_PATH, OPT_SANDBOX,
  OPT_SECCOMP, OPT_DISABLE_DNS, OPT_OUTBOUND, OPT_OUTBOUND6, OPT_MAC, OPT_TARGET_TYPE, OPT_DEBUG,
  OPT_NETNS_FD, OPT_OWN_NETNS, OPT_WAIT_FD,
};

static int parse_args(int argc, char **argv, struct net_config *cfg, nook_error *err) {
  static const struct option opts[] = {
      {"configure", no_argument, NULL, 'c'},
      {"exit-fd", required_argument, NULL, 'e'},
      {"ready-fd", required_argument, NULL, 'r'},
      {"mtu", required_argument, NULL, 'm'},
      {"cidr", required_argument, NULL, OPT_CIDR},
      {"disable-host-loopback", no_argument, NULL, OPT_DISABLE_HOST_LOOPBACK},
      {"netns-type", required_argument, NULL, OPT_NETNS_TYPE},
      {"userns-path", required_argument, NULL, OPT_USERNS_PATH},
      {"netns-fd", required_argument, NULL, OPT_NETNS_FD},
      {"own-netns", no_argument, NULL, OPT_OWN_NETNS},
      {"wait-fd", required_argument, NULL, OPT_WAIT_FD},
      {"api-socket", required_argument, NULL, 'a'},
      {"enable-ipv6", no_argument, NULL, '6'},
      {"enable-sandbox", no_argument, NULL, OPT_SANDBOX},
      {"enable-seccomp", no_argument, NULL, OPT_SECCOMP},
      {"disable-dns", no_argument, NULL, OPT_DISABLE_DNS},
      {"outbound-addr", required_argument, NULL, OPT_OUTBOUND},
      {"outbound-addr6", required_argument, NULL, OPT_OUTBOUND6},
      {"macaddress", required_argument, NULL, OPT_MAC},
      {"target-type", required_argument, NULL, OPT_TARGET_TYPE},
      {"port", required_argument, NULL, 'p'},
      {"debug", no_argument, NULL, OPT_DEBUG},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'v'},
      {0},
  };
  bool path_type = false;
  int c, r;
  unsigned long long v;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+ce:r:m:a:6p:hv", opts, NULL)) != -1) {
    switch (c) {
    case 'c': cfg->configure = true; break;
    case 'e':
      if ((r = parse_fd(optarg, &cfg->exit_fd, "--exit-fd", err)) < 0)
        return r;
      break;
    case 'r':
      if ((r = parse_fd(optarg, &cfg->ready_fd, "--ready-fd", err)) < 0)
        return r;
      break;
    case 'm':
      if (!parse_u64(optarg, &v) || v < 68 || v > 65521)
        return nook_errx(err, EINVAL, "--mtu `%s`: expected a number from 68 to 65521", optarg);
      cfg->mtu = (unsigned)v;
      break;
    case OPT_CIDR:
      if ((r = parse_cidr(optarg, cfg, err)) < 0)
        return r;
      break;
    case OPT_DISABLE_HOST_LOOPBACK: cfg->disable_host_loopback = true; break;
    case OPT_NETNS_TYPE:
      if (strcmp(optarg, "path") == 0)
        path_type = true;
      else if (strcmp(optarg, "pid") == 0)
        path_type = false;
      else
        return nook_errx(err, EINVAL, "--netns-type `%s`: expected pid or path", optarg);
      break;
    case OPT_USERNS_PATH: cfg->userns_path = optarg; break;
    case OPT_NETNS_FD:
      if ((r = parse_fd(optarg, &cfg->netns_fd, "--netns-fd", err)) < 0)
        return r;
      break;
    case OPT_OWN_NETNS: cfg->own_netns = true; break;
    case OPT_WAIT_FD:
      if ((r = parse_fd(optarg, &cfg->wait_fd, "--wait-fd", err)) < 0)
        return r;
      break;
    case 'a': cfg->api_socket = optarg; break;
    case '6': cfg->enable_ipv6 = true; break;
    case OPT_SANDBOX: cfg->sandbox = true; break;
    case OPT_SECCOMP: cfg->seccomp = true; break;
    case OPT_DISABLE_DNS: cfg->disable_dns = true; break;
    case OPT_OUTBOUND:
      if ((r = parse_outbound(optarg, AF_INET, &cfg->outbound_addr, err)) < 0)
        return r;
      cfg->has_outbound_addr = true;
      break;
    case OPT_OUTBOUND6:
      if ((r = parse_outbound(optarg, AF_INET6, &cfg->outbound_addr6, err)) < 0)
        return r;
      cfg->has_outbound_addr6 = true;
      break;
    case OPT_MAC: break;
    case OPT_TARGET_TYPE:
      if (strcmp(optarg, "netns") != 0)
        return nook_errx(err, EINVAL, "--target-type `%s`: only netns is supported", optarg);
      break;
    case 'p':
      if (cfg->n_ports == NET_MAX_PORTS)
        return nook_errx(err, EINVAL, "too many --port options (at most %d)", NET_MAX_PORTS);
      if ((r = net_port_parse(optarg, &cfg->ports[cfg->n_ports++], err)) < 0)
        return r;
      break;
    case OPT_DEBUG: cfg->debug = true; break;
    case 'h': fputs(usage, stdout); exit(0);
    case 'v':
      printf("slirp4netns version 1.2.0 (nook-net %s)\ncommit: %s\nlibslirp: %s\n",
             NOOK_VERSION, NOOK_COMMIT, slirp_version_string());
      exit(0);
    default:
      return nook_errx(err, EINVAL, "unknown or incomplete option `%s` (see --help)",
                       argv[optind - 1]);
    }
  }
  if (optind >= argc)
    return nook_errx(err, EINVAL, "missing PID|PATH of the network namespace (see --help)");
  if (argc - optind > 2)
    return nook_errx(err, EINVAL, "unexpected argument `%s` (see --help)", argv[optind + 2]);
  if (path_type) {
    cfg->netns_path = argv[optind];
  } else {
    long long pid;
    if (!parse_i64(argv[optind], &pid) || pid < 1 || pid > 1 << 30)
      return nook_errx(err, EINVAL, "`%s` is not a PID (use --netns-type=path for a path)",
                       argv[optind]);
    cfg->pid = (pid_t)pid;
  }
  if (argc - optind == 2)
    cfg->tapname = argv[optind + 1];
  if (strlen(cfg->tapname) >= 16)
    return nook_errx(err, EINVAL, "tap name `%s` is too long (at most 15 characters)",
                     cfg->tapname);
  return 0;
}

/* Started before the namespace's ids are mapped, the helper loads and
 * parses meanwhile and attaches when told. */
static int wait_for_go(int fd, nook_error *err) {
  char c;
  ssize_t n;
  do
    n = read(fd, &c, 1);
  while (n < 0 && errno == EINTR);
  close(fd);
  if (n < 0)
    return nook_err(err, errno, "--wait-fd");
  if (n == 0)
    return nook_errx(err, ECANCELED, "the runtime gave up before the network was attached");
  return 0;
}

/* libslirp 4.7 forwards what the container asks fd00::3 only to an IPv6
 * nameserver of resolv.conf. A host with IPv4 ones only gets them again as
 * v4-mapped IPv6 addresses in the sandbox's copy: slirp's IPv6 socket
 * reaches them (its IPv4 lookups skip those lines). */
static char *resolv_with_mapped_nameservers(const char *resolv) {
  char *out = xstrdup(resolv);
  bool has_v6 = false;
  _cleanup_free_ char *mapped = xstrdup("");
  _cleanup_free_ char *copy = xstrdup(resolv);
  char *save = NULL;
  for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char addr[64];
    struct in6_addr a6;
    struct in_addr a4;
    if (sscanf(line, " nameserver %63s", addr) != 1)
      continue;
    if (inet_pton(AF_INET6, addr, &a6) == 1)
      has_v6 = true;
    else if (inet_pton(AF_INET, addr, &a4) == 1) {
      char *more = xasprintf("%snameserver ::ffff:%s\n", mapped, addr);
      free(mapped);
      mapped = more;
    }
  }
  if (has_v6 || !*mapped)
    return out;
  char *joined = xasprintf("%s%s%s", out, *out && out[strlen(out) - 1] != '\n' ? "\n" : "",
                           mapped);
  free(out);
  return joined;
}

static int sandbox_self(const struct net_config *cfg, nook_error *err) {
  int r;
  if (cfg->sandbox) {
    _cleanup_free_ char *resolv = NULL;
    nook_error ignore;
    if (read_file_at(AT_FDCWD, "/etc/resolv.conf", &resolv, NULL, &ignore) < 0)
      resolv = xstrdup("");
    if (cfg->enable_ipv6 && !cfg->disable_dns) {
      char *with_mapped = resolv_with_mapped_nameservers(resolv);
      free(resolv);
      resolv = with_mapped;
    }
    if ((r = sandbox_enter(resolv, false, err)) < 0)
      return r;
  }
  if (cfg->seccomp && (r = sandbox_seccomp(err)) < 0)
    return r;
  return 0;
}

static int run(struct net_config *cfg, nook_error *err) {
  _cleanup_close_ int pidfd = -1;
  if (cfg->pid) {
    /* The network ends with the process it serves. */
    pidfd = (int)syscall(SYS_pidfd_open, cfg->pid, 0);
    if (pidfd < 0)
      return errno == ESRCH
                 ? nook_errx(err, ESRCH, "process %d is gone: nothing to attach to", cfg->pid)
                 : nook_err(err, errno, "pidfd_open %d", cfg->pid);
  }
  nook_stage("net: start");
  /* What needs no namespace of the container's is done before the runtime
   * lets us attach (--wait-fd): the API socket, the namespace child. */
  _cleanup_close_ int api = -1;
  int r;
  if (cfg->api_socket && (api = r = api_listen(cfg->api_socket, err)) < 0)
    return r;
  struct ns_child child = {.sock = -1};
  if ((r = ns_child_start(cfg, &child, err)) < 0)
    return r;
  struct net_loop *loop = NULL;
  _cleanup_close_ int tap = -1;
  if (cfg->wait_fd >= 0 && (r = wait_for_go(cfg->wait_fd, err)) < 0)
    goto out;
  if ((r = ns_child_attach(&child, &tap, err)) < 0)
    goto out;
  nook_stage("net: tap configured");
  if ((r = net_loop_new(cfg, tap, &child, &loop, err)) < 0)
    goto out;
  nook_stage("net: slirp");
  for (size_t i = 0; i < cfg->n_ports; i++) {
    int id;
    if ((r = net_loop_add_port(loop, &cfg->ports[i], &id, err)) < 0)
      goto out;
  }
  /* The child sandboxes itself meanwhile. */
  if ((r = sandbox_self(cfg, err)) < 0 || (r = ns_child_sandboxed(&child, err)) < 0)
    goto out;
  net_loop_child_ready(loop);
  nook_stage("net: sandboxed");
  if (cfg->ready_fd >= 0) {
    write_all(cfg->ready_fd, "1", 1);
    close(cfg->ready_fd);
  }
  r = net_loop_run(loop, api, pidfd);
  if (r < 0)
    nook_err(err, -r, "event loop");
out:
  net_loop_free(loop);
  ns_child_stop(&child);
  return r;
}

int main(int argc, char **argv) {
  struct net_config cfg = {
      .tapname = "tap0",
      .mtu = 1500,
      .ready_fd = -1,
      .exit_fd = -1,
      .netns_fd = -1,
      .wait_fd = -1,
  };
  nook_error err;
  nook_err_clear(&err);
  signal(SIGPIPE, SIG_IGN);
  parse_cidr("10.0.2.0/24", &cfg, &err);
  int r = parse_args(argc, argv, &cfg, &err);
  if (r == 0) {
    nook_log_init(NULL, false, cfg.debug);
    r = run(&cfg, &err);
  }
  if (r < 0) {
    fprintf(stderr, "nook-net: %s\n", err.msg);
    return 1;
  }
  return 0;
}
