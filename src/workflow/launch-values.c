/* The values of launch's flags that are more than a word: port ranges,
 * --mount, --device, --ulimit, --add-host and the DNS flags. Each parser is
 * used twice: by launch_parse to refuse a bad value before anything is made,
 * and when the bundle is written to take the checked value apart. */
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "net/nook-net.h"
#include "util.h"
#include "workflow.h"

bool launch_parse_size(const char *s, long long *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || v <= 0 || !isdigit((unsigned char)*s))
    return false;
  double mult = 1;
  switch (tolower((unsigned char)*end)) {
  case 'b':
    end++;
    break;
  case 'k':
    mult = 1024.0, end++;
    break;
  case 'm':
    mult = 1024.0 * 1024, end++;
    break;
  case 'g':
    mult = 1024.0 * 1024 * 1024, end++;
    break;
  }
  if (*end == 'b' || *end == 'B')
    end++;
  if (*end || v * mult > 9e18)
    return false;
  *out = (long long)(v * mult);
  return *out > 0;
}

/* "80" or "8000-8009": the first port and how many. */
static bool parse_port_range(const char *s, unsigned *start, unsigned *count) {
  _cleanup_free_ char *copy = xstrdup(s);
  char *dash = strchr(copy, '-');
  if (dash)
    *dash++ = '\0';
  unsigned long long a, b;
  if (!parse_u64(copy, &a) || a < 1 || a > 65535)
    return false;
  b = a;
  if (dash && (!parse_u64(dash, &b) || b < a || b > 65535))
    return false;
  *start = (unsigned)a;
  *count = (unsigned)(b - a + 1);
  return true;
}

int launch_port_range_parse(const char *spec, struct launch_port_range *out, nook_error *err) {
  static const char form[] = "[[IP:][HOSTPORT[-END]]:]CONTAINERPORT[-END][/tcp|udp] (IP an IPv4 "
                             "or IPv6 address, ports 1 to 65535)";
  memset(out, 0, sizeof(*out));
  _cleanup_free_ char *copy = xstrdup(spec);
  out->proto = "tcp";
  char *slash = strchr(copy, '/');
  if (slash) {
    *slash++ = '\0';
    if (strcmp(slash, "tcp") && strcmp(slash, "udp"))
      return nook_errx(err, EINVAL, "-p: `%s`: the protocol must be tcp or udp", spec);
    out->proto = !strcmp(slash, "udp") ? "udp" : "tcp";
  }
  char *last = strrchr(copy, ':');
  const char *ctr = last ? last + 1 : copy, *host = "", *ip = "";
  if (last) {
    *last = '\0';
    char *mid = strrchr(copy, ':');
    if (mid) {
      *mid = '\0';
      ip = copy;
      host = mid + 1;
    } else {
      host = copy;
    }
  }
  if (*ip) {
    _cleanup_free_ char *bare = xstrdup(ip);
    size_t n = strlen(bare);
    char *addr = bare;
    if (n >= 2 && bare[0] == '[' && bare[n - 1] == ']') {
      bare[n - 1] = '\0';
      addr++;
    }
    struct in6_addr a;
    if (inet_pton(AF_INET, addr, &a) != 1 && inet_pton(AF_INET6, addr, &a) != 1)
      return nook_errx(err, EINVAL, "-p: `%s` is not %s", spec, form);
  }
  unsigned host_count = 0;
  if (!parse_port_range(ctr, &out->ctr_start, &out->count) ||
      (*host && !parse_port_range(host, &out->host_start, &host_count)))
    return nook_errx(err, EINVAL, "-p: `%s` is not %s", spec, form);
  if (*host && host_count != out->count)
    return nook_errx(err, EINVAL, "-p: `%s`: the host range has %u port%s and the container "
                                  "range %u: give ranges of the same length",
                     spec, host_count, host_count == 1 ? "" : "s", out->count);
  out->ip = xstrdup(ip);
  return 0;
}

int launch_ports_count(char *const *ports, nook_error *err) {
  unsigned total = 0;
  for (size_t i = 0; ports && ports[i]; i++) {
    struct launch_port_range r;
    int ret = launch_port_range_parse(ports[i], &r, err);
    if (ret < 0)
      return ret;
    free(r.ip);
    total += r.count;
  }
  if (total > NET_MAX_PORTS)
    return nook_errx(err, E2BIG, "-p: %u ports to publish, more than the %d nook forwards for "
                                 "a container", total, NET_MAX_PORTS);
  return (int)total;
}

/* ---- --mount ---- */

void launch_mount_free(struct launch_mount *m) {
  free(m->source);
  free(m->target);
  strv_free(m->options);
  memset(m, 0, sizeof(*m));
}

static bool parse_bool_value(const char *v, bool *out) {
  if (!v || !strcmp(v, "true") || !strcmp(v, "1")) {
    *out = true;
    return true;
  }
  if (!strcmp(v, "false") || !strcmp(v, "0")) {
    *out = false;
    return true;
  }
  return false;
}

static int mount_bad(nook_error *err, const char *spec, const char *what) {
  return nook_errx(err, EINVAL, "--mount `%s`: %s", spec, what);
}

/* What a key=value of --mount sets; the type is known already. */
static int mount_key(const char *spec, struct launch_mount *m, char *key, char *value,
                     nook_error *err) {
  static const char *const flags[] = {"nosuid", "nodev", "noexec", "suid", "dev", "exec", NULL};
  bool b;
  if (!strcmp(key, "source") || !strcmp(key, "src")) {
    if (!value || !*value)
      return mount_bad(err, spec, "source= needs a path");
    if (m->type == LAUNCH_MOUNT_VOLUME)
      return mount_bad(err, spec, "named volumes are not supported (nook has no `nook volume`): "
                                  "leave out source= for an anonymous volume, or use type=bind "
                                  "with a host path");
    if (m->type == LAUNCH_MOUNT_TMPFS)
      return mount_bad(err, spec, "a tmpfs takes no source=");
    free(m->source);
    m->source = xstrdup(value);
  } else if (!strcmp(key, "target") || !strcmp(key, "destination") || !strcmp(key, "dst")) {
    if (!value || value[0] != '/')
      return mount_bad(err, spec, "target= must be an absolute path in the container");
    free(m->target);
    m->target = xstrdup(value);
  } else if (!strcmp(key, "readonly") || !strcmp(key, "ro")) {
    if (!parse_bool_value(value, &m->readonly))
      return mount_bad(err, spec, "readonly= takes true or false");
  } else if (!strcmp(key, "rw")) {
    if (!parse_bool_value(value, &b))
      return mount_bad(err, spec, "rw= takes true or false");
    m->readonly = !b;
  } else if (!strcmp(key, "bind-propagation") && m->type == LAUNCH_MOUNT_BIND) {
    static const char *const props[] = {"shared", "slave", "private", "rshared", "rslave",
                                        "rprivate", NULL};
    if (!value || !strv_contains((char **)props, value))
      return mount_bad(err, spec, "bind-propagation= is one of shared, slave, private, rshared, "
                                  "rslave, rprivate");
    strv_push(&m->options, value);
  } else if (!strcmp(key, "bind-nonrecursive") && m->type == LAUNCH_MOUNT_BIND) {
    if (!parse_bool_value(value, &b))
      return mount_bad(err, spec, "bind-nonrecursive= takes true or false");
    m->recursive = !b;
  } else if (!strcmp(key, "tmpfs-size") && m->type == LAUNCH_MOUNT_TMPFS) {
    long long size;
    if (!value || !launch_parse_size(value, &size))
      return mount_bad(err, spec, "tmpfs-size= is a size such as 64m or 1g");
    _cleanup_free_ char *opt = xasprintf("size=%lld", size);
    strv_push(&m->options, opt);
  } else if (!strcmp(key, "tmpfs-mode") && m->type == LAUNCH_MOUNT_TMPFS) {
    if (!value || !*value || strspn(value, "01234567") != strlen(value) || strlen(value) > 4)
      return mount_bad(err, spec, "tmpfs-mode= is an octal mode such as 1777 or 700");
    _cleanup_free_ char *opt = xasprintf("mode=%s", value);
    strv_push(&m->options, opt);
  } else if (!value && strv_contains((char **)flags, key) && m->type != LAUNCH_MOUNT_VOLUME) {
    strv_push(&m->options, key);
  } else {
    static const char *const known[] = {
        [LAUNCH_MOUNT_BIND] = "source, target, readonly, bind-propagation, bind-nonrecursive, "
                              "nosuid, nodev, noexec",
        [LAUNCH_MOUNT_TMPFS] = "target, readonly, tmpfs-size, tmpfs-mode, nosuid, nodev, noexec",
        [LAUNCH_MOUNT_VOLUME] = "target, readonly",
    };
    static const char *const names[] = {"bind", "tmpfs", "volume"};
    nook_errx(err, EINVAL, "--mount `%s`: `%s` is not an option of type=%s (%s)", spec, key,
              names[m->type], known[m->type]);
    return -EINVAL;
  }
  return 0;
}

int launch_mount_parse(const char *spec, struct launch_mount *out, nook_error *err) {
  memset(out, 0, sizeof(*out));
  out->recursive = true;
  _cleanup_free_ char *copy = xstrdup(spec);
  /* the type first: what the other keys may be depends on it */
  const char *type = NULL;
  char *save = NULL;
  for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
    if (str_has_prefix(t, "type="))
      type = t + 5;
  if (!type)
    return mount_bad(err, spec, "give its type: type=bind, type=tmpfs or type=volume");
  if (!strcmp(type, "bind"))
    out->type = LAUNCH_MOUNT_BIND;
  else if (!strcmp(type, "tmpfs"))
    out->type = LAUNCH_MOUNT_TMPFS;
  else if (!strcmp(type, "volume"))
    out->type = LAUNCH_MOUNT_VOLUME;
  else
    return nook_errx(err, EINVAL, "--mount `%s`: type `%s` is not bind, tmpfs or volume", spec,
                     type);
  free(copy);
  copy = xstrdup(spec);
  save = NULL;
  int r = 0;
  for (char *t = strtok_r(copy, ",", &save); t && r == 0; t = strtok_r(NULL, ",", &save)) {
    if (str_has_prefix(t, "type="))
      continue;
    char *value = strchr(t, '=');
    if (value)
      *value++ = '\0';
    r = mount_key(spec, out, t, value, err);
  }
  if (r == 0 && !out->target)
    r = mount_bad(err, spec, "give target=PATH (where it is mounted in the container)");
  if (r == 0 && out->type == LAUNCH_MOUNT_BIND) {
    struct stat st;
    if (!out->source)
      r = mount_bad(err, spec, "a bind mount needs source=HOSTPATH");
    else if (stat(out->source, &st) < 0)
      r = nook_err(err, errno, "--mount `%s`: source `%s`", spec, out->source);
  }
  if (r < 0)
    launch_mount_free(out);
  return r;
}

/* ---- --device ---- */

int launch_device_parse(const char *spec, struct launch_device *out, nook_error *err) {
  memset(out, 0, sizeof(*out));
  _cleanup_free_ char *copy = xstrdup(spec);
  char *ctr = strchr(copy, ':'), *perms = NULL;
  if (ctr) {
    *ctr++ = '\0';
    perms = strchr(ctr, ':');
    if (perms)
      *perms++ = '\0';
    else if (ctr[0] != '/')
      perms = ctr, ctr = NULL;
  }
  if (copy[0] != '/' || (ctr && ctr[0] != '/'))
    return nook_errx(err, EINVAL, "--device: `%s` is not HOSTPATH[:CONTAINERPATH][:PERMISSIONS] "
                                  "with absolute paths", spec);
  if (perms && (!*perms || strspn(perms, "rwm") != strlen(perms)))
    return nook_errx(err, EINVAL, "--device: `%s`: the permissions `%s` are not letters of rwm",
                     spec, perms);
  struct stat st;
  if (stat(copy, &st) < 0)
    return nook_err(err, errno, "--device: `%s`", copy);
  if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
    return nook_errx(err, EINVAL, "--device: `%s` is not a device node (a character or block "
                                  "device such as /dev/fuse)", copy);
  out->host = xstrdup(copy);
  out->ctr = xstrdup(ctr ? ctr : copy);
  out->writable = !perms || strchr(perms, 'w');
  return 0;
}

/* ---- --ulimit ---- */

static const struct {
  const char *name;
  int resource;
} ulimit_names[] = {
    {"as", RLIMIT_AS},           {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},       {"fsize", RLIMIT_FSIZE},       {"locks", RLIMIT_LOCKS},
    {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE},   {"nproc", RLIMIT_NPROC},       {"rss", RLIMIT_RSS},
    {"rtprio", RLIMIT_RTPRIO},   {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
    {"stack", RLIMIT_STACK},
};

void launch_ulimit_names(void (*fn)(const char *name, void *data), void *data) {
  for (size_t i = 0; i < ARRAY_SIZE(ulimit_names); i++)
    fn(ulimit_names[i].name, data);
}

static bool parse_limit(const char *s, unsigned long long *out) {
  if (!strcmp(s, "-1") || !strcmp(s, "unlimited")) {
    *out = RLIM_INFINITY;
    return true;
  }
  return parse_u64(s, out) && *out < RLIM_INFINITY;
}

static char *limit_text(unsigned long long v) {
  return v == RLIM_INFINITY ? xstrdup("unlimited") : xasprintf("%llu", v);
}

int launch_ulimit_parse(const char *spec, struct launch_ulimit *out, nook_error *err) {
  memset(out, 0, sizeof(*out));
  _cleanup_free_ char *copy = xstrdup(spec);
  char *value = strchr(copy, '=');
  if (value)
    *value++ = '\0';
  size_t i = 0;
  while (i < ARRAY_SIZE(ulimit_names) && strcmp(ulimit_names[i].name, copy))
    i++;
  if (i == ARRAY_SIZE(ulimit_names))
    return nook_errx(err, EINVAL, "--ulimit: `%s`: `%s` is not a limit (as, core, cpu, data, "
                                  "fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, "
                                  "rtprio, rttime, sigpending, stack)", spec, copy);
  char *hard = value ? strchr(value, ':') : NULL;
  if (hard)
    *hard++ = '\0';
  if (!value || !parse_limit(value, &out->soft) || (hard && !parse_limit(hard, &out->hard)))
    return nook_errx(err, EINVAL, "--ulimit: `%s` is not NAME=SOFT[:HARD] with numbers (-1 for "
                                  "unlimited)", spec);
  if (!hard)
    out->hard = out->soft;
  if (out->soft > out->hard)
    return nook_errx(err, EINVAL, "--ulimit: `%s`: the soft limit is above the hard one", spec);
  /* only the host's root can raise a hard limit: said now, not by the
   * container's init */
  struct rlimit now;
  if (getrlimit(ulimit_names[i].resource, &now) == 0 && out->hard > now.rlim_max) {
    _cleanup_free_ char *want = limit_text(out->hard);
    _cleanup_free_ char *have = limit_text(now.rlim_max);
    return nook_errx(err, EPERM, "--ulimit: `%s`: the hard limit %s is above this user's (%s), "
                                 "which a rootless container cannot raise",
                     spec, want, have);
  }
  snprintf(out->type, sizeof(out->type), "RLIMIT_%s", copy);
  for (char *p = out->type; *p; p++)
    *p = (char)toupper((unsigned char)*p);
  return 0;
}

/* ---- /etc files ---- */

static bool valid_hostname(const char *s) {
  return *s && strlen(s) < 254 && *s != '-' && *s != '.' &&
         strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") ==
             strlen(s);
}

static bool valid_ip(const char *s) {
  struct in6_addr a;
  return inet_pton(AF_INET, s, &a) == 1 || inet_pton(AF_INET6, s, &a) == 1;
}

int launch_add_host_check(const char *spec, nook_error *err) {
  _cleanup_free_ char *copy = xstrdup(spec);
  char *ip = strchr(copy, ':');
  if (ip)
    *ip++ = '\0';
  if (!ip || !valid_hostname(copy) || !(valid_ip(ip) || !strcmp(ip, "host-gateway")))
    return nook_errx(err, EINVAL, "--add-host: `%s` is not HOSTNAME:IP (an IPv4 or IPv6 address, "
                                  "or host-gateway)", spec);
  return 0;
}

int launch_dns_check(const char *flag, const char *value, nook_error *err) {
  if (!strcmp(flag, "--dns") && !valid_ip(value))
    return nook_errx(err, EINVAL, "--dns: `%s` is not an IPv4 or IPv6 address", value);
  if (!strcmp(flag, "--dns-search") && strcmp(value, ".") && !valid_hostname(value))
    return nook_errx(err, EINVAL, "--dns-search: `%s` is not a domain (or . for none)", value);
  if (!strcmp(flag, "--dns-option") && (!*value || strpbrk(value, " \t\n#;")))
    return nook_errx(err, EINVAL, "--dns-option: `%s` is not a resolv.conf option such as "
                                  "ndots:2 or edns0", value);
  return 0;
}
