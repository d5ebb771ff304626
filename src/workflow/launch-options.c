/* `nook launch` flags, docker's names and meanings. */
#include <ctype.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signals.h"
#include "util.h"
#include "workflow.h"

static const char usage[] =
    "Usage: nook launch [OPTIONS] IMAGE [COMMAND [ARG...]]\n\n"
    "Run a command in a new container made from IMAGE (pulled when missing).\n"
    "Exit status: the command's, 125 when nook fails, 126 when the command cannot\n"
    "be executed, 127 when it is not found.\n\n"
    "Options:\n"
    "      --rm                  remove the container when it exits\n"
    "  -i, --interactive         keep stdin open (with -d: nook attach writes to it)\n"
    "  -t, --tty                 allocate a terminal (with -d: nook attach joins it)\n"
    "  -d, --detach              run in the background and print the id\n"
    "      --detach-keys KEYS    -it from a terminal: keys that detach, leaving it\n"
    "                            running for nook attach (default ctrl-p,ctrl-q;\n"
    "                            \"\": none)\n"
    "      --name NAME           the container's id (default: random)\n"
    "      --net, --network slirp|none|host  network (default slirp)\n"
    "                            slirp:K=V,...: enable_ipv6, allow_host_loopback,\n"
    "                            mtu, outbound_addr (true|false, a number, an IP)\n"
    "  -p, --publish [[IP:][HOST[-END]]:]CTR[-END][/tcp|udp]\n"
    "                            publish ports (slirp; no HOST: free host ports)\n"
    "  -P, --publish-all         publish the image's exposed ports on free host ports\n"
    "  -v, --volume SRC:DST[:ro] bind mount a host path\n"
    "      --tmpfs DST[:OPTS]    mount a tmpfs\n"
    "      --mount type=bind|tmpfs|volume,...\n"
    "                            target=, source=, readonly, bind-propagation=,\n"
    "                            tmpfs-size=, tmpfs-mode= (volume: an anonymous one)\n"
    "      --device HOSTPATH[:CTRPATH][:rwm]\n"
    "                            a host device, bound as rootless podman does\n"
    "      --add-host NAME:IP    add a line to /etc/hosts (IP host-gateway: the host)\n"
    "      --dns IP              nameserver in /etc/resolv.conf\n"
    "      --dns-search DOMAIN   search domain in /etc/resolv.conf (. for none)\n"
    "      --dns-option OPT      option in /etc/resolv.conf\n"
    "  -e, --env K=V|K           set an environment variable\n"
    "      --env-file FILE       read K=V lines\n"
    "  -w, --workdir DIR         working directory\n"
    "  -u, --user USER[:GROUP]   user inside (names from the image's /etc/passwd)\n"
    "      --entrypoint CMD      override the image's entrypoint (\"\" for none)\n"
    "      --hostname NAME       hostname (default: the id's first 12 characters)\n"
    "  -m, --memory SIZE         memory limit (b, k, m, g)\n"
    "      --pids-limit N        process limit\n"
    "      --ulimit NAME=SOFT[:HARD]\n"
    "                            a resource limit (nofile, nproc, core...; -1: none)\n"
    "      --shm-size SIZE       size of /dev/shm (default 64m)\n"
    "      --cpus N              CPU limit (1.5 = one and a half CPUs)\n"
    "      --read-only           read-only root filesystem\n"
    "      --cap-add CAP         add a capability (ALL for all)\n"
    "      --cap-drop CAP        drop a capability (ALL for all)\n"
    "      --security-opt seccomp=FILE|unconfined\n"
    "      --userns keep-id      the same uid and gid inside as outside\n"
    "      --group-add GROUP     an additional group (a gid, or a name in the image)\n"
    "      --stop-signal SIG     the signal nook stop sends first (default TERM)\n"
    "      --stop-timeout SECS   how long nook stop waits before SIGKILL (default 10)\n"
    "  -l, --label KEY[=VALUE]   a label (nook containers --format json shows it)\n"
    "      --init                run a zombie-reaping init as pid 1\n"
    "      --pull always|missing|never\n"
    "                            pull the image: always, if missing (default), never\n"
    "      --tls-verify=BOOL     pulling: check the registry's TLS\n";

enum {
  OPT_RM = 1000,
  OPT_NAME,
  OPT_NET,
  OPT_TMPFS,
  OPT_ENV_FILE,
  OPT_ENTRYPOINT,
  OPT_HOSTNAME,
  OPT_PIDS,
  OPT_CPUS,
  OPT_READ_ONLY,
  OPT_CAP_ADD,
  OPT_CAP_DROP,
  OPT_SECURITY,
  OPT_USERNS,
  OPT_INIT,
  OPT_TLS_VERIFY,
  OPT_DETACH_KEYS,
  OPT_MOUNT,
  OPT_DEVICE,
  OPT_ADD_HOST,
  OPT_DNS,
  OPT_DNS_SEARCH,
  OPT_DNS_OPTION,
  OPT_ULIMIT,
  OPT_SHM_SIZE,
  OPT_GROUP_ADD,
  OPT_STOP_SIGNAL,
  OPT_STOP_TIMEOUT,
  OPT_PULL,
};

void launch_options_free(struct launch_options *o) {
  strv_free(o->net_options);
  strv_free(o->ports);
  strv_free(o->volumes);
  strv_free(o->tmpfs);
  strv_free(o->env);
  strv_free(o->cap_add);
  strv_free(o->cap_drop);
  strv_free(o->mounts);
  strv_free(o->devices);
  strv_free(o->ulimits);
  strv_free(o->group_add);
  strv_free(o->add_hosts);
  strv_free(o->dns);
  strv_free(o->dns_search);
  strv_free(o->dns_options);
  strv_free(o->labels);
}

static int bad(nook_error *err, const char *fmt, const char *arg) {
  nook_errx(err, EINVAL, fmt, arg);
  return nook_err_prefix(err, -EINVAL, "launch");
}

/* slirp's options as podman spells them after `slirp4netns:`, checked here
 * and kept as the nook.network.KEY annotations they become ("KEY=VALUE"). */
static int parse_slirp_options(const char *text, char ***out, nook_error *err) {
  static const char *const bools[] = {"enable_ipv6", "allow_host_loopback"};
  _cleanup_free_ char *list = xstrdup(text);
  char *save = NULL;
  for (char *kv = strtok_r(list, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(kv, '=');
    if (!eq || eq == kv || !eq[1])
      return nook_errx(err, EINVAL, "slirp option `%s`: expected KEY=VALUE", kv);
    *eq = '\0';
    const char *key = kv, *value = eq + 1;
    bool known = false;
    for (size_t i = 0; i < ARRAY_SIZE(bools); i++)
      if (!strcmp(key, bools[i])) {
        known = true;
        if (strcmp(value, "true") && strcmp(value, "false"))
          return nook_errx(err, EINVAL, "slirp option %s: expected true or false, not `%s`",
                           key, value);
      }
    unsigned long long mtu;
    if (!strcmp(key, "mtu")) {
      known = true;
      if (!parse_u64(value, &mtu) || mtu < 68 || mtu > 65520)
        return nook_errx(err, EINVAL, "slirp option mtu: expected a number from 68 to 65520, "
                                      "not `%s`", value);
    }
    if (!strcmp(key, "outbound_addr"))
      known = true;
    if (!known)
      return nook_errx(err, EINVAL,
                       "unknown slirp option `%s` (known: enable_ipv6, allow_host_loopback, mtu, "
                       "outbound_addr)", key);
    _cleanup_free_ char *pair = xasprintf("%s=%s", key, value);
    strv_push(out, pair);
  }
  return 0;
}

/* What tmpfs and the mount flags take, checked here so that a bad option
 * is named as --tmpfs's, not as the kernel's EINVAL from inside the init. */
static bool tmpfs_number_ok(const char *v, const char *suffixes) {
  size_t digits = strspn(v, "0123456789");
  return digits > 0 && (v[digits] == '\0' || (strchr(suffixes, v[digits]) && !v[digits + 1]));
}

static const char *tmpfs_bad_option(char *opts) {
  static const char *const flags[] = {"ro",      "rw",       "exec",     "noexec",      "suid",
                                      "nosuid",  "dev",      "nodev",    "atime",       "noatime",
                                      "relatime", "strictatime", "diratime", "nodiratime", NULL};
  char *save = NULL;
  for (char *t = strtok_r(opts, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    char *v = strchr(t, '=');
    bool ok = false;
    if (!v) {
      for (size_t i = 0; flags[i] && !ok; i++)
        ok = !strcmp(t, flags[i]);
    } else {
      *v++ = '\0';
      if (!strcmp(t, "size"))
        ok = tmpfs_number_ok(v, "kKmMgGtTpPeE%");
      else if (!strcmp(t, "nr_blocks") || !strcmp(t, "nr_inodes"))
        ok = tmpfs_number_ok(v, "kKmMgGtTpPeE");
      else if (!strcmp(t, "mode"))
        ok = *v && strspn(v, "01234567") == strlen(v) && strlen(v) <= 4;
      else if (!strcmp(t, "uid") || !strcmp(t, "gid"))
        ok = tmpfs_number_ok(v, "");
      else if (!strcmp(t, "huge"))
        ok = !strcmp(v, "never") || !strcmp(v, "always") || !strcmp(v, "within_size") ||
             !strcmp(v, "advise");
      v[-1] = '=';
    }
    if (!ok)
      return t;
  }
  return NULL;
}

/* Also a directory name in the store and the state root. */
static bool valid_name(const char *s) {
  return *s && *s != '.' && *s != '-' && strlen(s) <= 128 &&
         strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
             strlen(s);
}

static int read_env_file(const char *path, char ***env, nook_error *err) {
  _cleanup_free_ char *text = NULL;
  int r = read_file_at(AT_FDCWD, path, &text, NULL, err);
  if (r < 0)
    return nook_err_prefix(err, r, "launch: --env-file");
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    while (isspace((unsigned char)*line))
      line++;
    size_t n = strlen(line);
    while (n && isspace((unsigned char)line[n - 1]))
      line[--n] = '\0';
    if (!*line || *line == '#')
      continue;
    if (!strchr(line, '=')) {
      const char *v = getenv(line);
      if (!v)
        continue;
      _cleanup_free_ char *kv = xasprintf("%s=%s", line, v);
      strv_push(env, kv);
    } else {
      strv_push(env, line);
    }
  }
  return 0;
}

/* The mounts' targets so far, each with the flag and value that made it,
 * so that two mounts on one path are refused as docker and podman refuse
 * them, instead of the last one silently hiding the first. */
struct mount_targets {
  char **paths, **givers;
};

static int claim_target(struct mount_targets *t, const char *path, size_t len, const char *flag,
                        const char *spec, nook_error *err) {
  _cleanup_free_ char *norm = xmalloc(len + 1);
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    if (path[i] != '/' || !n || norm[n - 1] != '/')
      norm[n++] = path[i];
  while (n > 1 && norm[n - 1] == '/')
    n--;
  norm[n] = '\0';
  for (size_t i = 0; t->paths && t->paths[i]; i++)
    if (!strcmp(t->paths[i], norm)) {
      nook_errx(err, EINVAL, "%s `%s`: %s is already the target of %s: give each mount a path "
                             "of its own", flag, spec, norm, t->givers[i]);
      return nook_err_prefix(err, -EINVAL, "launch");
    }
  _cleanup_free_ char *giver = xasprintf("%s `%s`", flag, spec);
  strv_push(&t->paths, norm);
  strv_push(&t->givers, giver);
  return 0;
}

static void mount_targets_free(struct mount_targets *t) {
  strv_free(t->paths);
  strv_free(t->givers);
}
#define _cleanup_mount_targets_ _cleanup_(mount_targets_free)

int launch_parse(int argc, char **argv, struct launch_options *o, nook_error *err) {
  static const struct option opts[] = {
      {"rm", no_argument, NULL, OPT_RM},
      {"interactive", no_argument, NULL, 'i'},
      {"tty", no_argument, NULL, 't'},
      {"detach", no_argument, NULL, 'd'},
      {"detach-keys", required_argument, NULL, OPT_DETACH_KEYS},
      {"name", required_argument, NULL, OPT_NAME},
      {"net", required_argument, NULL, OPT_NET},
      {"network", required_argument, NULL, OPT_NET},
      {"publish", required_argument, NULL, 'p'},
      {"publish-all", no_argument, NULL, 'P'},
      {"volume", required_argument, NULL, 'v'},
      {"tmpfs", required_argument, NULL, OPT_TMPFS},
      {"env", required_argument, NULL, 'e'},
      {"env-file", required_argument, NULL, OPT_ENV_FILE},
      {"workdir", required_argument, NULL, 'w'},
      {"user", required_argument, NULL, 'u'},
      {"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
      {"hostname", required_argument, NULL, OPT_HOSTNAME},
      {"memory", required_argument, NULL, 'm'},
      {"pids-limit", required_argument, NULL, OPT_PIDS},
      {"cpus", required_argument, NULL, OPT_CPUS},
      {"read-only", no_argument, NULL, OPT_READ_ONLY},
      {"cap-add", required_argument, NULL, OPT_CAP_ADD},
      {"cap-drop", required_argument, NULL, OPT_CAP_DROP},
      {"security-opt", required_argument, NULL, OPT_SECURITY},
      {"userns", required_argument, NULL, OPT_USERNS},
      {"init", no_argument, NULL, OPT_INIT},
      {"tls-verify", required_argument, NULL, OPT_TLS_VERIFY},
      {"mount", required_argument, NULL, OPT_MOUNT},
      {"device", required_argument, NULL, OPT_DEVICE},
      {"add-host", required_argument, NULL, OPT_ADD_HOST},
      {"dns", required_argument, NULL, OPT_DNS},
      {"dns-search", required_argument, NULL, OPT_DNS_SEARCH},
      {"dns-option", required_argument, NULL, OPT_DNS_OPTION},
      {"ulimit", required_argument, NULL, OPT_ULIMIT},
      {"shm-size", required_argument, NULL, OPT_SHM_SIZE},
      {"group-add", required_argument, NULL, OPT_GROUP_ADD},
      {"stop-signal", required_argument, NULL, OPT_STOP_SIGNAL},
      {"stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT},
      {"label", required_argument, NULL, 'l'},
      {"pull", required_argument, NULL, OPT_PULL},
      {"help", no_argument, NULL, 'h'},
      {0},
  };
  memset(o, 0, sizeof(*o));
  o->stop_timeout = -1;
  _cleanup_mount_targets_ struct mount_targets targets = {0};
  int c, longindex = -1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+:itdPp:v:e:w:u:m:l:h", opts, &longindex)) != -1) {
    switch (c) {
    case OPT_RM:
      o->rm = true;
      break;
    case 'i':
      o->interactive = true;
      break;
    case 't':
      o->tty = true;
      break;
    case 'd':
      o->detach = true;
      break;
    case OPT_DETACH_KEYS: {
      int r = attach_check_detach_keys(optarg, err);
      if (r < 0)
        return nook_err_prefix(err, r, "launch");
      o->detach_keys = optarg;
      break;
    }
    case OPT_NAME:
      if (!valid_name(optarg))
        return bad(err, "--name: `%s` is not a valid name (letters, digits, _ . -; not "
                        "starting with . or -)", optarg);
      o->name = optarg;
      break;
    case OPT_NET:
      strv_free(o->net_options);
      o->net_options = NULL;
      if (!strncmp(optarg, "slirp:", 6) || !strncmp(optarg, "slirp4netns:", 12)) {
        o->net = LAUNCH_NET_SLIRP;
        int r = parse_slirp_options(strchr(optarg, ':') + 1, &o->net_options, err);
        if (r < 0)
          return nook_err_prefix(err, r, "launch: --%s", opts[longindex].name);
      } else if (!strcmp(optarg, "slirp") || !strcmp(optarg, "slirp4netns"))
        o->net = LAUNCH_NET_SLIRP;
      else if (!strcmp(optarg, "none"))
        o->net = LAUNCH_NET_NONE;
      else if (!strcmp(optarg, "host"))
        o->net = LAUNCH_NET_HOST;
      else
        return nook_err_prefix(err,
                               nook_errx(err, EINVAL, "--%s: `%s` is not one of slirp, none, host",
                                         opts[longindex].name, optarg),
                               "launch");
      break;
    case 'p': {
      struct launch_port_range range;
      int r = launch_port_range_parse(optarg, &range, err);
      if (r < 0)
        return nook_err_prefix(err, r, "launch");
      free(range.ip);
      strv_push(&o->ports, optarg);
      break;
    }
    case 'P':
      o->publish_all = true;
      break;
    case 'v': {
      const char *colon = strchr(optarg, ':');
      if (!colon || colon == optarg || colon[1] != '/')
        return bad(err, "-v: `%s` is not SRC:DST[:ro] with an absolute DST", optarg);
      const char *mode = strchr(colon + 1, ':');
      if (mode && strcmp(mode, ":ro") && strcmp(mode, ":rw"))
        return bad(err, "-v: `%s`: the mode after DST must be ro or rw", optarg);
      if (claim_target(&targets, colon + 1, mode ? (size_t)(mode - colon - 1) : strlen(colon + 1),
                       "-v", optarg, err) < 0)
        return -EINVAL;
      strv_push(&o->volumes, optarg);
      break;
    }
    case OPT_TMPFS:
      if (optarg[0] != '/')
        return bad(err, "--tmpfs: `%s` is not an absolute path", optarg);
      if (strchr(optarg, ':')) {
        _cleanup_free_ char *opts = xstrdup(strchr(optarg, ':') + 1);
        const char *wrong = tmpfs_bad_option(opts);
        if (wrong) {
          nook_errx(err, EINVAL,
                    "--tmpfs `%s`: bad option `%s` (options such as size=64m, mode=1777, "
                    "nr_inodes=1k, uid=N, gid=N, ro, noexec)",
                    optarg, wrong);
          return nook_err_prefix(err, -EINVAL, "launch");
        }
      }
      if (claim_target(&targets, optarg, strcspn(optarg, ":"), "--tmpfs", optarg, err) < 0)
        return -EINVAL;
      strv_push(&o->tmpfs, optarg);
      break;
    case 'e':
      if (!*optarg || *optarg == '=')
        return bad(err, "-e: `%s` is not K=V or K", optarg);
      if (!strchr(optarg, '=')) {
        const char *v = getenv(optarg);
        if (v) {
          _cleanup_free_ char *kv = xasprintf("%s=%s", optarg, v);
          strv_push(&o->env, kv);
        }
      } else {
        strv_push(&o->env, optarg);
      }
      break;
    case OPT_ENV_FILE: {
      int r = read_env_file(optarg, &o->env, err);
      if (r < 0)
        return r;
      break;
    }
    case 'w':
      if (optarg[0] != '/')
        return bad(err, "-w: `%s` is not an absolute path", optarg);
      o->workdir = optarg;
      break;
    case 'u':
      if (!*optarg)
        return bad(err, "-u: `%s` is empty: give USER[:GROUP]", optarg);
      o->user = optarg;
      break;
    case OPT_ENTRYPOINT:
      o->entrypoint = optarg;
      break;
    case OPT_HOSTNAME:
      if (!*optarg || strlen(optarg) > 64)
        return bad(err, "--hostname: `%s` must be 1 to 64 characters", optarg);
      o->hostname = optarg;
      break;
    case 'm':
      if (!launch_parse_size(optarg, &o->memory))
        return bad(err, "--memory: `%s` is not a size such as 512m or 1g", optarg);
      break;
    case OPT_PIDS: {
      unsigned long long n;
      if (!parse_u64(optarg, &n) || n == 0 || n > (1ULL << 31))
        return bad(err, "--pids-limit: `%s` is not a positive number", optarg);
      o->pids_limit = (long long)n;
      break;
    }
    case OPT_CPUS: {
      char *end;
      double v = strtod(optarg, &end);
      if (end == optarg || *end || !(v > 0) || v > 1024)
        return bad(err, "--cpus: `%s` is not a positive number of CPUs", optarg);
      o->cpu_quota = (long long)(v * 100000 + 0.5);
      break;
    }
    case OPT_READ_ONLY:
      o->read_only = true;
      break;
    case OPT_CAP_ADD:
      strv_push(&o->cap_add, optarg);
      break;
    case OPT_CAP_DROP:
      strv_push(&o->cap_drop, optarg);
      break;
    case OPT_SECURITY:
      if (!str_has_prefix(optarg, "seccomp=") || !optarg[8])
        return bad(err, "--security-opt: `%s` is not supported: use seccomp=FILE or "
                        "seccomp=unconfined", optarg);
      o->seccomp = optarg + 8;
      break;
    case OPT_USERNS:
      if (strcmp(optarg, "keep-id"))
        return bad(err, "--userns: `%s` is not supported: use keep-id", optarg);
      o->keep_id = true;
      break;
    case OPT_INIT:
      o->init = true;
      break;
    case OPT_TLS_VERIFY:
      if (strcmp(optarg, "true") && strcmp(optarg, "false"))
        return bad(err, "--tls-verify: `%s` is not true or false", optarg);
      o->tls_no_verify = !strcmp(optarg, "false");
      break;
    case 'h':
      cli_print_usage(usage);
      return 1;
    case OPT_MOUNT: {
      struct launch_mount m;
      int r = launch_mount_parse(optarg, &m, err);
      if (r < 0)
        return nook_err_prefix(err, r, "launch");
      r = claim_target(&targets, m.target, strlen(m.target), "--mount", optarg, err);
      launch_mount_free(&m);
      if (r < 0)
        return r;
      strv_push(&o->mounts, optarg);
      break;
    }
    case OPT_DEVICE: {
      struct launch_device d;
      int r = launch_device_parse(optarg, &d, err);
      if (r < 0)
        return nook_err_prefix(err, r, "launch");
      free(d.host);
      free(d.ctr);
      strv_push(&o->devices, optarg);
      break;
    }
    case OPT_ULIMIT: {
      struct launch_ulimit u;
      int r = launch_ulimit_parse(optarg, &u, err);
      if (r < 0)
        return nook_err_prefix(err, r, "launch");
      strv_push(&o->ulimits, optarg);
      break;
    }
    case OPT_ADD_HOST:
      if (launch_add_host_check(optarg, err) < 0)
        return nook_err_prefix(err, -EINVAL, "launch");
      strv_push(&o->add_hosts, optarg);
      break;
    case OPT_DNS:
    case OPT_DNS_SEARCH:
    case OPT_DNS_OPTION: {
      const char *flag = c == OPT_DNS ? "--dns" : c == OPT_DNS_SEARCH ? "--dns-search"
                                                                       : "--dns-option";
      if (launch_dns_check(flag, optarg, err) < 0)
        return nook_err_prefix(err, -EINVAL, "launch");
      strv_push(c == OPT_DNS ? &o->dns : c == OPT_DNS_SEARCH ? &o->dns_search : &o->dns_options,
                optarg);
      break;
    }
    case OPT_SHM_SIZE:
      if (!launch_parse_size(optarg, &o->shm_size))
        return bad(err, "--shm-size: `%s` is not a size such as 64m or 1g", optarg);
      break;
    case OPT_GROUP_ADD:
      if (!*optarg || strchr(optarg, ':') || strchr(optarg, '\n'))
        return bad(err, "--group-add: `%s` is not a group name or gid", optarg);
      if (!strcmp(optarg, "keep-groups"))
        return bad(err, "--group-add: `%s` is not supported: give group names or gids", optarg);
      strv_push(&o->group_add, optarg);
      break;
    case OPT_STOP_SIGNAL: {
      nook_error e;
      if (signal_parse(optarg, &o->stop_signal, &e) < 0 || o->stop_signal <= 0)
        return bad(err, "--stop-signal: `%s` is not a signal (TERM, SIGINT, 15, RTMIN+3)",
                   optarg);
      break;
    }
    case OPT_STOP_TIMEOUT: {
      unsigned long long n;
      if (!parse_u64(optarg, &n) || n > 86400)
        return bad(err, "--stop-timeout: `%s` is not a number of seconds (0 to 86400)", optarg);
      o->stop_timeout = (int)n;
      break;
    }
    case 'l':
      if (!*optarg || *optarg == '=')
        return bad(err, "-l: `%s` is not KEY=VALUE or KEY", optarg);
      strv_push(&o->labels, optarg);
      break;
    case OPT_PULL:
      if (!strcmp(optarg, "missing"))
        o->pull = LAUNCH_PULL_MISSING;
      else if (!strcmp(optarg, "always"))
        o->pull = LAUNCH_PULL_ALWAYS;
      else if (!strcmp(optarg, "never"))
        o->pull = LAUNCH_PULL_NEVER;
      else
        return bad(err, "--pull: `%s` is not always, missing or never", optarg);
      break;
    case ':':
      return bad(err, "option `%s` needs a value", argv[optind - 1]);
    default:
      return bad(err, "unknown option `%s` (see 'nook launch --help')", argv[optind - 1]);
    }
  }
  if (optind >= argc)
    return bad(err, "%s: give an image, e.g. nook launch IMAGE [COMMAND...]", "missing image");
  o->image = argv[optind];
  o->command = argv + optind + 1;
  o->n_command = argc - optind - 1;
  if (o->net != LAUNCH_NET_SLIRP && (o->ports || o->publish_all))
    return bad(err, "%s: publishing ports needs --net slirp", o->ports ? "-p" : "-P");
  for (size_t i = 0; o->net == LAUNCH_NET_NONE && o->add_hosts && o->add_hosts[i]; i++)
    if (!strcmp(strchr(o->add_hosts[i], ':') + 1, "host-gateway"))
      return bad(err, "--add-host: `%s`: with --net none there is no host to reach", o->add_hosts[i]);
  if (o->ports) {
    int r = launch_ports_count(o->ports, err);
    if (r < 0)
      return nook_err_prefix(err, r, "launch");
  }
  return 0;
}
