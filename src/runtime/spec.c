/* config.json into struct spec. Unknown keys are ignored so newer configs
 * still load; a known key holding the wrong type is an error naming its JSON
 * path (the readers are in spec-json.c). */
#include "spec.h"

#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "caps.h"
#include "spec-json.h"
#include "util.h"

const char *const spec_ns_names[SPEC_NS_COUNT] = {
    [SPEC_NS_USER] = "user",     [SPEC_NS_MOUNT] = "mount", [SPEC_NS_PID] = "pid",
    [SPEC_NS_NET] = "network",   [SPEC_NS_UTS] = "uts",     [SPEC_NS_IPC] = "ipc",
    [SPEC_NS_CGROUP] = "cgroup", [SPEC_NS_TIME] = "time",
};

const char *const spec_hook_names[SPEC_HOOK_COUNT] = {
    [SPEC_HOOK_PRESTART] = "prestart",
    [SPEC_HOOK_CREATE_RUNTIME] = "createRuntime",
    [SPEC_HOOK_CREATE_CONTAINER] = "createContainer",
    [SPEC_HOOK_START_CONTAINER] = "startContainer",
    [SPEC_HOOK_POSTSTART] = "poststart",
    [SPEC_HOOK_POSTSTOP] = "poststop",
};

static const char *const rlimit_names[] = {
    "RLIMIT_AS",     "RLIMIT_CORE",   "RLIMIT_CPU",        "RLIMIT_DATA",
    "RLIMIT_FSIZE",  "RLIMIT_LOCKS",  "RLIMIT_MEMLOCK",    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",   "RLIMIT_NOFILE", "RLIMIT_NPROC",      "RLIMIT_RSS",
    "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
};

static int parse_idmap(struct json_ctx *c, yajl_val v, void *item) {
  struct spec_idmap *m = item;
  int r;
  if ((r = json_req_u32(c, v, "containerID", &m->container_id)) < 0 ||
      (r = json_req_u32(c, v, "hostID", &m->host_id)) < 0 ||
      (r = json_req_u32(c, v, "size", &m->size)) < 0)
    return r;
  if (m->size == 0) {
    size_t saved = json_push_key(c, "size");
    r = json_bad(c, "must be at least 1");
    json_pop(c, saved);
    return r;
  }
  return 0;
}

static int parse_mount(struct json_ctx *c, yajl_val v, void *item) {
  struct spec_mount *m = item;
  int r;
  if ((r = json_req_string(c, v, "destination", &m->destination)) < 0 ||
      (r = json_opt_string(c, v, "type", &m->type)) < 0 ||
      (r = json_opt_string(c, v, "source", &m->source)) < 0 ||
      (r = json_opt_strv(c, v, "options", &m->options)) < 0 ||
      (r = json_opt_items(c, v, "uidMappings", parse_idmap, sizeof(struct spec_idmap),
                          (void **)&m->uid_mappings, &m->n_uid_mappings)) < 0 ||
      (r = json_opt_items(c, v, "gidMappings", parse_idmap, sizeof(struct spec_idmap),
                          (void **)&m->gid_mappings, &m->n_gid_mappings)) < 0)
    return r;
  if (!m->destination[0]) {
    size_t saved = json_push_key(c, "destination");
    r = json_bad(c, "must not be empty");
    json_pop(c, saved);
    return r;
  }
  return 0;
}

static int parse_rlimit(struct json_ctx *c, yajl_val v, void *item) {
  struct spec_rlimit *rl = item;
  int r;
  if ((r = json_req_string(c, v, "type", &rl->type)) < 0 ||
      (r = json_req_u64(c, v, "soft", &rl->soft)) < 0 ||
      (r = json_req_u64(c, v, "hard", &rl->hard)) < 0)
    return r;
  bool known = false;
  for (size_t i = 0; i < ARRAY_SIZE(rlimit_names); i++)
    known = known || strcmp(rl->type, rlimit_names[i]) == 0;
  if (!known) {
    size_t saved = json_push_key(c, "type");
    r = json_bad(c, "unknown resource limit \"%s\" (RLIMIT_NOFILE, RLIMIT_NPROC, ...)", rl->type);
    json_pop(c, saved);
    return r;
  }
  if (rl->soft > rl->hard)
    return json_bad(c, "soft limit %llu is above the hard limit %llu", (unsigned long long)rl->soft,
                    (unsigned long long)rl->hard);
  return 0;
}

static int parse_user(struct json_ctx *c, yajl_val v, struct spec_user *u) {
  int r;
  if ((r = json_opt_u32(c, v, "uid", &u->uid)) < 0 ||
      (r = json_opt_u32(c, v, "gid", &u->gid)) < 0 ||
      (r = json_opt_string(c, v, "username", &u->username)) < 0)
    return r;
  if ((r = json_opt_u32(c, v, "umask", &u->umask)) < 0)
    return r;
  u->has_umask = r > 0;
  yajl_val gids;
  if ((r = json_opt_array(c, v, "additionalGids", &gids)) <= 0)
    return r;
  size_t saved = json_push_key(c, "additionalGids");
  u->additional_gids = xcalloc(gids->u.array.len, sizeof(uint32_t));
  u->n_additional_gids = gids->u.array.len;
  for (size_t i = 0; i < gids->u.array.len && r >= 0; i++) {
    size_t s2 = json_push_index(c, i);
    r = json_val_u32(c, gids->u.array.values[i], &u->additional_gids[i]);
    json_pop(c, s2);
  }
  json_pop(c, saved);
  return r < 0 ? r : 0;
}

/* An unknown name fails create, as with runc and crun, not the start of the
 * container's process. */
static int check_cap_names(struct json_ctx *c, const char *key, char **names) {
  for (size_t i = 0; names && names[i]; i++) {
    cap_value_t v;
    if (caps_parse_name(names[i], &v) < 0) {
      size_t saved = json_push_key(c, key);
      int r = json_bad(c, "unknown capability `%s` (names such as CAP_CHOWN)", names[i]);
      json_pop(c, saved);
      return r;
    }
  }
  return 0;
}

static int parse_capabilities(struct json_ctx *c, yajl_val v, struct spec_capabilities *caps) {
  int r;
  if ((r = json_opt_strv(c, v, "bounding", &caps->bounding)) < 0 ||
      (r = json_opt_strv(c, v, "effective", &caps->effective)) < 0 ||
      (r = json_opt_strv(c, v, "inheritable", &caps->inheritable)) < 0 ||
      (r = json_opt_strv(c, v, "permitted", &caps->permitted)) < 0 ||
      (r = json_opt_strv(c, v, "ambient", &caps->ambient)) < 0)
    return r;
  if ((r = check_cap_names(c, "bounding", caps->bounding)) < 0 ||
      (r = check_cap_names(c, "effective", caps->effective)) < 0 ||
      (r = check_cap_names(c, "inheritable", caps->inheritable)) < 0 ||
      (r = check_cap_names(c, "permitted", caps->permitted)) < 0 ||
      (r = check_cap_names(c, "ambient", caps->ambient)) < 0)
    return r;
  return 0;
}

static int parse_io_priority(struct json_ctx *c, yajl_val v, struct spec_io_priority *io) {
  int r;
  if ((r = json_req_string(c, v, "class", &io->class_name)) < 0 ||
      (r = json_opt_int(c, v, "priority", &io->priority)) < 0)
    return r;
  if (strcmp(io->class_name, "IOPRIO_CLASS_RT") && strcmp(io->class_name, "IOPRIO_CLASS_BE") &&
      strcmp(io->class_name, "IOPRIO_CLASS_IDLE")) {
    size_t saved = json_push_key(c, "class");
    r = json_bad(c, "unknown class \"%s\" (IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE)",
                 io->class_name);
    json_pop(c, saved);
    return r;
  }
  io->set = true;
  return 0;
}

static int parse_scheduler(struct json_ctx *c, yajl_val v, struct spec_scheduler *s) {
  int r;
  if ((r = json_req_string(c, v, "policy", &s->policy)) < 0 ||
      (r = json_opt_int(c, v, "nice", &s->nice)) < 0 ||
      (r = json_opt_int(c, v, "priority", &s->priority)) < 0 ||
      (r = json_opt_strv(c, v, "flags", &s->flags)) < 0 ||
      (r = json_opt_u64(c, v, "runtime", &s->runtime)) < 0 ||
      (r = json_opt_u64(c, v, "deadline", &s->deadline)) < 0 ||
      (r = json_opt_u64(c, v, "period", &s->period)) < 0)
    return r;
  s->set = true;
  return 0;
}

/* Evaluates body (which reads `var`) when obj has an object at key, with the
 * path set to key; 0 when absent. */
#define WITH_OBJECT(c, obj, key, var, body)                                                        \
  ({                                                                                               \
    yajl_val var;                                                                                  \
    int r_ = json_opt_object(c, obj, key, &var);                                                   \
    if (r_ > 0) {                                                                                  \
      size_t saved_ = json_push_key(c, key);                                                       \
      r_ = (body);                                                                                 \
      json_pop(c, saved_);                                                                         \
    }                                                                                              \
    r_;                                                                                            \
  })

static int parse_console_size(struct json_ctx *c, yajl_val v, struct spec_process *p) {
  int r;
  if ((r = json_req_u32(c, v, "height", &p->console_height)) < 0 ||
      (r = json_req_u32(c, v, "width", &p->console_width)) < 0)
    return r;
  p->has_console_size = true;
  return 0;
}

static int parse_exec_cpu_affinity(struct json_ctx *c, yajl_val v, struct spec_process *p) {
  int r;
  if ((r = json_opt_string(c, v, "initial", &p->exec_cpu_affinity_initial)) < 0 ||
      (r = json_opt_string(c, v, "final", &p->exec_cpu_affinity_final)) < 0)
    return r;
  return 0;
}

static int parse_process_object(struct json_ctx *c, yajl_val v, struct spec_process *p) {
  int r;
  if ((r = json_opt_bool(c, v, "terminal", &p->terminal)) < 0)
    return r;
  if ((r = WITH_OBJECT(c, v, "consoleSize", cs, parse_console_size(c, cs, p))) < 0)
    return r;
  if ((r = WITH_OBJECT(c, v, "user", u, parse_user(c, u, &p->user))) < 0)
    return r;
  if ((r = json_opt_strv(c, v, "args", &p->args)) < 0)
    return r;
  if (r == 0)
    return json_missing(c, "args");
  if (!p->args[0]) {
    size_t saved = json_push_key(c, "args");
    r = json_bad(c, "must name the program to run (it is empty)");
    json_pop(c, saved);
    return r;
  }
  if ((r = json_opt_strv(c, v, "env", &p->env)) < 0 ||
      (r = json_req_string(c, v, "cwd", &p->cwd)) < 0)
    return r;
  if (p->cwd[0] != '/') {
    size_t saved = json_push_key(c, "cwd");
    r = json_bad(c, "must be an absolute path, not \"%s\"", p->cwd);
    json_pop(c, saved);
    return r;
  }
  yajl_val caps;
  if ((r = json_opt_object(c, v, "capabilities", &caps)) < 0)
    return r;
  if (caps) {
    p->capabilities = xcalloc(1, sizeof(*p->capabilities));
    size_t saved = json_push_key(c, "capabilities");
    r = parse_capabilities(c, caps, p->capabilities);
    json_pop(c, saved);
    if (r < 0)
      return r;
  }
  if ((r = json_opt_items(c, v, "rlimits", parse_rlimit, sizeof(struct spec_rlimit),
                          (void **)&p->rlimits, &p->n_rlimits)) < 0)
    return r;
  for (size_t i = 0; i < p->n_rlimits; i++)
    for (size_t j = 0; j < i; j++)
      if (strcmp(p->rlimits[i].type, p->rlimits[j].type) == 0) {
        size_t saved = json_push_key(c, "rlimits");
        json_push_index(c, i);
        r = json_bad(c, "%s is listed twice", p->rlimits[i].type);
        json_pop(c, saved);
        return r;
      }
  if ((r = json_opt_bool(c, v, "noNewPrivileges", &p->no_new_privileges)) < 0 ||
      (r = json_opt_string(c, v, "apparmorProfile", &p->apparmor_profile)) < 0 ||
      (r = json_opt_string(c, v, "selinuxLabel", &p->selinux_label)) < 0)
    return r;
  yajl_val oom = json_get(v, "oomScoreAdj");
  if (oom) {
    int64_t n;
    size_t saved = json_push_key(c, "oomScoreAdj");
    r = json_val_i64(c, oom, -1000, 1000, &n);
    json_pop(c, saved);
    if (r < 0)
      return r;
    p->has_oom_score_adj = true;
    p->oom_score_adj = (int)n;
  }
  if ((r = WITH_OBJECT(c, v, "ioPriority", io, parse_io_priority(c, io, &p->io_priority))) < 0 ||
      (r = WITH_OBJECT(c, v, "scheduler", s, parse_scheduler(c, s, &p->scheduler))) < 0)
    return r;
  r = WITH_OBJECT(c, v, "execCPUAffinity", aff, parse_exec_cpu_affinity(c, aff, p));
  return r < 0 ? r : 0;
}

static int parse_hook(struct json_ctx *c, yajl_val v, void *item) {
  struct spec_hook *h = item;
  int r;
  if ((r = json_req_string(c, v, "path", &h->path)) < 0 ||
      (r = json_opt_strv(c, v, "args", &h->args)) < 0 ||
      (r = json_opt_strv(c, v, "env", &h->env)) < 0)
    return r;
  if (h->path[0] != '/') {
    size_t saved = json_push_key(c, "path");
    r = json_bad(c, "must be an absolute path, not \"%s\"", h->path);
    json_pop(c, saved);
    return r;
  }
  if ((r = json_opt_int(c, v, "timeout", &h->timeout)) < 0)
    return r;
  if (r > 0 && h->timeout <= 0) {
    size_t saved = json_push_key(c, "timeout");
    r = json_bad(c, "must be greater than zero, not %d", h->timeout);
    json_pop(c, saved);
    return r;
  }
  return 0;
}

static int parse_hooks(struct json_ctx *c, yajl_val v, struct spec *spec) {
  for (int k = 0; k < SPEC_HOOK_COUNT; k++) {
    int r = json_opt_items(c, v, spec_hook_names[k], parse_hook, sizeof(struct spec_hook),
                           (void **)&spec->hooks[k].hooks, &spec->hooks[k].n);
    if (r < 0)
      return r;
  }
  return 0;
}

static int parse_namespace(struct json_ctx *c, yajl_val v, struct spec *spec) {
  _cleanup_free_ char *type = NULL, *path = NULL;
  int r;
  if ((r = json_req_string(c, v, "type", &type)) < 0 ||
      (r = json_opt_string(c, v, "path", &path)) < 0)
    return r;
  int t = 0;
  while (t < SPEC_NS_COUNT && strcmp(type, spec_ns_names[t]) != 0)
    t++;
  size_t saved = json_push_key(c, "type");
  if (t == SPEC_NS_COUNT)
    r = json_bad(c,
                 "unknown namespace type \"%s\" (user, mount, pid, network, uts, ipc, cgroup "
                 "or time)",
                 type);
  else if (spec->namespaces[t].enabled)
    r = json_bad(c, "namespace \"%s\" is listed twice", type);
  json_pop(c, saved);
  if (r < 0)
    return r;
  if (path && path[0] != '/') {
    saved = json_push_key(c, "path");
    r = json_bad(c, "must be an absolute path, not \"%s\"", path);
    json_pop(c, saved);
    return r;
  }
  spec->namespaces[t].enabled = true;
  spec->namespaces[t].path = path && path[0] ? steal_pointer(&path) : NULL;
  return 0;
}

static int parse_device(struct json_ctx *c, yajl_val v, void *item) {
  struct spec_device *d = item;
  _cleanup_free_ char *type = NULL;
  int r;
  if ((r = json_req_string(c, v, "path", &d->path)) < 0 ||
      (r = json_req_string(c, v, "type", &type)) < 0)
    return r;
  if (d->path[0] != '/') {
    size_t saved = json_push_key(c, "path");
    r = json_bad(c, "must be an absolute path, not \"%s\"", d->path);
    json_pop(c, saved);
    return r;
  }
  if (strlen(type) != 1 || !strchr("cbup", type[0])) {
    size_t saved = json_push_key(c, "type");
    r = json_bad(c, "unknown device type \"%s\" (c, b, u or p)", type);
    json_pop(c, saved);
    return r;
  }
  d->type = type[0];
  static const char *const numbers[] = {"major", "minor"};
  int64_t *dest[] = {&d->major, &d->minor};
  for (int i = 0; i < 2; i++) {
    yajl_val n = json_get(v, numbers[i]);
    if (!n) {
      if (d->type != 'p')
        return json_missing(c, numbers[i]);
      continue;
    }
    size_t saved = json_push_key(c, numbers[i]);
    r = json_val_i64(c, n, 0, INT64_MAX, dest[i]);
    json_pop(c, saved);
    if (r < 0)
      return r;
  }
  if ((r = json_opt_u32(c, v, "fileMode", &d->file_mode)) < 0)
    return r;
  d->has_file_mode = r > 0;
  if ((r = json_opt_u32(c, v, "uid", &d->uid)) < 0)
    return r;
  d->has_uid = r > 0;
  if ((r = json_opt_u32(c, v, "gid", &d->gid)) < 0)
    return r;
  d->has_gid = r > 0;
  return 0;
}

static int parse_seccomp_arg(struct json_ctx *c, yajl_val v, void *item) {
  struct spec_seccomp_arg *a = item;
  int r;
  if ((r = json_req_u32(c, v, "index", &a->index)) < 0 ||
      (r = json_req_u64(c, v, "value", &a->value)) < 0 ||
      (r = json_opt_u64(c, v, "valueTwo", &a->value_two)) < 0 ||
      (r = json_req_string(c, v, "op", &a->op)) < 0)
    return r;
  return 0;
}

static int parse_seccomp_syscall(struct json_ctx *c, yajl_val v, void *item) {
  struct spec_seccomp_syscall *s = item;
  int r;
  if ((r = json_opt_strv(c, v, "names", &s->names)) < 0)
    return r;
  if (r == 0)
    return json_missing(c, "names");
  if ((r = json_req_string(c, v, "action", &s->action)) < 0 ||
      (r = json_opt_u32(c, v, "errnoRet", &s->errno_ret)) < 0)
    return r;
  s->has_errno_ret = r > 0;
  return json_opt_items(c, v, "args", parse_seccomp_arg, sizeof(struct spec_seccomp_arg),
                        (void **)&s->args, &s->n_args);
}

static int parse_seccomp(struct json_ctx *c, yajl_val v, struct spec_seccomp *s) {
  int r;
  if ((r = json_req_string(c, v, "defaultAction", &s->default_action)) < 0 ||
      (r = json_opt_u32(c, v, "defaultErrnoRet", &s->default_errno_ret)) < 0)
    return r;
  s->has_default_errno_ret = r > 0;
  if ((r = json_opt_strv(c, v, "architectures", &s->architectures)) < 0 ||
      (r = json_opt_strv(c, v, "flags", &s->flags)) < 0 ||
      (r = json_opt_string(c, v, "listenerPath", &s->listener_path)) < 0 ||
      (r = json_opt_string(c, v, "listenerMetadata", &s->listener_metadata)) < 0 ||
      (r = json_opt_items(c, v, "syscalls", parse_seccomp_syscall,
                          sizeof(struct spec_seccomp_syscall), (void **)&s->syscalls,
                          &s->n_syscalls)) < 0)
    return r;
  return 0;
}

static int parse_time_offset(struct json_ctx *c, yajl_val v, struct spec_time_offset *t) {
  int r;
  yajl_val secs = json_get(v, "secs");
  if (secs) {
    size_t saved = json_push_key(c, "secs");
    r = json_val_i64(c, secs, INT64_MIN, INT64_MAX, &t->secs);
    json_pop(c, saved);
    if (r < 0)
      return r;
  }
  if ((r = json_opt_u32(c, v, "nanosecs", &t->nanosecs)) < 0)
    return r;
  if (t->nanosecs >= 1000000000u) {
    size_t saved = json_push_key(c, "nanosecs");
    r = json_bad(c, "must be below 1000000000");
    json_pop(c, saved);
    return r;
  }
  t->set = true;
  return 0;
}

static int parse_time_offsets(struct json_ctx *c, yajl_val v, struct spec *spec) {
  int r = WITH_OBJECT(c, v, "monotonic", mono,
                      parse_time_offset(c, mono, &spec->time_offset_monotonic));
  if (r >= 0)
    r = WITH_OBJECT(c, v, "boottime", boot,
                    parse_time_offset(c, boot, &spec->time_offset_boottime));
  return r < 0 ? r : 0;
}

static int parse_personality(struct json_ctx *c, yajl_val v, struct spec *spec) {
  int r;
  if ((r = json_req_string(c, v, "domain", &spec->personality_domain)) < 0 ||
      (r = json_opt_strv(c, v, "flags", &spec->personality_flags)) < 0)
    return r;
  if (strcmp(spec->personality_domain, "LINUX") && strcmp(spec->personality_domain, "LINUX32")) {
    size_t saved = json_push_key(c, "domain");
    r = json_bad(c, "unknown domain \"%s\" (LINUX or LINUX32)", spec->personality_domain);
    json_pop(c, saved);
    return r;
  }
  return 0;
}

static int parse_linux(struct json_ctx *c, yajl_val v, struct spec *spec) {
  int r;
  yajl_val arr;
  if ((r = json_opt_array(c, v, "namespaces", &arr)) < 0)
    return r;
  if (arr) {
    size_t saved = json_push_key(c, "namespaces");
    for (size_t i = 0; i < arr->u.array.len && r >= 0; i++) {
      size_t s2 = json_push_index(c, i);
      r = json_val_object(c, arr->u.array.values[i]);
      if (r >= 0)
        r = parse_namespace(c, arr->u.array.values[i], spec);
      json_pop(c, s2);
    }
    json_pop(c, saved);
    if (r < 0)
      return r;
  }
  if ((r = json_opt_items(c, v, "uidMappings", parse_idmap, sizeof(struct spec_idmap),
                          (void **)&spec->uid_mappings, &spec->n_uid_mappings)) < 0 ||
      (r = json_opt_items(c, v, "gidMappings", parse_idmap, sizeof(struct spec_idmap),
                          (void **)&spec->gid_mappings, &spec->n_gid_mappings)) < 0 ||
      (r = json_opt_items(c, v, "devices", parse_device, sizeof(struct spec_device),
                          (void **)&spec->devices, &spec->n_devices)) < 0 ||
      (r = json_opt_string(c, v, "cgroupsPath", &spec->cgroups_path)) < 0 ||
      (r = json_opt_object(c, v, "resources", &spec->resources)) < 0 ||
      (r = json_opt_string_map(c, v, "sysctl", &spec->sysctl, &spec->n_sysctl)) < 0)
    return r;
  yajl_val sec;
  if ((r = json_opt_object(c, v, "seccomp", &sec)) < 0)
    return r;
  if (sec) {
    spec->seccomp = xcalloc(1, sizeof(*spec->seccomp));
    size_t saved = json_push_key(c, "seccomp");
    r = parse_seccomp(c, sec, spec->seccomp);
    json_pop(c, saved);
    if (r < 0)
      return r;
  }
  if ((r = json_opt_string(c, v, "rootfsPropagation", &spec->rootfs_propagation)) < 0 ||
      (r = json_opt_strv(c, v, "maskedPaths", &spec->masked_paths)) < 0 ||
      (r = json_opt_strv(c, v, "readonlyPaths", &spec->readonly_paths)) < 0 ||
      (r = json_opt_string(c, v, "mountLabel", &spec->mount_label)) < 0)
    return r;
  if (spec->rootfs_propagation && strcmp(spec->rootfs_propagation, "private") &&
      strcmp(spec->rootfs_propagation, "rprivate") && strcmp(spec->rootfs_propagation, "slave") &&
      strcmp(spec->rootfs_propagation, "rslave") && strcmp(spec->rootfs_propagation, "shared") &&
      strcmp(spec->rootfs_propagation, "rshared") &&
      strcmp(spec->rootfs_propagation, "unbindable") &&
      strcmp(spec->rootfs_propagation, "runbindable")) {
    size_t saved = json_push_key(c, "rootfsPropagation");
    r = json_bad(c,
                 "unknown propagation \"%s\" (private, slave, shared, unbindable or their r- "
                 "forms)",
                 spec->rootfs_propagation);
    json_pop(c, saved);
    return r;
  }
  if ((r = WITH_OBJECT(c, v, "personality", pers, parse_personality(c, pers, spec))) < 0 ||
      (r = WITH_OBJECT(c, v, "timeOffsets", offs, parse_time_offsets(c, offs, spec))) < 0)
    return r;
  return 0;
}

static int parse_root(struct json_ctx *c, yajl_val doc, struct spec *spec) {
  yajl_val root;
  int r = json_opt_object(c, doc, "root", &root);
  if (r < 0)
    return r;
  if (!root)
    return json_missing(c, "root.path");
  size_t saved = json_push_key(c, "root");
  _cleanup_free_ char *path = NULL;
  if ((r = json_req_string(c, root, "path", &path)) >= 0 &&
      (r = json_opt_bool(c, root, "readonly", &spec->root_readonly)) >= 0 && !path[0]) {
    json_push_key(c, "path");
    r = json_bad(c, "must not be empty");
  }
  json_pop(c, saved);
  if (r < 0)
    return r;
  if (path[0] == '/')
    spec->root_path = steal_pointer(&path);
  else
    spec->root_path = xasprintf("%s/%s", strcmp(spec->bundle, "/") ? spec->bundle : "", path);
  return 0;
}

static int parse_document(struct json_ctx *c, yajl_val doc, struct spec *spec) {
  int r;
  if (!YAJL_IS_OBJECT(doc))
    return json_bad(c, "expected a JSON object at the top level, not %s", json_type_name(doc));
  if ((r = json_opt_string(c, doc, "ociVersion", &spec->oci_version)) < 0 ||
      (r = parse_root(c, doc, spec)) < 0 ||
      (r = json_opt_string(c, doc, "hostname", &spec->hostname)) < 0 ||
      (r = json_opt_string(c, doc, "domainname", &spec->domainname)) < 0)
    return r;
  yajl_val proc;
  if ((r = json_opt_object(c, doc, "process", &proc)) < 0)
    return r;
  if (proc) {
    spec->has_process = true;
    size_t saved = json_push_key(c, "process");
    r = parse_process_object(c, proc, &spec->process);
    json_pop(c, saved);
    if (r < 0)
      return r;
  }
  if ((r = json_opt_items(c, doc, "mounts", parse_mount, sizeof(struct spec_mount),
                          (void **)&spec->mounts, &spec->n_mounts)) < 0 ||
      (r = WITH_OBJECT(c, doc, "hooks", hooks, parse_hooks(c, hooks, spec))) < 0)
    return r;
  r = json_opt_string_map(c, doc, "annotations", &spec->annotations, &spec->n_annotations);
  if (r < 0 || (r = WITH_OBJECT(c, doc, "linux", lx, parse_linux(c, lx, spec))) < 0)
    return r;
  return 0;
}

int spec_parse(const char *json, const char *bundle, struct spec **out, nook_error *err) {
  _cleanup_spec_ struct spec *spec = xcalloc(1, sizeof(*spec));
  char resolved[PATH_MAX];
  if (!realpath(bundle ? bundle : ".", resolved))
    return nook_err(err, errno, "bundle `%s`", bundle ? bundle : ".");
  spec->bundle = xstrdup(resolved);
  spec->tree = json_parse_tree(json, "config.json", err);
  if (!spec->tree)
    return -EINVAL;
  struct json_ctx c = {.err = err, .file = "config.json"};
  int r = parse_document(&c, spec->tree, spec);
  if (r < 0)
    return r;
  *out = steal_pointer(&spec);
  return 0;
}

int spec_load(const char *bundle, struct spec **out, nook_error *err) {
  const char *dir = bundle ? bundle : ".";
  _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return nook_err(err, errno, "bundle `%s`", dir);
  _cleanup_close_ int fd = openat(dfd, "config.json", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return nook_errx(err, ENOENT, "bundle `%s`: no config.json (run 'nook spec' to write one)",
                       dir);
    return nook_err(err, errno, "bundle `%s`: open config.json", dir);
  }
  struct stat st;
  if (fstat(fd, &st) < 0)
    return nook_err(err, errno, "bundle `%s`: stat config.json", dir);
  if (!S_ISREG(st.st_mode))
    return nook_errx(err, EINVAL, "bundle `%s`: config.json is not a regular file", dir);
  _cleanup_free_ char *json = NULL;
  size_t len;
  int r = read_all(fd, &json, &len);
  if (r < 0)
    return nook_err(err, -r, "bundle `%s`: read config.json", dir);
  if (strlen(json) != len)
    return nook_errx(err, EINVAL, "config.json: invalid JSON: it contains a NUL byte");
  return spec_parse(json, dir, out, err);
}

int spec_parse_process(const char *json, struct spec_process *out, nook_error *err) {
  yajl_val doc = json_parse_tree(json, NULL, err);
  if (!doc)
    return -EINVAL;
  struct spec_process p = {0};
  struct json_ctx c = {.err = err};
  int r = YAJL_IS_OBJECT(doc) ? parse_process_object(&c, doc, &p)
                              : json_bad(&c, "expected a JSON object, not %s", json_type_name(doc));
  yajl_tree_free(doc);
  if (r < 0) {
    spec_process_clear(&p);
    return r;
  }
  *out = p;
  return 0;
}

const char *spec_annotation(const struct spec *spec, const char *key) {
  /* backwards: the last of duplicate keys wins, as everywhere in the file */
  for (size_t i = spec ? spec->n_annotations : 0; i-- > 0;)
    if (strcmp(spec->annotations[i].key, key) == 0)
      return spec->annotations[i].value;
  return NULL;
}

static void free_kv(struct spec_kv *kv, size_t n) {
  for (size_t i = 0; kv && i < n; i++) {
    free(kv[i].key);
    free(kv[i].value);
  }
  free(kv);
}

void spec_process_clear(struct spec_process *p) {
  if (!p)
    return;
  free(p->user.additional_gids);
  free(p->user.username);
  strv_free(p->args);
  strv_free(p->env);
  free(p->cwd);
  if (p->capabilities) {
    strv_free(p->capabilities->bounding);
    strv_free(p->capabilities->effective);
    strv_free(p->capabilities->inheritable);
    strv_free(p->capabilities->permitted);
    strv_free(p->capabilities->ambient);
    free(p->capabilities);
  }
  for (size_t i = 0; p->rlimits && i < p->n_rlimits; i++)
    free(p->rlimits[i].type);
  free(p->rlimits);
  free(p->apparmor_profile);
  free(p->selinux_label);
  free(p->io_priority.class_name);
  free(p->scheduler.policy);
  strv_free(p->scheduler.flags);
  free(p->exec_cpu_affinity_initial);
  free(p->exec_cpu_affinity_final);
  memset(p, 0, sizeof(*p));
}

void spec_free(struct spec *spec) {
  if (!spec)
    return;
  free(spec->oci_version);
  free(spec->bundle);
  free(spec->root_path);
  free(spec->hostname);
  free(spec->domainname);
  spec_process_clear(&spec->process);
  for (size_t i = 0; spec->mounts && i < spec->n_mounts; i++) {
    struct spec_mount *m = &spec->mounts[i];
    free(m->destination);
    free(m->type);
    free(m->source);
    strv_free(m->options);
    free(m->uid_mappings);
    free(m->gid_mappings);
  }
  free(spec->mounts);
  for (int k = 0; k < SPEC_HOOK_COUNT; k++) {
    for (size_t i = 0; spec->hooks[k].hooks && i < spec->hooks[k].n; i++) {
      free(spec->hooks[k].hooks[i].path);
      strv_free(spec->hooks[k].hooks[i].args);
      strv_free(spec->hooks[k].hooks[i].env);
    }
    free(spec->hooks[k].hooks);
  }
  free_kv(spec->annotations, spec->n_annotations);
  for (int t = 0; t < SPEC_NS_COUNT; t++)
    free(spec->namespaces[t].path);
  free(spec->uid_mappings);
  free(spec->gid_mappings);
  for (size_t i = 0; spec->devices && i < spec->n_devices; i++)
    free(spec->devices[i].path);
  free(spec->devices);
  free(spec->cgroups_path);
  free_kv(spec->sysctl, spec->n_sysctl);
  if (spec->seccomp) {
    struct spec_seccomp *s = spec->seccomp;
    free(s->default_action);
    strv_free(s->architectures);
    strv_free(s->flags);
    free(s->listener_path);
    free(s->listener_metadata);
    for (size_t i = 0; s->syscalls && i < s->n_syscalls; i++) {
      strv_free(s->syscalls[i].names);
      free(s->syscalls[i].action);
      for (size_t j = 0; s->syscalls[i].args && j < s->syscalls[i].n_args; j++)
        free(s->syscalls[i].args[j].op);
      free(s->syscalls[i].args);
    }
    free(s->syscalls);
    free(s);
  }
  free(spec->rootfs_propagation);
  strv_free(spec->masked_paths);
  strv_free(spec->readonly_paths);
  free(spec->mount_label);
  free(spec->personality_domain);
  strv_free(spec->personality_flags);
  if (spec->tree)
    yajl_tree_free(spec->tree);
  free(spec);
}

void spec_freep(struct spec **spec) {
  spec_free(*spec);
  *spec = NULL;
}
