/* The /etc files launch generates for a container: hostname, hosts (with
 * --add-host) and resolv.conf (slirp's resolver or the host's, with --dns,
 * --dns-search, --dns-option), bind-mounted from the bundle as podman does. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "workflow.h"

#define SLIRP_DNS "10.0.2.3"
#define SLIRP_HOST_IP "10.0.2.2"

__attribute__((format(printf, 2, 3))) static void append(char **text, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  _cleanup_free_ char *line = NULL;
  if (vasprintf(&line, fmt, ap) < 0)
    abort();
  va_end(ap);
  char *next = xasprintf("%s%s", *text, line);
  free(*text);
  *text = next;
}

static char *hosts_text(const struct launch_options *o, const char *hostname) {
  char *text = xstrdup("");
  /* the user's first: the first line naming a host wins */
  for (size_t i = 0; o->add_hosts && o->add_hosts[i]; i++) {
    _cleanup_free_ char *name = xstrdup(o->add_hosts[i]);
    char *ip = strchr(name, ':');
    *ip++ = '\0';
    if (!strcmp(ip, "host-gateway"))
      ip = o->net == LAUNCH_NET_SLIRP ? SLIRP_HOST_IP : "127.0.0.1";
    append(&text, "%s\t%s\n", ip, name);
  }
  append(&text, "127.0.0.1\tlocalhost localhost.localdomain\n"
                "::1\tlocalhost localhost.localdomain\n");
  if (o->net == LAUNCH_NET_SLIRP)
    append(&text, "10.0.2.100\t%s\n" SLIRP_HOST_IP "\thost.containers.internal "
                  "host.docker.internal\n", hostname);
  else
    append(&text, "127.0.1.1\t%s\n", hostname);
  return text;
}

/* Whether a resolv.conf line is of the kind a flag replaces. */
static bool replaced(const struct launch_options *o, const char *line) {
  while (*line == ' ' || *line == '\t')
    line++;
  size_t n = strcspn(line, " \t");
  return (o->dns && n == 10 && !strncmp(line, "nameserver", n)) ||
         (o->dns_search && ((n == 6 && !strncmp(line, "search", n)) ||
                            (n == 6 && !strncmp(line, "domain", n)))) ||
         (o->dns_options && n == 7 && !strncmp(line, "options", n));
}

static char *resolv_text(const struct launch_options *o) {
  char *text = xstrdup("");
  if (o->net != LAUNCH_NET_SLIRP) {
    /* the host's resolver is reachable: its file, less what the flags set */
    _cleanup_free_ char *host = NULL;
    nook_error ignore;
    if (read_file_at(AT_FDCWD, "/etc/resolv.conf", &host, NULL, &ignore) == 0) {
      char *save = NULL;
      for (char *l = strtok_r(host, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (!replaced(o, l))
          append(&text, "%s\n", l);
    }
  } else if (!o->dns) {
    append(&text, "nameserver " SLIRP_DNS "\n");
  }
  for (size_t i = 0; o->dns && o->dns[i]; i++)
    append(&text, "nameserver %s\n", o->dns[i]);
  if (o->dns_search && strcmp(o->dns_search[0], ".")) {
    append(&text, "search");
    for (size_t i = 0; o->dns_search[i]; i++)
      if (strcmp(o->dns_search[i], "."))
        append(&text, " %s", o->dns_search[i]);
    append(&text, "\n");
  }
  if (o->dns_options) {
    append(&text, "options");
    for (size_t i = 0; o->dns_options[i]; i++)
      append(&text, " %s", o->dns_options[i]);
    append(&text, "\n");
  }
  return text;
}

int launch_write_etc(const struct launch_plan *p, const char *hostname, nook_error *err) {
  _cleanup_free_ char *etc = xasprintf("%s/etc", p->bundle);
  if (mkdir(etc, 0755) < 0 && errno != EEXIST)
    return nook_err(err, errno, "create `%s`", etc);
  _cleanup_free_ char *hn = xasprintf("%s\n", hostname);
  _cleanup_free_ char *hosts = hosts_text(p->opts, hostname);
  _cleanup_free_ char *resolv = resolv_text(p->opts);
  _cleanup_close_ int dir = open(etc, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0)
    return nook_err(err, errno, "open `%s`", etc);
  int r = write_file_at(dir, "hostname", hn, strlen(hn), 0644, err);
  if (r == 0)
    r = write_file_at(dir, "hosts", hosts, strlen(hosts), 0644, err);
  if (r == 0)
    r = write_file_at(dir, "resolv.conf", resolv, strlen(resolv), 0644, err);
  return r;
}
