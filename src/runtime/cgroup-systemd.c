/* The systemd driver: a transient scope per container, started over sd-bus
 * on the user manager (rootless) or the system manager (root), with
 * Delegate=yes and the limits as unit properties, so systemd knows the
 * cgroup is ours and keeps the limits across its own reloads.
 *
 * libsystemd is dlopen()ed: linking it would cost every other command its
 * load time. */
#include <dlfcn.h>
#include <inttypes.h>
#include <string.h>
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
static void slot_unrefp(sd_bus_slot **s) {
  if (*s)
    sd.slot_unref(*s);
}
static void bus_error_freep(sd_bus_error *e) { sd.error_free(e); }

static void connect_failed(nook_error *err, bool user_bus, int r);

/* The manager's own socket, as systemctl uses as root: no message broker in
 * between (half the round trips), no Hello, and it sends its signals to
 * every such connection. */
static int open_private(bool user_bus, sd_bus **bus) {
  const char *rt = getenv("XDG_RUNTIME_DIR");
  if (user_bus && (!rt || !*rt))
    return -ENOENT;
  _cleanup_free_ char *path =
      user_bus ? xasprintf("%s/systemd/private", rt) : xstrdup("/run/systemd/private");
  if (access(path, W_OK) < 0)
    return -errno;
  _cleanup_free_ char *address = xasprintf("unix:path=%s", path);
  sd_bus *b = NULL;
  int r = sd.new_bus(&b);
  if (r < 0)
    return r;
  if ((r = sd.set_address(b, address)) < 0 || (r = sd.start(b)) < 0) {
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

/* ---- jobs ---- */

struct job_watch {
  const char *path; /* set once the job is known */
  char **done_paths;
  char **done_results;
};

static int on_job_removed(sd_bus_message *m, void *data, sd_bus_error *ret_error) {
  struct job_watch *w = data;
  uint32_t id;
  const char *path, *unit, *result;
  if (sd.read(m, "uoss", &id, &path, &unit, &result) < 0)
    return 0;
  strv_push(&w->done_paths, path);
  strv_push(&w->done_results, result);
  return 0;
}

static int add_job_watch(sd_bus *bus, sd_bus_slot **slot, struct job_watch *w, nook_error *err) {
  int r = sd.add_match(bus, slot,
                       "type='signal',sender='" SD_DEST "',path='" SD_PATH "',interface='" SD_IFACE
                       "',member='JobRemoved'",
                       on_job_removed, w);
  if (r < 0)
    return nook_err(err, -r, "subscribe to systemd's JobRemoved");
  return 0;
}

static int wait_job(sd_bus *bus, struct job_watch *w, const char *unit, nook_error *err) {
  unsigned long long deadline = now_ns() + JOB_TIMEOUT_US * 1000ULL;
  for (;;) {
    for (size_t i = 0; w->done_paths && w->done_paths[i]; i++) {
      if (strcmp(w->done_paths[i], w->path) != 0)
        continue;
      if (strcmp(w->done_results[i], "done") == 0)
        return 0;
      return nook_errx(err, EIO, "systemd's job for %s ended with result `%s`", unit,
                       w->done_results[i]);
    }
    int r = sd.process(bus, NULL);
    if (r < 0)
      return nook_err(err, -r, "wait for systemd's job for %s", unit);
    if (r > 0)
      continue;
    unsigned long long now = now_ns();
    if (now >= deadline)
      return nook_errx(err, ETIMEDOUT, "systemd's job for %s did not finish in %llu s", unit,
                       JOB_TIMEOUT_US / 1000000ULL);
    r = sd.wait(bus, (deadline - now) / 1000ULL);
    if (r < 0)
      return nook_err(err, -r, "wait for systemd's job for %s", unit);
  }
}

static void job_watch_clear(struct job_watch *w) {
  strv_free(w->done_paths);
  strv_free(w->done_results);
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

static int start_scope(sd_bus *bus, const struct cgroup_request *req, const struct cgroup_limits *l,
                       const char *slice, const char *unit, pid_t pid, nook_error *err) {
  _cleanup_(slot_unrefp) sd_bus_slot *slot = NULL;
  _cleanup_(msg_unrefp) sd_bus_message *m = NULL, *reply = NULL;
  _cleanup_(bus_error_freep) sd_bus_error e = SD_BUS_ERROR_NULL;
  struct job_watch w = {0};
  int r = add_job_watch(bus, &slot, &w, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *desc = xasprintf("nook container %s", req->container_id);
  if ((r = sd.new_method_call(bus, &m, SD_DEST, SD_PATH, SD_IFACE, "StartTransientUnit")) < 0 ||
      (r = sd.append(m, "ss", unit, "fail")) < 0 || (r = sd.open_container(m, 'a', "(sv)")) < 0 ||
      (r = sd.append(m, "(sv)", "Description", "s", desc)) < 0 ||
      (r = sd.append(m, "(sv)", "Slice", "s", slice)) < 0 ||
      (r = sd.append(m, "(sv)", "PIDs", "au", 1, (uint32_t)pid)) < 0 ||
      (r = sd.append(m, "(sv)", "Delegate", "b", 1)) < 0 ||
      (r = sd.append(m, "(sv)", "DefaultDependencies", "b", 0)) < 0 ||
      (r = sd.append(m, "(sv)", "CollectMode", "s", "inactive-or-failed")) < 0 ||
      (r = append_resources(m, l)) < 0) {
    job_watch_clear(&w);
    return nook_err(err, -r, "build the StartTransientUnit call for %s", unit);
  }
  if ((r = append_annotations(m, req, err)) < 0) {
    job_watch_clear(&w);
    return r;
  }
  if ((r = sd.close_container(m)) < 0 || (r = sd.append(m, "a(sa(sv))", 0)) < 0) {
    job_watch_clear(&w);
    return nook_err(err, -r, "build the StartTransientUnit call for %s", unit);
  }
  r = sd.call(bus, m, JOB_TIMEOUT_US, &e, &reply);
  if (r < 0) {
    job_watch_clear(&w);
    if (sd.error_has_name(&e, "org.freedesktop.systemd1.UnitExists"))
      return nook_errx(err, EEXIST, "systemd unit %s already exists (a container with this id "
                                    "is running, or its scope was left behind: `systemctl%s stop "
                                    "%s`)", unit, req->rootless ? " --user" : "", unit);
    bus_fail(err, r, &e, "StartTransientUnit");
    /* EINVAL is kept for the caller's "bad input": a manager that rejects a
     * property is a manager we cannot use. */
    return r == -EINVAL ? -EIO : r;
  }
  if ((r = sd.read(reply, "o", &w.path)) < 0) {
    job_watch_clear(&w);
    return nook_err(err, -r, "read the job of StartTransientUnit");
  }
  r = wait_job(bus, &w, unit, err);
  job_watch_clear(&w);
  return r;
}

static int stop_unit(sd_bus *bus, const char *unit, nook_error *err) {
  _cleanup_(slot_unrefp) sd_bus_slot *slot = NULL;
  _cleanup_(msg_unrefp) sd_bus_message *m = NULL, *reply = NULL;
  _cleanup_(bus_error_freep) sd_bus_error e = SD_BUS_ERROR_NULL;
  struct job_watch w = {0};
  int r = add_job_watch(bus, &slot, &w, err);
  if (r < 0)
    return r;
  if ((r = sd.new_method_call(bus, &m, SD_DEST, SD_PATH, SD_IFACE, "StopUnit")) < 0 ||
      (r = sd.append(m, "ss", unit, "replace")) < 0) {
    job_watch_clear(&w);
    return nook_err(err, -r, "build the StopUnit call for %s", unit);
  }
  r = sd.call(bus, m, JOB_TIMEOUT_US, &e, &reply);
  if (r < 0) {
    job_watch_clear(&w);
    if (sd.error_has_name(&e, "org.freedesktop.systemd1.NoSuchUnit"))
      return 0; /* stopped and collected already: the scope went when it emptied */
    return bus_fail(err, r, &e, "StopUnit");
  }
  if ((r = sd.read(reply, "o", &w.path)) >= 0)
    r = wait_job(bus, &w, unit, err);
  else
    r = nook_err(err, -r, "read the job of StopUnit");
  job_watch_clear(&w);

  /* A failed unit stays loaded until reset; CollectMode covers most, this
   * covers older systemd. */
  _cleanup_(msg_unrefp) sd_bus_message *m2 = NULL;
  _cleanup_(bus_error_freep) sd_bus_error e2 = SD_BUS_ERROR_NULL;
  if (sd.new_method_call(bus, &m2, SD_DEST, SD_PATH, SD_IFACE, "ResetFailedUnit") >= 0 &&
      sd.append(m2, "s", unit) >= 0)
    (void)sd.call(bus, m2, JOB_TIMEOUT_US, &e2, NULL);
  return r;
}

static bool ends_with_unit(const char *path, const char *unit) {
  size_t pl = strlen(path), ul = strlen(unit);
  return pl > ul && path[pl - ul - 1] == '/' && strcmp(path + pl - ul, unit) == 0;
}

int cgroup_systemd_enter(const struct cgroup_request *req, const struct cgroup_limits *l, pid_t pid,
                         struct cgroup_handle *out, char ***not_applied, nook_error *err) {
  _cleanup_free_ char *slice = NULL, *unit = NULL, *path = NULL;
  int r = unit_names(req, &slice, &unit, err);
  if (r < 0)
    return r;
  if (!cgroup_v2_mounted())
    return nook_errx(err, ENOTSUP, CGROUP_MOUNT " is not cgroup v2 (a hybrid or v1 hierarchy)");
  _cleanup_(bus_closep) sd_bus *bus = NULL;
  if ((r = open_bus(req->rootless, &bus, err)) < 0)
    return r;
  /* A scope of the same name that just emptied is collected by systemd a
   * moment later; a live one stays, and is the user's to deal with. */
  for (int tries = 0;; tries++) {
    r = start_scope(bus, req, l, slice, unit, pid, err);
    if (r != -EEXIST || tries >= 50)
      break;
    usleep(20000);
  }
  if (r < 0)
    return r;

  /* Where systemd put it, relative to our view of the hierarchy. */
  if ((r = cgroup_of_pid(pid, &path, err)) < 0 || !ends_with_unit(path, unit)) {
    if (r == 0)
      r = nook_errx(err, EIO, "systemd started %s, but the container's cgroup is %s", unit, path);
    stop_unit(bus, unit, &(nook_error){0});
    return r;
  }

  /* What systemd has no property for is written into the delegated scope
   * directly. */
  struct cgroup_write *w = NULL;
  size_t n = 0;
  cgroup_limits_writes(l, true, &w, &n);
  r = cgroup_apply_writes(path, w, n, not_applied, err);
  cgroup_writes_free(w, n);
  if (r < 0) {
    stop_unit(bus, unit, &(nook_error){0});
    return r;
  }
  out->path = steal_pointer(&path);
  out->manager = xstrdup("systemd");
  out->unit = steal_pointer(&unit);
  return 0;
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
