/* The systemd driver: a transient scope per container, started over sd-bus
 * on the user manager (rootless) or the system manager (root), with
 * Delegate=yes and the limits as unit properties, so systemd knows the
 * cgroup is ours and keeps the limits across its own reloads.
 *
 * libsystemd is dlopen()ed: linking it would cost every other command its
 * load time. */
#include <dlfcn.h>
#include <inttypes.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-bus.h>

#include "cgroup.h"
#include "log.h"
#include "util.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_IFACE "org.freedesktop.systemd1.Manager"
#define JOB_TIMEOUT_US (60ULL * 1000000ULL) /* a software-emulated VM is slow */

static struct {
  bool loaded;
  typeof(sd_bus_new) *new_bus;
  typeof(sd_bus_set_address) *set_address;
  typeof(sd_bus_set_fd) *set_fd;
  typeof(sd_bus_start) *start;
  typeof(sd_bus_open_user) *open_user;
  typeof(sd_bus_open_system) *open_system;
  typeof(sd_bus_flush_close_unref) *close_unref;
  typeof(sd_bus_message_new_method_call) *new_method_call;
  typeof(sd_bus_message_append) *append;
  typeof(sd_bus_message_append_array) *append_array;
  typeof(sd_bus_message_open_container) *open_container;
  typeof(sd_bus_message_close_container) *close_container;
  typeof(sd_bus_message_read) *read;
  typeof(sd_bus_message_unref) *message_unref;
  typeof(sd_bus_call) *call;
  typeof(sd_bus_error_get_errno) *error_get_errno;
  typeof(sd_bus_message_get_error) *message_get_error;
  typeof(sd_bus_message_ref) *message_ref;
  typeof(sd_bus_call_async) *call_async;
  typeof(sd_bus_add_match) *add_match;
  typeof(sd_bus_slot_unref) *slot_unref;
  typeof(sd_bus_process) *process;
  typeof(sd_bus_wait) *wait;
  typeof(sd_bus_error_free) *error_free;
  typeof(sd_bus_error_has_name) *error_has_name;
} sd;

static int load_libsystemd(nook_error *err) {
  if (sd.loaded)
    return 0;
  void *dl = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
  if (!dl)
    return nook_errx(err, ENOENT, "libsystemd.so.0 could not be loaded (%s)", dlerror());
  struct {
    void **slot;
    const char *name;
  } syms[] = {
      {(void **)&sd.new_bus, "sd_bus_new"},
      {(void **)&sd.set_address, "sd_bus_set_address"},
      {(void **)&sd.set_fd, "sd_bus_set_fd"},
      {(void **)&sd.start, "sd_bus_start"},
      {(void **)&sd.open_user, "sd_bus_open_user"},
      {(void **)&sd.open_system, "sd_bus_open_system"},
      {(void **)&sd.close_unref, "sd_bus_flush_close_unref"},
      {(void **)&sd.new_method_call, "sd_bus_message_new_method_call"},
      {(void **)&sd.append, "sd_bus_message_append"},
      {(void **)&sd.append_array, "sd_bus_message_append_array"},
      {(void **)&sd.open_container, "sd_bus_message_open_container"},
      {(void **)&sd.close_container, "sd_bus_message_close_container"},
      {(void **)&sd.read, "sd_bus_message_read"},
      {(void **)&sd.message_unref, "sd_bus_message_unref"},
      {(void **)&sd.call, "sd_bus_call"},
      {(void **)&sd.error_get_errno, "sd_bus_error_get_errno"},
      {(void **)&sd.message_get_error, "sd_bus_message_get_error"},
      {(void **)&sd.message_ref, "sd_bus_message_ref"},
      {(void **)&sd.call_async, "sd_bus_call_async"},
      {(void **)&sd.add_match, "sd_bus_add_match"},
      {(void **)&sd.slot_unref, "sd_bus_slot_unref"},
      {(void **)&sd.process, "sd_bus_process"},
      {(void **)&sd.wait, "sd_bus_wait"},
      {(void **)&sd.error_free, "sd_bus_error_free"},
      {(void **)&sd.error_has_name, "sd_bus_error_has_name"},
  };
  for (size_t i = 0; i < ARRAY_SIZE(syms); i++) {
    *syms[i].slot = dlsym(dl, syms[i].name);
    if (!*syms[i].slot) {
      dlclose(dl);
      return nook_errx(err, ENOENT, "libsystemd.so.0 has no %s", syms[i].name);
    }
  }
  sd.loaded = true;
  return 0;
}

static void bus_closep(sd_bus **b) {
  if (*b)
    sd.close_unref(*b);
}
static void msg_unrefp(sd_bus_message **m) {
  if (*m)
    sd.message_unref(*m);
}
static void bus_error_freep(sd_bus_error *e) { sd.error_free(e); }

static void connect_failed(nook_error *err, bool user_bus, int r);

/* The manager's own socket, as systemctl uses as root: no message broker in
 * between, no Hello, and the manager's signals come without match rules. */
static char *private_socket_path(bool user_bus) {
  const char *rt = getenv("XDG_RUNTIME_DIR");
  if (!user_bus)
    return xstrdup("/run/systemd/private");
  return rt && *rt ? xasprintf("%s/systemd/private", rt) : NULL;
}

/* The manager sets up its side of a new connection (about a millisecond of
 * its time, before it reads the first byte) while nook goes on; it sends
 * nothing to a connection that has not authenticated, so one made early
 * can wait. */
static struct {
  int fd;
  bool user_bus;
} early = {.fd = -1};

void cgroup_systemd_connect_early(bool user_bus) {
  if (early.fd >= 0)
    return;
  _cleanup_free_ char *path = private_socket_path(user_bus);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (!path || strlen(path) >= sizeof(sa.sun_path))
    return;
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return;
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    close(fd);
    return;
  }
  early.fd = fd;
  early.user_bus = user_bus;
}

/* An early connection the manager has closed (it may give up on one that
 * does not authenticate in time) has something to read: its end. */
static bool early_still_open(void) {
  struct pollfd p = {.fd = early.fd, .events = POLLIN | POLLRDHUP};
  return poll(&p, 1, 0) == 0;
}

static int open_private(bool user_bus, sd_bus **bus) {
  int fd = -1;
  if (early.fd >= 0 && early.user_bus == user_bus && early_still_open())
    fd = early.fd;
  else if (early.fd >= 0)
    close(early.fd);
  early.fd = -1;
  _cleanup_free_ char *path = fd < 0 ? private_socket_path(user_bus) : NULL;
  if (fd < 0 && (!path || access(path, W_OK) < 0))
    return path ? -errno : -ENOENT;
  sd_bus *b = NULL;
  int r = sd.new_bus(&b);
  if (r < 0) {
    if (fd >= 0)
      close(fd);
    return r;
  }
  if (fd >= 0) {
    /* The bus owns the fd from here, and closes it with itself. */
    if ((r = sd.set_fd(b, fd, fd)) < 0)
      close(fd);
  } else {
    _cleanup_free_ char *address = xasprintf("unix:path=%s", path);
    r = sd.set_address(b, address);
  }
  if (r < 0 || (r = sd.start(b)) < 0) {
    sd.close_unref(b);
    return r;
  }
  *bus = b;
  return 0;
}

static int open_bus(bool user_bus, sd_bus **bus, nook_error *err) {
  int r = load_libsystemd(err);
  if (r < 0)
    return r;
  if (open_private(user_bus, bus) == 0)
    return 0;
  r = user_bus ? sd.open_user(bus) : sd.open_system(bus);
  if (r >= 0)
    return 0;
  /* Whatever the cause, to the caller it means: no manager to talk to. */
  connect_failed(err, user_bus, r);
  return -ENOTCONN;
}

static void connect_failed(nook_error *err, bool user_bus, int r) {
  const char *addr = getenv("DBUS_SESSION_BUS_ADDRESS");
  const char *rt = getenv("XDG_RUNTIME_DIR");
  if (!user_bus)
    nook_err(err, -r, "no systemd on the system bus");
  else if (addr)
    nook_err(err, -r, "no systemd user manager on the user bus %s", addr);
  else if (rt)
    nook_err(err, -r, "no systemd user manager on the user bus (DBUS_SESSION_BUS_ADDRESS unset, "
                      "%s/bus)", rt);
  else
    nook_errx(err, -r, "no user bus (DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR unset)");
}

static int bus_fail(nook_error *err, int r, const sd_bus_error *e, const char *what) {
  if (e && e->message)
    return nook_errx(err, -r, "%s: %s", what, e->message);
  return nook_err(err, -r, "%s", what);
}

/* ---- calls and jobs ---- */

/* One method call in flight and the jobs the manager has finished since
 * the watch began (a job can end before the reply naming it is read). */
struct call_watch {
  sd_bus_slot *match;
  sd_bus_message *reply; /* set once the call is answered */
  char **done_paths;
  char **done_results;
};

static int on_job_removed(sd_bus_message *m, void *data, sd_bus_error *ret_error) {
  struct call_watch *w = data;
  uint32_t id;
  const char *path, *unit, *result;
  if (sd.read(m, "uoss", &id, &path, &unit, &result) < 0)
    return 0;
  strv_push(&w->done_paths, path);
  strv_push(&w->done_results, result);
  return 0;
}

static int on_reply(sd_bus_message *m, void *data, sd_bus_error *ret_error) {
  struct call_watch *w = data;
  if (w->reply)
    sd.message_unref(w->reply);
  w->reply = sd.message_ref(m);
  return 0;
}

/* On the manager's own socket the match is only a filter here: it sends
 * every connection its signals. */
static int watch_jobs(sd_bus *bus, struct call_watch *w, nook_error *err) {
  int r = sd.add_match(bus, &w->match,
                       "type='signal',sender='" SD_DEST "',path='" SD_PATH "',interface='" SD_IFACE
                       "',member='JobRemoved'",
                       on_job_removed, w);
  if (r < 0)
    return nook_err(err, -r, "subscribe to systemd's JobRemoved");
  return 0;
}

static void call_watch_clear(struct call_watch *w) {
  if (w->match)
    sd.slot_unref(w->match);
  if (w->reply)
    sd.message_unref(w->reply);
  strv_free(w->done_paths);
  strv_free(w->done_results);
  *w = (struct call_watch){0};
}

static int call_async(sd_bus *bus, sd_bus_message *m, struct call_watch *w) {
  if (w->reply)
    sd.message_unref(w->reply);
  w->reply = NULL;
  return sd.call_async(bus, NULL, m, on_reply, w, JOB_TIMEOUT_US);
}

/* The result of the job at path once it has ended, else NULL. */
static const char *job_result(const struct call_watch *w, const char *path) {
  for (size_t i = 0; path && w->done_paths && w->done_paths[i]; i++)
    if (strcmp(w->done_paths[i], path) == 0)
      return w->done_results[i];
  return NULL;
}

/* Runs the connection until the call is answered (job NULL) or the job
 * has ended. */
static int bus_wait(sd_bus *bus, const struct call_watch *w, const char *job, const char *unit,
                    nook_error *err) {
  unsigned long long deadline = now_ns() + JOB_TIMEOUT_US * 1000ULL;
  for (;;) {
    if (job ? job_result(w, job) != NULL : w->reply != NULL)
      return 0;
    int r = sd.process(bus, NULL);
    if (r < 0)
      return nook_err(err, -r, "talk to systemd about %s", unit);
    if (r > 0)
      continue;
    unsigned long long now = now_ns();
    if (now >= deadline)
      return nook_errx(err, ETIMEDOUT, "systemd's job for %s did not finish in %llu s", unit,
                       JOB_TIMEOUT_US / 1000000ULL);
    r = sd.wait(bus, (deadline - now) / 1000ULL);
    if (r < 0)
      return nook_err(err, -r, "talk to systemd about %s", unit);
  }
}

/* The job a StartUnit-like call queued, or the manager's error: -errno,
 * with *e set to it. */
static int reply_job(const struct call_watch *w, const char **job, const sd_bus_error **e) {
  *e = sd.message_get_error(w->reply);
  if (*e)
    return -sd.error_get_errno(*e);
  return sd.read(w->reply, "o", job);
}

/* ---- properties ---- */

static int append_u64(sd_bus_message *m, const char *name, uint64_t v) {
  return sd.append(m, "(sv)", name, "t", v);
}

static int append_mask(sd_bus_message *m, const char *name, const char *list) {
  _cleanup_free_ uint8_t *mask = NULL;
  size_t n;
  int r = cgroup_cpu_list_mask(list, &mask, &n);
  if (r < 0)
    return r;
  if ((r = sd.open_container(m, 'r', "sv")) < 0 || (r = sd.append(m, "s", name)) < 0 ||
      (r = sd.open_container(m, 'v', "ay")) < 0 || (r = sd.append_array(m, 'y', mask, n)) < 0 ||
      (r = sd.close_container(m)) < 0 || (r = sd.close_container(m)) < 0)
    return r;
  return 0;
}

/* systemd keeps CPU quota per second and rounds it to 10 ms steps on its
 * own; rounding up here (as runc does) keeps what it writes >= the request. */
static uint64_t quota_per_sec(const struct cgroup_limits *l) {
  if (l->cpu_quota == CGROUP_MAX)
    return UINT64_MAX;
  uint64_t q = l->cpu_quota * 1000000ULL / l->cpu_period;
  if (q % 10000)
    q = (q / 10000 + 1) * 10000;
  return q;
}

static const char *unified_value(const struct cgroup_limits *l, const char *key) {
  for (size_t i = 0; i < l->n_unified; i++)
    if (strcmp(l->unified[i].key, key) == 0)
      return l->unified[i].value;
  return NULL;
}

static int append_resources(sd_bus_message *m, const struct cgroup_limits *l) {
  int r = 0;
  if (l->has_memory_max && (r = append_u64(m, "MemoryMax", l->memory_max)) < 0)
    return r;
  if (l->has_memory_low && (r = append_u64(m, "MemoryLow", l->memory_low)) < 0)
    return r;
  if (l->has_swap_max && (r = append_u64(m, "MemorySwapMax", l->swap_max)) < 0)
    return r;
  const char *high = unified_value(l, "memory.high");
  unsigned long long v;
  if (high && (strcmp(high, "max") == 0 || parse_u64(high, &v)) &&
      (r = append_u64(m, "MemoryHigh", strcmp(high, "max") == 0 ? UINT64_MAX : v)) < 0)
    return r;
  if (l->has_pids_max && (r = append_u64(m, "TasksMax", l->pids_max)) < 0)
    return r;
  if (l->has_cpu_weight && (r = append_u64(m, "CPUWeight", l->cpu_weight)) < 0)
    return r;
  if (l->has_cpu_max) {
    if ((r = append_u64(m, "CPUQuotaPerSecUSec", quota_per_sec(l))) < 0 ||
        (r = append_u64(m, "CPUQuotaPeriodUSec", l->cpu_period)) < 0)
      return r;
  }
  if (l->cpus && (r = append_mask(m, "AllowedCPUs", l->cpus)) < 0)
    return r;
  if (l->mems && (r = append_mask(m, "AllowedMemoryNodes", l->mems)) < 0)
    return r;
  if (l->has_io_weight &&
      (r = append_u64(m, "IOWeight", cgroup_blkio_to_io_weight(l->blkio_weight))) < 0)
    return r;
  return 0;
}

/* Annotations org.systemd.property.NAME=VALUE add unit properties, as runc
 * and crun take them; VALUE in GVariant text: "uint64 N", "int64 N",
 * "uint32 N", "int32 N", true, false, 'string'. */
#define PROPERTY_ANNOTATION "org.systemd.property."

static int append_annotation(sd_bus_message *m, const char *name, const char *value,
                             nook_error *err) {
  static const struct {
    const char *prefix;
    char type;
  } ints[] = {{"uint64 ", 't'}, {"int64 ", 'x'}, {"uint32 ", 'u'}, {"int32 ", 'i'}};
  int r;
  for (size_t i = 0; i < ARRAY_SIZE(ints); i++) {
    if (!str_has_prefix(value, ints[i].prefix))
      continue;
    const char *num = value + strlen(ints[i].prefix);
    long long sv;
    unsigned long long uv;
    bool is_signed = ints[i].type == 'x' || ints[i].type == 'i';
    if (is_signed ? !parse_i64(num, &sv) : !parse_u64(num, &uv))
      break;
    char sig[2] = {ints[i].type, '\0'};
    switch (ints[i].type) {
    case 't': r = sd.append(m, "(sv)", name, sig, (uint64_t)uv); break;
    case 'x': r = sd.append(m, "(sv)", name, sig, (int64_t)sv); break;
    case 'u': r = sd.append(m, "(sv)", name, sig, (uint32_t)uv); break;
    default: r = sd.append(m, "(sv)", name, sig, (int32_t)sv); break;
    }
    return r < 0 ? nook_err(err, -r, "annotation %s%s", PROPERTY_ANNOTATION, name) : 0;
  }
  if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0) {
    r = sd.append(m, "(sv)", name, "b", strcmp(value, "true") == 0);
    return r < 0 ? nook_err(err, -r, "annotation %s%s", PROPERTY_ANNOTATION, name) : 0;
  }
  size_t len = strlen(value);
  if (len >= 2 && (value[0] == '\'' || value[0] == '"') && value[len - 1] == value[0]) {
    _cleanup_free_ char *str = xstrndup(value + 1, len - 2);
    r = sd.append(m, "(sv)", name, "s", str);
    return r < 0 ? nook_err(err, -r, "annotation %s%s", PROPERTY_ANNOTATION, name) : 0;
  }
  return nook_errx(err, EINVAL,
                   "annotation %s%s: `%s` is not a value like \"uint64 1000\", true or 'text'",
                   PROPERTY_ANNOTATION, name, value);
}

static int append_annotations(sd_bus_message *m, const struct cgroup_request *req,
                              nook_error *err) {
  for (size_t i = 0; i < req->n_annotations; i++) {
    const char *key = req->annotations[i].key;
    if (!str_has_prefix(key, PROPERTY_ANNOTATION) || !key[strlen(PROPERTY_ANNOTATION)])
      continue;
    int r = append_annotation(m, key + strlen(PROPERTY_ANNOTATION), req->annotations[i].value, err);
    if (r < 0)
      return r;
  }
  return 0;
}

/* ---- names ---- */

/* cgroupsPath "slice:prefix:name" names the scope prefix-name.scope in that
 * slice, as runc and crun read it; anything else gets nook's defaults. */
static int unit_names(const struct cgroup_request *req, char **slice, char **unit,
                      nook_error *err) {
  const char *cp = req->cgroups_path;
  const char *c1 = cp ? strchr(cp, ':') : NULL;
  const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  if (c1 && (!c2 || strchr(c2 + 1, ':')))
    return nook_errx(err, EINVAL,
                     "linux.cgroupsPath `%s`: the systemd driver wants slice:prefix:name", cp);
  if (c2) {
    _cleanup_free_ char *s = xstrndup(cp, (size_t)(c1 - cp));
    _cleanup_free_ char *prefix = xstrndup(c1 + 1, (size_t)(c2 - c1 - 1));
    const char *name = c2 + 1;
    if (!*name)
      name = req->container_id;
    size_t nlen = strlen(name);
    if (nlen > 6 && strcmp(name + nlen - 6, ".slice") == 0)
      return nook_errx(err, ENOTSUP,
                       "linux.cgroupsPath `%s`: a slice as the container's unit is not supported; "
                       "name a scope", cp);
    if (*s && (strlen(s) < 7 || strcmp(s + strlen(s) - 6, ".slice") != 0 || strchr(s, '/')))
      return nook_errx(err, EINVAL, "linux.cgroupsPath `%s`: `%s` is not a slice name like "
                                    "user.slice", cp, s);
    *slice = *s ? steal_pointer(&s) : NULL;
    *unit = *prefix ? xasprintf("%s-%s.scope", prefix, name) : xasprintf("%s.scope", name);
  } else {
    if (cp && *cp)
      nook_debug("cgroup: linux.cgroupsPath `%s` is not slice:prefix:name; using nook-%s.scope",
                 cp, req->container_id);
    *slice = NULL;
    *unit = xasprintf("nook-%s.scope", req->container_id);
  }
  if (!*slice)
    *slice = xstrdup(req->rootless ? "user.slice" : "machine.slice");
  return 0;
}

/* ---- the driver ---- */

struct cgroup_systemd_start {
  sd_bus *bus;
  struct call_watch w;
  const struct cgroup_request *req;
  const struct cgroup_limits *l;
  pid_t pid;
  char *slice;
  char *unit;
};

static int send_start(struct cgroup_systemd_start *s, nook_error *err) {
  _cleanup_(msg_unrefp) sd_bus_message *m = NULL;
  _cleanup_free_ char *desc = xasprintf("nook container %s", s->req->container_id);
  int r;
  if ((r = sd.new_method_call(s->bus, &m, SD_DEST, SD_PATH, SD_IFACE, "StartTransientUnit")) < 0 ||
      (r = sd.append(m, "ss", s->unit, "fail")) < 0 ||
      (r = sd.open_container(m, 'a', "(sv)")) < 0 ||
      (r = sd.append(m, "(sv)", "Description", "s", desc)) < 0 ||
      (r = sd.append(m, "(sv)", "Slice", "s", s->slice)) < 0 ||
      (r = sd.append(m, "(sv)", "PIDs", "au", 1, (uint32_t)s->pid)) < 0 ||
      (r = sd.append(m, "(sv)", "Delegate", "b", 1)) < 0 ||
      (r = sd.append(m, "(sv)", "DefaultDependencies", "b", 0)) < 0 ||
      (r = sd.append(m, "(sv)", "CollectMode", "s", "inactive-or-failed")) < 0 ||
      (r = append_resources(m, s->l)) < 0)
    return nook_err(err, -r, "build the StartTransientUnit call for %s", s->unit);
  if ((r = append_annotations(m, s->req, err)) < 0)
    return r;
  if ((r = sd.close_container(m)) < 0 || (r = sd.append(m, "a(sa(sv))", 0)) < 0)
    return nook_err(err, -r, "build the StartTransientUnit call for %s", s->unit);
  if ((r = call_async(s->bus, m, &s->w)) < 0)
    return nook_err(err, -r, "StartTransientUnit");
  nook_stage("systemd: scope asked for");
  return 0;
}

/* Waits for the answer to StartTransientUnit and then for its job. A scope
 * of the same name that just emptied is collected by systemd a moment
 * later, so the call is repeated for a while; a live one stays, and is the
 * user's to deal with. */
static int await_start(struct cgroup_systemd_start *s, nook_error *err) {
  const char *job = NULL;
  int r;
  unsigned delay_us = 1000, waited_us = 0;
  for (;;) {
    if ((r = bus_wait(s->bus, &s->w, NULL, s->unit, err)) < 0)
      return r;
    const sd_bus_error *e;
    r = reply_job(&s->w, &job, &e);
    if (r >= 0) {
      nook_stage("systemd: scope job queued");
      break;
    }
    if (!e)
      return nook_err(err, -r, "read the job of StartTransientUnit");
    if (!sd.error_has_name(e, "org.freedesktop.systemd1.UnitExists")) {
      bus_fail(err, r, e, "StartTransientUnit");
      /* EINVAL is kept for the caller's "bad input": a manager that
       * rejects a property is a manager we cannot use. */
      return r == -EINVAL ? -EIO : r;
    }
    if (waited_us >= 1000000)
      return nook_errx(err, EEXIST, "systemd unit %s already exists (a container with this id "
                                    "is running, or its scope was left behind: `systemctl%s stop "
                                    "%s`)", s->unit, s->req->rootless ? " --user" : "", s->unit);
    usleep(delay_us);
    waited_us += delay_us;
    delay_us = delay_us >= 10000 ? 20000 : delay_us * 2;
    if ((r = send_start(s, err)) < 0)
      return r;
  }
  if ((r = bus_wait(s->bus, &s->w, job, s->unit, err)) < 0)
    return r;
  const char *result = job_result(&s->w, job);
  nook_stage("systemd: scope job done");
  if (strcmp(result, "done") != 0)
    return nook_errx(err, EIO, "systemd's job for %s ended with result `%s`", s->unit, result);
  return 0;
}

static void start_free(struct cgroup_systemd_start *s) {
  call_watch_clear(&s->w);
  if (s->bus)
    sd.close_unref(s->bus);
  free(s->slice);
  free(s->unit);
  free(s);
}

static int stop_unit(sd_bus *bus, const char *unit, nook_error *err) {
  _cleanup_(msg_unrefp) sd_bus_message *m = NULL;
  struct call_watch w = {0};
  int r = watch_jobs(bus, &w, err);
  if (r < 0)
    return r;
  if ((r = sd.new_method_call(bus, &m, SD_DEST, SD_PATH, SD_IFACE, "StopUnit")) < 0 ||
      (r = sd.append(m, "ss", unit, "replace")) < 0) {
    call_watch_clear(&w);
    return nook_err(err, -r, "build the StopUnit call for %s", unit);
  }
  if ((r = call_async(bus, m, &w)) < 0) {
    call_watch_clear(&w);
    return nook_err(err, -r, "StopUnit");
  }
  if ((r = bus_wait(bus, &w, NULL, unit, err)) < 0) {
    call_watch_clear(&w);
    return r;
  }
  const char *job;
  const sd_bus_error *e;
  r = reply_job(&w, &job, &e);
  if (r < 0) {
    if (e && sd.error_has_name(e, "org.freedesktop.systemd1.NoSuchUnit"))
      r = 0; /* stopped and collected already: the scope went when it emptied */
    else if (e)
      bus_fail(err, r, e, "StopUnit");
    else
      nook_err(err, -r, "read the job of StopUnit");
    call_watch_clear(&w);
    return r;
  }
  _cleanup_free_ char *job_path = xstrdup(job);
  nook_stage("systemd: stop job queued");
  r = bus_wait(bus, &w, job_path, unit, err);
  nook_stage("systemd: stop job done");
  bool failed = r < 0 || strcmp(job_result(&w, job_path), "done") != 0;
  call_watch_clear(&w);
  if (failed) {
    /* A failed unit stays loaded until reset; CollectMode covers most,
     * this covers older systemd. */
    _cleanup_(msg_unrefp) sd_bus_message *m2 = NULL;
    _cleanup_(bus_error_freep) sd_bus_error e2 = SD_BUS_ERROR_NULL;
    if (sd.new_method_call(bus, &m2, SD_DEST, SD_PATH, SD_IFACE, "ResetFailedUnit") >= 0 &&
        sd.append(m2, "s", unit) >= 0)
      (void)sd.call(bus, m2, JOB_TIMEOUT_US, &e2, NULL);
  }
  return r;
}

static bool ends_with_unit(const char *path, const char *unit) {
  size_t pl = strlen(path), ul = strlen(unit);
  return pl > ul && path[pl - ul - 1] == '/' && strcmp(path + pl - ul, unit) == 0;
}

int cgroup_systemd_begin(const struct cgroup_request *req, const struct cgroup_limits *l, pid_t pid,
                         struct cgroup_systemd_start **out, nook_error *err) {
  struct cgroup_systemd_start *s = xcalloc(1, sizeof(*s));
  s->req = req;
  s->l = l;
  s->pid = pid;
  int r = unit_names(req, &s->slice, &s->unit, err);
  if (r == 0 && !cgroup_v2_mounted())
    r = nook_errx(err, ENOTSUP, CGROUP_MOUNT " is not cgroup v2 (a hybrid or v1 hierarchy)");
  if (r == 0)
    r = open_bus(req->rootless, &s->bus, err);
  if (r == 0)
    r = watch_jobs(s->bus, &s->w, err);
  if (r == 0)
    r = send_start(s, err);
  if (r < 0) {
    start_free(s);
    return r;
  }
  *out = s;
  return 0;
}

int cgroup_systemd_finish(struct cgroup_systemd_start *s, struct cgroup_handle *out,
                          char ***not_applied, nook_error *err) {
  _cleanup_free_ char *path = NULL;
  int r = await_start(s, err);
  /* Where systemd put it, relative to our view of the hierarchy. */
  if (r == 0 && ((r = cgroup_of_pid(s->pid, &path, err)) < 0 || !ends_with_unit(path, s->unit))) {
    if (r == 0)
      r = nook_errx(err, EIO, "systemd started %s, but the container's cgroup is %s", s->unit,
                    path);
    stop_unit(s->bus, s->unit, &(nook_error){0});
  }
  if (r == 0) {
    /* What systemd has no property for is written into the delegated
     * scope directly. */
    struct cgroup_write *w = NULL;
    size_t n = 0;
    cgroup_limits_writes(s->l, true, &w, &n);
    r = cgroup_apply_writes(path, w, n, not_applied, err);
    cgroup_writes_free(w, n);
    if (r < 0)
      stop_unit(s->bus, s->unit, &(nook_error){0});
  }
  if (r == 0) {
    out->path = steal_pointer(&path);
    out->manager = xstrdup("systemd");
    out->unit = steal_pointer(&s->unit);
  }
  start_free(s);
  return r;
}

void cgroup_systemd_abandon(struct cgroup_systemd_start *s) {
  if (!s)
    return;
  nook_error ignored = {0};
  if (await_start(s, &ignored) == 0)
    stop_unit(s->bus, s->unit, &ignored);
  start_free(s);
}

int cgroup_systemd_stop(const char *unit, bool user_bus, nook_error *err) {
  _cleanup_(bus_closep) sd_bus *bus = NULL;
  int r = open_bus(user_bus, &bus, err);
  if (r < 0)
    return r;
  return stop_unit(bus, unit, err);
}

int cgroup_systemd_update(const char *unit, bool user_bus, const struct cgroup_limits *l,
                          nook_error *err) {
  _cleanup_(bus_closep) sd_bus *bus = NULL;
  _cleanup_(msg_unrefp) sd_bus_message *m = NULL;
  _cleanup_(bus_error_freep) sd_bus_error e = SD_BUS_ERROR_NULL;
  int r = open_bus(user_bus, &bus, err);
  if (r < 0)
    return r;
  if ((r = sd.new_method_call(bus, &m, SD_DEST, SD_PATH, SD_IFACE, "SetUnitProperties")) < 0 ||
      (r = sd.append(m, "sb", unit, 1)) < 0 || (r = sd.open_container(m, 'a', "(sv)")) < 0 ||
      (r = append_resources(m, l)) < 0 || (r = sd.close_container(m)) < 0)
    return nook_err(err, -r, "build the SetUnitProperties call for %s", unit);
  r = sd.call(bus, m, JOB_TIMEOUT_US, &e, NULL);
  if (r < 0)
    return bus_fail(err, r, &e, "SetUnitProperties");
  return 0;
}
