/* The config `nook spec` writes: runc's `runc spec` example, field for field
 * and in its order, so tools and docs written for runc bundles apply. */
#include <string.h>
#include <yajl/yajl_gen.h>

#include "nook-config.h"
#include "spec.h"
#include "util.h"

static void gen_str(yajl_gen g, const char *s) {
  yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_strv(yajl_gen g, const char *key, const char *const *strv) {
  gen_str(g, key);
  yajl_gen_array_open(g);
  for (size_t i = 0; strv[i]; i++)
    gen_str(g, strv[i]);
  yajl_gen_array_close(g);
}

static void gen_mount(yajl_gen g, const char *dest, const char *type, const char *source,
                      const char *const *options) {
  yajl_gen_map_open(g);
  gen_str(g, "destination");
  gen_str(g, dest);
  gen_str(g, "type");
  gen_str(g, type);
  gen_str(g, "source");
  gen_str(g, source);
  if (options)
    gen_strv(g, "options", options);
  yajl_gen_map_close(g);
}

static void gen_idmap(yajl_gen g, const char *key, uint32_t host_id) {
  gen_str(g, key);
  yajl_gen_array_open(g);
  yajl_gen_map_open(g);
  gen_str(g, "containerID");
  yajl_gen_integer(g, 0);
  gen_str(g, "hostID");
  yajl_gen_integer(g, host_id);
  gen_str(g, "size");
  yajl_gen_integer(g, 1);
  yajl_gen_map_close(g);
  yajl_gen_array_close(g);
}

static void gen_process(yajl_gen g) {
  static const char *const env[] = {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm", NULL};
  static const char *const caps[] = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", NULL};
  static const char *const args[] = {"sh", NULL};

  gen_str(g, "process");
  yajl_gen_map_open(g);
  gen_str(g, "terminal");
  yajl_gen_bool(g, 1);
  gen_str(g, "user");
  yajl_gen_map_open(g);
  gen_str(g, "uid");
  yajl_gen_integer(g, 0);
  gen_str(g, "gid");
  yajl_gen_integer(g, 0);
  yajl_gen_map_close(g);
  gen_strv(g, "args", args);
  gen_strv(g, "env", env);
  gen_str(g, "cwd");
  gen_str(g, "/");
  gen_str(g, "capabilities");
  yajl_gen_map_open(g);
  gen_strv(g, "bounding", caps);
  gen_strv(g, "effective", caps);
  gen_strv(g, "permitted", caps);
  yajl_gen_map_close(g);
  gen_str(g, "rlimits");
  yajl_gen_array_open(g);
  yajl_gen_map_open(g);
  gen_str(g, "type");
  gen_str(g, "RLIMIT_NOFILE");
  gen_str(g, "hard");
  yajl_gen_integer(g, 1024);
  gen_str(g, "soft");
  yajl_gen_integer(g, 1024);
  yajl_gen_map_close(g);
  yajl_gen_array_close(g);
  gen_str(g, "noNewPrivileges");
  yajl_gen_bool(g, 1);
  yajl_gen_map_close(g);
}

static void gen_mounts(yajl_gen g, bool rootless) {
  static const char *const dev[] = {"nosuid", "strictatime", "mode=755", "size=65536k", NULL};
  static const char *const devpts[] = {"nosuid",    "noexec", "newinstance", "ptmxmode=0666",
                                       "mode=0620", "gid=5",  NULL};
  static const char *const shm[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL};
  static const char *const mqueue[] = {"nosuid", "noexec", "nodev", NULL};
  static const char *const sysfs[] = {"nosuid", "noexec", "nodev", "ro", NULL};
  static const char *const sys_bind[] = {"rbind", "nosuid", "noexec", "nodev", "ro", NULL};
  static const char *const cgroup[] = {"nosuid", "noexec", "nodev", "relatime", "ro", NULL};

  gen_str(g, "mounts");
  yajl_gen_array_open(g);
  gen_mount(g, "/proc", "proc", "proc", NULL);
  gen_mount(g, "/dev", "tmpfs", "tmpfs", dev);
  /* Rootless: drop gid=5, since group 5 is not mapped in the user
   * namespace and the kernel refuses the mount. */
  static const char *const devpts_rootless[] = {"nosuid",        "noexec",    "newinstance",
                                                "ptmxmode=0666", "mode=0620", NULL};
  gen_mount(g, "/dev/pts", "devpts", "devpts", rootless ? devpts_rootless : devpts);
  gen_mount(g, "/dev/shm", "tmpfs", "shm", shm);
  gen_mount(g, "/dev/mqueue", "mqueue", "mqueue", mqueue);
  /* A user namespace that does not own the network namespace may not mount
   * sysfs, so the rootless config binds the host's read-only. */
  if (rootless)
    gen_mount(g, "/sys", "none", "/sys", sys_bind);
  else
    gen_mount(g, "/sys", "sysfs", "sysfs", sysfs);
  gen_mount(g, "/sys/fs/cgroup", "cgroup", "cgroup", cgroup);
  yajl_gen_array_close(g);
}

static void gen_linux(yajl_gen g, bool rootless, uint32_t uid, uint32_t gid) {
  static const char *const masked[] = {"/proc/acpi",
                                       "/proc/asound",
                                       "/proc/kcore",
                                       "/proc/keys",
                                       "/proc/latency_stats",
                                       "/proc/timer_list",
                                       "/proc/timer_stats",
                                       "/proc/sched_debug",
                                       "/sys/firmware",
                                       "/proc/scsi",
                                       "/sys/devices/virtual/tpm",
                                       NULL};
  static const char *const readonly[] = {
      "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL};

  gen_str(g, "linux");
  yajl_gen_map_open(g);
  if (rootless) {
    gen_idmap(g, "uidMappings", uid);
    gen_idmap(g, "gidMappings", gid);
  } else {
    /* Rootless drops cgroup settings: an unprivileged user may not have a
     * device controller to apply them with. */
    gen_str(g, "resources");
    yajl_gen_map_open(g);
    gen_str(g, "devices");
    yajl_gen_array_open(g);
    yajl_gen_map_open(g);
    gen_str(g, "allow");
    yajl_gen_bool(g, 0);
    gen_str(g, "access");
    gen_str(g, "rwm");
    yajl_gen_map_close(g);
    yajl_gen_array_close(g);
    yajl_gen_map_close(g);
  }
  gen_str(g, "namespaces");
  yajl_gen_array_open(g);
  /* runc's order; rootless leaves out network (slirp gives it one later if
   * asked) and adds user last. */
  const char *ns[] = {"pid",    rootless ? NULL : "network", "ipc", "uts", "mount",
                      "cgroup", rootless ? "user" : NULL};
  for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
    if (!ns[i])
      continue;
    yajl_gen_map_open(g);
    gen_str(g, "type");
    gen_str(g, ns[i]);
    yajl_gen_map_close(g);
  }
  yajl_gen_array_close(g);
  gen_strv(g, "maskedPaths", masked);
  gen_strv(g, "readonlyPaths", readonly);
  yajl_gen_map_close(g);
}

char *spec_default_json(bool rootless, uint32_t uid, uint32_t gid) {
  yajl_gen g = yajl_gen_alloc(NULL);
  yajl_gen_config(g, yajl_gen_beautify, 1);
  yajl_gen_config(g, yajl_gen_indent_string, "\t");

  yajl_gen_map_open(g);
  gen_str(g, "ociVersion");
  gen_str(g, NOOK_SPEC_VERSION);
  gen_process(g);
  gen_str(g, "root");
  yajl_gen_map_open(g);
  gen_str(g, "path");
  gen_str(g, "rootfs");
  gen_str(g, "readonly");
  yajl_gen_bool(g, 1);
  yajl_gen_map_close(g);
  gen_str(g, "hostname");
  gen_str(g, "nook");
  gen_mounts(g, rootless);
  gen_linux(g, rootless, uid, gid);
  yajl_gen_map_close(g);

  const unsigned char *buf;
  size_t len;
  yajl_gen_get_buf(g, &buf, &len);
  char *json = xstrndup((const char *)buf, len);
  yajl_gen_free(g);
  return json;
}
