/* The bundle launch writes: config.json from the image config and the
 * flags, in the shape `nook spec --rootless` has, with podman's defaults
 * for what a developer expects (capabilities, seccomp, /etc files). */
#include <ctype.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "log.h"
#include "nook-config.h"
#include "rootless/idmap.h"
#include "util.h"
#include "workflow.h"

#define INIT_PATH "/usr/bin/catatonit"
#define INIT_DEST "/run/nook-init"

static const char *const default_caps[] = {
    "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP", "CAP_SETGID",      "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT", NULL};

static void gen_str(yajl_gen g, const char *s) {
  yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_kv(yajl_gen g, const char *k, const char *v) {
  gen_str(g, k);
  gen_str(g, v);
}

static void gen_strv(yajl_gen g, const char *key, char *const *strv) {
  gen_str(g, key);
  yajl_gen_array_open(g);
  for (size_t i = 0; strv && strv[i]; i++)
    gen_str(g, strv[i]);
  yajl_gen_array_close(g);
}

static void gen_mount(yajl_gen g, const char *dest, const char *type, const char *source,
                      char *const *options) {
  yajl_gen_map_open(g);
  gen_kv(g, "destination", dest);
  gen_kv(g, "type", type);
  gen_kv(g, "source", source);
  if (options)
    gen_strv(g, "options", options);
  yajl_gen_map_close(g);
}

static char *cap_name(const char *s) {
  char *n = str_has_prefix(s, "CAP_") || str_has_prefix(s, "cap_") ? xstrdup(s)
                                                                      : xasprintf("CAP_%s", s);
  for (char *p = n; *p; p++)
    *p = (char)toupper((unsigned char)*p);
  return n;
}

static int build_caps(const struct launch_options *o, char ***out, nook_error *err) {
  _cleanup_strv_ char **all = NULL;
  for (int i = 0; i <= (int)cap_max_bits() - 1; i++) {
    char *n = cap_to_name((cap_value_t)i);
    if (n) {
      _cleanup_free_ char *u = cap_name(n);
      strv_push(&all, u);
      cap_free(n);
    }
  }
  char **caps = NULL;
  bool drop_all = false;
  for (size_t i = 0; o->cap_drop && o->cap_drop[i]; i++)
    if (!strcasecmp(o->cap_drop[i], "ALL"))
      drop_all = true;
  if (!drop_all)
    for (size_t i = 0; default_caps[i]; i++)
      strv_push(&caps, default_caps[i]);
  for (size_t i = 0; o->cap_add && o->cap_add[i]; i++) {
    if (!strcasecmp(o->cap_add[i], "ALL")) {
      for (size_t j = 0; all[j]; j++)
        if (!strv_contains(caps, all[j]))
          strv_push(&caps, all[j]);
      continue;
    }
    _cleanup_free_ char *n = cap_name(o->cap_add[i]);
    if (!strv_contains(all, n)) {
      strv_free(caps);
      return nook_errx(err, EINVAL, "--cap-add: `%s` is not a capability this kernel knows",
                       o->cap_add[i]);
    }
    if (!strv_contains(caps, n))
      strv_push(&caps, n);
  }
  for (size_t i = 0; o->cap_drop && o->cap_drop[i]; i++) {
    if (!strcasecmp(o->cap_drop[i], "ALL"))
      continue;
    _cleanup_free_ char *n = cap_name(o->cap_drop[i]);
    if (!strv_contains(all, n)) {
      strv_free(caps);
      return nook_errx(err, EINVAL, "--cap-drop: `%s` is not a capability this kernel knows",
                       o->cap_drop[i]);
    }
    size_t w = 0;
    for (size_t j = 0; caps && caps[j]; j++) {
      if (!strcmp(caps[j], n))
        free(caps[j]);
      else
        caps[w++] = caps[j];
    }
    if (caps)
      caps[w] = NULL;
  }
  *out = caps;
  return 0;
}

static bool env_has(char *const *env, const char *key) {
  size_t n = strlen(key);
  for (size_t i = 0; env && env[i]; i++)
    if (!strncmp(env[i], key, n) && env[i][n] == '=')
      return true;
  return false;
}

/* Image Env, then the flags; a later K= replaces an earlier one. */
static char **build_env(const struct launch_plan *p, const struct launch_user *user,
                        const char *hostname) {
  char **env = NULL;
  char *const *layers[] = {p->rootfs->config.env, p->opts->env};
  for (size_t l = 0; l < 2; l++)
    for (size_t i = 0; layers[l] && layers[l][i]; i++) {
      const char *eq = strchr(layers[l][i], '=');
      size_t klen = eq ? (size_t)(eq - layers[l][i]) : strlen(layers[l][i]);
      size_t j = 0;
      for (; env && env[j]; j++)
        if (!strncmp(env[j], layers[l][i], klen) && env[j][klen] == '=')
          break;
      if (env && env[j]) {
        free(env[j]);
        env[j] = xstrdup(layers[l][i]);
      } else {
        strv_push(&env, layers[l][i]);
      }
    }
  if (!env_has(env, "PATH"))
    strv_push(&env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  if (p->opts->tty && !env_has(env, "TERM"))
    strv_push(&env, "TERM=xterm");
  if (!env_has(env, "HOSTNAME")) {
    _cleanup_free_ char *h = xasprintf("HOSTNAME=%s", hostname);
    strv_push(&env, h);
  }
  if (!env_has(env, "HOME")) {
    _cleanup_free_ char *h = xasprintf("HOME=%s", user->home);
    strv_push(&env, h);
  }
  strv_push(&env, "container=nook");
  return env;
}

static char **build_args(const struct launch_plan *p, nook_error *err) {
  const struct launch_options *o = p->opts;
  char **args = NULL;
  if (o->init) {
    strv_push(&args, INIT_DEST);
    strv_push(&args, "--");
  }
  if (o->entrypoint) {
    if (*o->entrypoint)
      strv_push(&args, o->entrypoint);
  } else {
    for (size_t i = 0; p->rootfs->config.entrypoint && p->rootfs->config.entrypoint[i]; i++)
      strv_push(&args, p->rootfs->config.entrypoint[i]);
  }
  if (o->n_command > 0) {
    for (int i = 0; i < o->n_command; i++)
      strv_push(&args, o->command[i]);
  } else if (!o->entrypoint) {
    for (size_t i = 0; p->rootfs->config.cmd && p->rootfs->config.cmd[i]; i++)
      strv_push(&args, p->rootfs->config.cmd[i]);
  }
  size_t skip = o->init ? 2 : 0;
  if (strv_len(args) <= skip) {
    strv_free(args);
    nook_errx(err, EINVAL, "image `%s` has no command: give one after the image", o->image);
    return NULL;
  }
  return args;
}

static void gen_idmaps(yajl_gen g, const char *key, const struct spec_idmap *m, size_t n) {
  gen_str(g, key);
  yajl_gen_array_open(g);
  for (size_t i = 0; i < n; i++) {
    yajl_gen_map_open(g);
    gen_str(g, "containerID");
    yajl_gen_integer(g, m[i].container_id);
    gen_str(g, "hostID");
    yajl_gen_integer(g, m[i].host_id);
    gen_str(g, "size");
    yajl_gen_integer(g, m[i].size);
    yajl_gen_map_close(g);
  }
  yajl_gen_array_close(g);
}

/* The rootless maps, or with keep-id the user's own id at the same number
 * inside: subordinate ids below it and above it. */
static int gen_userns_maps(yajl_gen g, const char *key, const char *file, uint32_t id, bool keep_id,
                           nook_error *err) {
  _cleanup_free_ struct spec_idmap *maps = NULL;
  size_t n = 0;
  int r = idmap_build_rootless(file, getuid(), id, &maps, &n, err);
  if (r < 0)
    return r;
  if (!keep_id || id == 0) {
    gen_idmaps(g, key, maps, n);
    return 0;
  }
  uint64_t sub = 0;
  for (size_t i = 1; i < n; i++)
    sub += maps[i].size;
  if (sub < id)
    return nook_errx(err, EINVAL, "--userns keep-id needs at least %u subordinate ids in %s "
                                  "(there are %llu): add a range with usermod --add-subuids",
                     id, file, (unsigned long long)sub);
  /* container ids 0..id-1 and id+1.. come from the ranges, in order */
  struct spec_idmap *km = xcalloc(n + 2, sizeof(*km));
  size_t k = 0;
  uint32_t next_ctr = 0;
  km[k++] = (struct spec_idmap){.container_id = id, .host_id = id, .size = 1};
  for (size_t i = 1; i < n; i++) {
    uint32_t host = maps[i].host_id, left = maps[i].size;
    while (left) {
      if (next_ctr == id)
        next_ctr++;
      uint32_t span = left;
      if (next_ctr < id && next_ctr + span > id)
        span = id - next_ctr;
      km[k++] = (struct spec_idmap){.container_id = next_ctr, .host_id = host, .size = span};
      if (k == n + 2)
        break;
      next_ctr += span;
      host += span;
      left -= span;
    }
    if (k == n + 2)
      break;
  }
  gen_idmaps(g, key, km, k);
  free(km);
  return 0;
}

/* An id the user namespace does not map makes the init's setresuid fail
 * after the container is made; said here, before anything is. */
static int check_user_mapped(const char *file, const char *kind, uint32_t id, const char *what,
                             const char *spec, nook_error *err) {
  _cleanup_free_ struct spec_idmap *maps = NULL;
  size_t n = 0;
  int r = idmap_build_rootless(file, getuid(), 0, &maps, &n, err);
  if (r < 0)
    return r;
  uint64_t mapped = 0;
  for (size_t i = 0; i < n; i++)
    mapped += maps[i].size;
  if (id < mapped)
    return 0;
  return nook_errx(err, EINVAL, "%s `%s`: %s %u is not mapped into the container (ids 0-%llu "
                                "are, from %s): use a smaller id or add subordinate ids "
                                "(usermod --add-sub%cids)",
                   what, spec, kind, id, (unsigned long long)mapped - 1, file, kind[0]);
}

static void gen_volume(yajl_gen g, const char *dest, const char *source, char *const *ro) {
  bool readonly = false;
  for (size_t i = 0; ro && ro[i]; i++)
    readonly |= !strcmp(ro[i], dest);
  char *const opts[] = {"rbind", readonly ? "ro" : "rw", NULL};
  gen_mount(g, dest, "bind", source, opts);
}

/* --mount (but type=volume, an anonymous volume) and --device, after -v
 * and --tmpfs. */
static int gen_flag_mounts(yajl_gen g, const struct launch_options *o, nook_error *err) {
  for (size_t i = 0; o->mounts && o->mounts[i]; i++) {
    struct launch_mount m;
    int r = launch_mount_parse(o->mounts[i], &m, err);
    if (r < 0)
      return r;
    _cleanup_strv_ char **opts = NULL;
    if (m.type == LAUNCH_MOUNT_BIND) {
      strv_push(&opts, m.recursive ? "rbind" : "bind");
    } else if (m.type == LAUNCH_MOUNT_TMPFS) {
      strv_push(&opts, "nosuid");
      strv_push(&opts, "nodev");
    }
    strv_push(&opts, m.readonly ? "ro" : "rw");
    for (size_t j = 0; m.options && m.options[j]; j++)
      strv_push(&opts, m.options[j]);
    _cleanup_free_ char *abs = m.source ? realpath(m.source, NULL) : NULL;
    if (m.type == LAUNCH_MOUNT_BIND && !abs)
      r = nook_err(err, errno, "--mount: source `%s`", m.source);
    else if (m.type == LAUNCH_MOUNT_BIND)
      gen_mount(g, m.target, "bind", abs, opts);
    else if (m.type == LAUNCH_MOUNT_TMPFS)
      gen_mount(g, m.target, "tmpfs", "tmpfs", opts);
    launch_mount_free(&m);
    if (r < 0)
      return r;
  }
  /* mknod is not allowed in a user namespace: the host's node is bound, as
   * rootless podman does */
  for (size_t i = 0; o->devices && o->devices[i]; i++) {
    struct launch_device d;
    int r = launch_device_parse(o->devices[i], &d, err);
    if (r < 0)
      return r;
    char *const opts[] = {"bind", "nosuid", "noexec", d.writable ? "rw" : "ro", NULL};
    gen_mount(g, d.ctr, "bind", d.host, opts);
    free(d.host);
    free(d.ctr);
  }
  return 0;
}

static int gen_mounts(yajl_gen g, const struct launch_plan *p, nook_error *err) {
  static char *const dev[] = {"nosuid", "strictatime", "mode=755", "size=65536k", NULL};
  static char *const devpts[] = {"nosuid",        "noexec",    "newinstance",
                                 "ptmxmode=0666", "mode=0620", NULL};
  static char *const shm[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL};
  static char *const mqueue[] = {"nosuid", "noexec", "nodev", NULL};
  static char *const sys_bind[] = {"rbind", "nosuid", "noexec", "nodev", "ro", NULL};
  static char *const cgroup[] = {"nosuid", "noexec", "nodev", "relatime", "ro", NULL};
  static char *const file_rw[] = {"rbind", "nosuid", "nodev", "noexec", NULL};
  static char *const init_ro[] = {"bind", "ro", "nosuid", "nodev", NULL};
  const struct launch_options *o = p->opts;

  gen_str(g, "mounts");
  yajl_gen_array_open(g);
  gen_mount(g, "/proc", "proc", "proc", NULL);
  gen_mount(g, "/dev", "tmpfs", "tmpfs", dev);
  gen_mount(g, "/dev/pts", "devpts", "devpts", devpts);
  if (o->shm_size) {
    _cleanup_free_ char *size = xasprintf("size=%lld", o->shm_size);
    char *const sized[] = {"nosuid", "noexec", "nodev", "mode=1777", size, NULL};
    gen_mount(g, "/dev/shm", "tmpfs", "shm", sized);
  } else {
    gen_mount(g, "/dev/shm", "tmpfs", "shm", shm);
  }
  gen_mount(g, "/dev/mqueue", "mqueue", "mqueue", mqueue);
  gen_mount(g, "/sys", "none", "/sys", sys_bind);
  gen_mount(g, "/sys/fs/cgroup", "cgroup", "cgroup", cgroup);
  static const char *const etc_files[] = {"hostname", "hosts", "resolv.conf"};
  for (size_t i = 0; i < ARRAY_SIZE(etc_files); i++) {
    _cleanup_free_ char *src = xasprintf("%s/etc/%s", p->bundle, etc_files[i]);
    _cleanup_free_ char *dst = xasprintf("/etc/%s", etc_files[i]);
    gen_mount(g, dst, "bind", src, file_rw);
  }
  if (o->init) {
    if (access(INIT_PATH, X_OK) < 0)
      return nook_errx(err, ENOENT, "--init needs %s (Debian package catatonit)", INIT_PATH);
    gen_mount(g, INIT_DEST, "bind", INIT_PATH, init_ro);
  }
  /* the image's volumes, before the user's mounts unless inside one */
  _cleanup_strv_ char **vol_dests = NULL, **vol_sources = NULL;
  int r = image_volumes_prepare(p, &vol_dests, &vol_sources, err);
  if (r < 0)
    return r;
  _cleanup_strv_ char **user_dests = launch_mount_destinations(o);
  _cleanup_strv_ char **ro_volumes = o->mounts ? launch_anonymous_volumes(o, true) : NULL;
  for (size_t i = 0; vol_dests && vol_dests[i]; i++)
    if (!image_volume_is_under(vol_dests[i], user_dests))
      gen_volume(g, vol_dests[i], vol_sources[i], ro_volumes);
  for (size_t i = 0; o->volumes && o->volumes[i]; i++) {
    _cleanup_free_ char *spec = xstrdup(o->volumes[i]);
    char *dst = strchr(spec, ':');
    *dst++ = '\0';
    char *mode = strchr(dst, ':');
    if (mode)
      *mode++ = '\0';
    bool ro = mode && !strcmp(mode, "ro");
    if (spec[0] != '/' && spec[0] != '.')
      return nook_errx(err, EINVAL, "-v: `%s` is not a host path (named volumes are not "
                                    "supported): use an absolute or ./relative path",
                       spec);
    struct stat st;
    if (stat(spec, &st) < 0) {
      r = mkdir_p(spec, 0755, err);
      if (r < 0)
        return nook_err_prefix(err, r, "-v %s", o->volumes[i]);
    }
    _cleanup_free_ char *abs = realpath(spec, NULL);
    if (!abs)
      return nook_err(err, errno, "-v: `%s`", spec);
    char *opts[] = {"rbind", ro ? "ro" : "rw", NULL};
    gen_mount(g, dst, "bind", abs, opts);
  }
  for (size_t i = 0; o->tmpfs && o->tmpfs[i]; i++) {
    _cleanup_free_ char *spec = xstrdup(o->tmpfs[i]);
    char *extra = strchr(spec, ':');
    if (extra)
      *extra++ = '\0';
    _cleanup_strv_ char **opts = NULL;
    strv_push(&opts, "nosuid");
    strv_push(&opts, "nodev");
    char *save = NULL;
    for (char *t = extra ? strtok_r(extra, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
      strv_push(&opts, t);
    gen_mount(g, spec, "tmpfs", "tmpfs", opts);
  }
  if ((r = gen_flag_mounts(g, o, err)) < 0)
    return r;
  for (size_t i = 0; vol_dests && vol_dests[i]; i++)
    if (image_volume_is_under(vol_dests[i], user_dests))
      gen_volume(g, vol_dests[i], vol_sources[i], ro_volumes);
  yajl_gen_array_close(g);
  return 0;
}

static void gen_resources(yajl_gen g, const struct launch_options *o) {
  if (!o->memory && !o->pids_limit && !o->cpu_quota)
    return;
  gen_str(g, "resources");
  yajl_gen_map_open(g);
  if (o->memory) {
    gen_str(g, "memory");
    yajl_gen_map_open(g);
    gen_str(g, "limit");
    yajl_gen_integer(g, o->memory);
    yajl_gen_map_close(g);
  }
  if (o->pids_limit) {
    gen_str(g, "pids");
    yajl_gen_map_open(g);
    gen_str(g, "limit");
    yajl_gen_integer(g, o->pids_limit);
    yajl_gen_map_close(g);
  }
  if (o->cpu_quota) {
    gen_str(g, "cpu");
    yajl_gen_map_open(g);
    gen_str(g, "quota");
    yajl_gen_integer(g, o->cpu_quota);
    gen_str(g, "period");
    yajl_gen_integer(g, 100000);
    yajl_gen_map_close(g);
  }
  yajl_gen_map_close(g);
}

/* A shared or slave bind mount needs the root's propagation to match, or
 * the runtime's pivot leaves it private (podman sets it the same way). */
static const char *root_propagation(const struct launch_options *o) {
  const char *prop = NULL;
  for (size_t i = 0; o->mounts[i]; i++) {
    struct launch_mount m;
    nook_error ignore;
    if (launch_mount_parse(o->mounts[i], &m, &ignore) < 0)
      continue;
    for (size_t j = 0; m.options && m.options[j]; j++) {
      if (strstr(m.options[j], "shared"))
        prop = "rshared";
      else if (strstr(m.options[j], "slave") && !prop)
        prop = "rslave";
    }
    launch_mount_free(&m);
  }
  return prop;
}

static int gen_linux(yajl_gen g, const struct launch_plan *p, char *const *caps,
                     nook_error *err) {
  static char *const masked[] = {"/proc/acpi",          "/proc/kcore",       "/proc/keys",
                                 "/proc/latency_stats", "/proc/timer_list",  "/proc/timer_stats",
                                 "/proc/sched_debug",   "/proc/scsi",        "/sys/firmware",
                                 "/sys/fs/selinux",     "/sys/dev/block",    NULL};
  static char *const readonly[] = {"/proc/asound", "/proc/bus",           "/proc/fs",
                                   "/proc/irq",    "/proc/sys",           "/proc/sysrq-trigger",
                                   NULL};
  const struct launch_options *o = p->opts;
  gen_str(g, "linux");
  yajl_gen_map_open(g);
  int r = gen_userns_maps(g, "uidMappings", "/etc/subuid", (uint32_t)geteuid(), o->keep_id, err);
  if (r == 0)
    r = gen_userns_maps(g, "gidMappings", "/etc/subgid", (uint32_t)getegid(), o->keep_id, err);
  if (r < 0)
    return r;
  gen_resources(g, o);
  gen_str(g, "namespaces");
  yajl_gen_array_open(g);
  const char *ns[] = {"pid", "ipc", "uts", "mount", "cgroup", "user",
                      o->net == LAUNCH_NET_HOST ? NULL : "network"};
  for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
    if (!ns[i])
      continue;
    yajl_gen_map_open(g);
    gen_kv(g, "type", ns[i]);
    yajl_gen_map_close(g);
  }
  yajl_gen_array_close(g);
  const char *seccomp = o->seccomp ? o->seccomp : DEFAULT_SECCOMP_PROFILE;
  if (strcmp(seccomp, "unconfined") != 0) {
    if (!o->seccomp && access(seccomp, R_OK) < 0) {
      if (p->debug)
        nook_log(NOOK_LOG_DEBUG, "no default seccomp profile (%s, Debian package "
                                 "golang-github-containers-common): running without one",
                 seccomp);
    } else {
      gen_str(g, "seccomp");
      if ((r = seccomp_profile_gen(g, seccomp, caps, err)) < 0)
        return r;
    }
  }
  const char *root_prop = o->mounts ? root_propagation(o) : NULL;
  if (root_prop)
    gen_kv(g, "rootfsPropagation", root_prop);
  gen_strv(g, "maskedPaths", masked);
  gen_strv(g, "readonlyPaths", readonly);
  yajl_gen_map_close(g);
  return 0;
}

static void gen_rlimits(yajl_gen g, char *const *ulimits) {
  gen_str(g, "rlimits");
  yajl_gen_array_open(g);
  for (size_t i = 0; ulimits[i]; i++) {
    struct launch_ulimit u;
    nook_error ignore; /* checked by launch_parse */
    if (launch_ulimit_parse(ulimits[i], &u, &ignore) < 0)
      continue;
    yajl_gen_map_open(g);
    gen_kv(g, "type", u.type);
    /* unlimited is 2^64-1, beyond yajl's integers */
    char num[32];
    gen_str(g, "soft");
    yajl_gen_number(g, num, (size_t)snprintf(num, sizeof(num), "%llu", u.soft));
    gen_str(g, "hard");
    yajl_gen_number(g, num, (size_t)snprintf(num, sizeof(num), "%llu", u.hard));
    yajl_gen_map_close(g);
  }
  yajl_gen_array_close(g);
}

static char *command_text(char *const *args) {
  return strv_join(args, " ");
}

int launch_write_bundle(const struct launch_plan *p, nook_error *err) {
  const struct launch_options *o = p->opts;
  const struct rootfs_info *rf = p->rootfs;
  struct launch_user user;
  const char *user_spec = o->user ? o->user : rf->config.user;
  int r;
  if (o->keep_id && !o->user) {
    memset(&user, 0, sizeof(user));
    user.uid = (uint32_t)geteuid();
    user.gid = (uint32_t)getegid();
    const char *home = getenv("HOME");
    user.home = xstrdup(home ? home : "/");
  } else if ((r = launch_resolve_user(rf->lowerdirs, user_spec, &user, err)) < 0) {
    return r;
  }
  _cleanup_free_ char *home = user.home;
  if (!o->keep_id && ((r = check_user_mapped("/etc/subuid", "uid", user.uid, "user", user_spec, err)) < 0 ||
                      (r = check_user_mapped("/etc/subgid", "gid", user.gid, "user", user_spec, err)) < 0))
    return r;
  _cleanup_free_ uint32_t *gids = NULL;
  size_t n_gids = strv_len(o->group_add);
  if (n_gids)
    gids = xcalloc(n_gids, sizeof(*gids));
  for (size_t i = 0; i < n_gids; i++)
    if ((r = launch_resolve_group(rf->lowerdirs, o->group_add[i], &gids[i], err)) < 0 ||
        (!o->keep_id &&
         (r = check_user_mapped("/etc/subgid", "gid", gids[i], "--group-add",
                                  o->group_add[i], err)) < 0))
      return r;
  _cleanup_free_ char *hostname = o->hostname ? xstrdup(o->hostname) : xstrndup(p->id, 12);
  _cleanup_strv_ char **caps = NULL;
  if ((r = build_caps(o, &caps, err)) < 0)
    return r;
  _cleanup_strv_ char **args = build_args(p, err);
  if (!args)
    return -EINVAL;
  _cleanup_strv_ char **env = build_env(p, &user, hostname);
  _cleanup_strv_ char **published = NULL;
  if ((r = launch_ports(o, rf->config.exposed_ports, &published, err)) < 0)
    return r;
  if ((r = launch_write_etc(p, hostname, err)) < 0)
    return r;
  _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", p->bundle);
  if (mkdir(rootfs, 0755) < 0 && errno != EEXIST)
    return nook_err(err, errno, "create `%s`", rootfs);

  yajl_gen g = yajl_gen_alloc(NULL);
  yajl_gen_map_open(g);
  gen_kv(g, "ociVersion", NOOK_SPEC_VERSION);
  gen_str(g, "process");
  yajl_gen_map_open(g);
  gen_str(g, "terminal");
  yajl_gen_bool(g, o->tty);
  gen_str(g, "user");
  yajl_gen_map_open(g);
  gen_str(g, "uid");
  yajl_gen_integer(g, user.uid);
  gen_str(g, "gid");
  yajl_gen_integer(g, user.gid);
  if (n_gids) {
    gen_str(g, "additionalGids");
    yajl_gen_array_open(g);
    for (size_t i = 0; i < n_gids; i++)
      yajl_gen_integer(g, gids[i]);
    yajl_gen_array_close(g);
  }
  yajl_gen_map_close(g);
  gen_strv(g, "args", args);
  if (o->ulimits)
    gen_rlimits(g, o->ulimits);
  gen_strv(g, "env", env);
  const char *cwd = o->workdir ? o->workdir
                               : rf->config.working_dir && *rf->config.working_dir
                                     ? rf->config.working_dir
                                     : "/";
  gen_kv(g, "cwd", cwd);
  gen_str(g, "capabilities");
  yajl_gen_map_open(g);
  gen_strv(g, "bounding", caps);
  gen_strv(g, "effective", caps);
  gen_strv(g, "permitted", caps);
  yajl_gen_map_close(g);
  gen_str(g, "noNewPrivileges");
  yajl_gen_bool(g, 0);
  yajl_gen_map_close(g);

  gen_str(g, "root");
  yajl_gen_map_open(g);
  gen_kv(g, "path", rootfs);
  gen_str(g, "readonly");
  yajl_gen_bool(g, o->read_only);
  yajl_gen_map_close(g);
  gen_kv(g, "hostname", hostname);
  if ((r = gen_mounts(g, p, err)) < 0 || (r = gen_linux(g, p, caps, err)) < 0) {
    yajl_gen_free(g);
    return r;
  }

  gen_str(g, "annotations");
  yajl_gen_map_open(g);
  _cleanup_free_ char *lowers = strv_join(rf->lowerdirs, ":");
  gen_kv(g, "nook.rootfs.lowerdirs", lowers);
  gen_kv(g, "nook.rootfs.upper", rf->upper);
  gen_kv(g, "nook.rootfs.work", rf->work);
  gen_kv(g, "nook.rootfs.driver", rootfs_driver_name(rf->driver));
  gen_kv(g, "nook.idmap.fallback", "single");
  if (o->net == LAUNCH_NET_SLIRP) {
    gen_kv(g, "nook.network", "slirp");
    if (published && *published) {
      _cleanup_free_ char *ports = strv_join(published, ",");
      gen_kv(g, "nook.ports", ports);
      gen_kv(g, LAUNCH_ANN_PORTS, ports);
    }
  }
  gen_kv(g, LAUNCH_ANN_IMAGE, o->image);
  _cleanup_free_ char *cmd = command_text(args + (o->init ? 2 : 0));
  gen_kv(g, LAUNCH_ANN_COMMAND, cmd);
  gen_kv(g, LAUNCH_ANN_BUNDLE, p->bundle);
  gen_kv(g, LAUNCH_ANN_RM, o->rm ? "true" : "false");
  if (o->stop_signal) {
    _cleanup_free_ char *sig = xasprintf("%d", o->stop_signal);
    gen_kv(g, LAUNCH_ANN_STOP_SIGNAL, sig);
  }
  if (o->stop_timeout >= 0) {
    _cleanup_free_ char *secs = xasprintf("%d", o->stop_timeout);
    gen_kv(g, LAUNCH_ANN_STOP_TIMEOUT, secs);
  }
  for (size_t i = 0; o->labels && o->labels[i]; i++) {
    const char *eq = strchr(o->labels[i], '=');
    _cleanup_free_ char *key = xasprintf(LAUNCH_ANN_LABEL_PREFIX "%.*s",
                                         (int)(eq ? eq - o->labels[i] : (int)strlen(o->labels[i])),
                                         o->labels[i]);
    gen_kv(g, key, eq ? eq + 1 : "");
  }
  yajl_gen_map_close(g);
  yajl_gen_map_close(g);

  const unsigned char *buf;
  size_t len;
  yajl_gen_get_buf(g, &buf, &len);
  _cleanup_free_ char *path = xasprintf("%s/config.json", p->bundle);
  r = write_file_at(AT_FDCWD, path, buf, len, 0600, err);
  yajl_gen_free(g);
  return r;
}
