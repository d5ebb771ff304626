/* nook features: the OCI features document (runtime-spec features.md). It
 * lists what nook recognizes, not what this host can do. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <yajl/yajl_gen.h>

#include "cli.h"
#include "nook-config.h"
#include "seccomp-filter.h"
#include "util.h"

static const char *const hooks[] = {
    "prestart",  "createRuntime", "createContainer", "startContainer",
    "poststart", "poststop",      NULL,
};

/* The options src/runtime/mounts.c interprets (its flag, propagation and
 * recursive tables, bind, rbind, tmpcopyup); anything else goes to mount(2)
 * as filesystem data and is not listed (features.md). Keep in step with it. */
static const char *const mount_options[] = {
    "async",     "atime",       "bind",        "defaults",   "dev",        "diratime",
    "dirsync",   "exec",        "iversion",    "lazytime",   "loud",       "mand",
    "noatime",   "nodev",       "nodiratime",  "noexec",     "noiversion", "nolazytime",
    "nomand",    "norelatime",  "nostrictatime", "nosuid",   "nosymfollow", "private",
    "rbind",     "rdev",        "relatime",    "remount",    "rexec",      "rnodev",
    "rnoexec",   "rnosuid",     "ro",          "rprivate",   "rro",        "rrw",
    "rshared",   "rslave",      "rsuid",       "runbindable", "rw",        "shared",
    "silent",    "slave",       "strictatime", "suid",       "symfollow",  "sync",
    "tmpcopyup", "unbindable",  NULL,
};

static const char *const namespaces[] = {
    "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts", NULL,
};

static void gen_str(yajl_gen g, const char *s) {
  yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_strv(yajl_gen g, const char *key, const char *const *v) {
  gen_str(g, key);
  yajl_gen_array_open(g);
  for (; *v; v++)
    gen_str(g, *v);
  yajl_gen_array_close(g);
}

static void gen_bool(yajl_gen g, const char *key, bool value) {
  gen_str(g, key);
  yajl_gen_bool(g, value);
}

static void gen_enabled(yajl_gen g, const char *key, bool value) {
  gen_str(g, key);
  yajl_gen_map_open(g);
  gen_bool(g, "enabled", value);
  yajl_gen_map_close(g);
}

/* Every capability libcap can name, in number order. */
static void gen_capabilities(yajl_gen g) {
  gen_str(g, "capabilities");
  yajl_gen_array_open(g);
  for (int cap = 0; cap < 64; cap++) {
    char *name = cap_to_name(cap);
    if (name && strncmp(name, "cap_", 4) == 0) {
      for (char *p = name; *p; p++)
        if (*p >= 'a' && *p <= 'z')
          *p -= 'a' - 'A';
      gen_str(g, name);
    }
    cap_free(name);
  }
  yajl_gen_array_close(g);
}

static void gen_seccomp(yajl_gen g) {
  gen_str(g, "seccomp");
  yajl_gen_map_open(g);
  gen_bool(g, "enabled", true);
  gen_strv(g, "actions", seccomp_action_names);
  gen_strv(g, "operators", seccomp_operator_names);
  gen_strv(g, "archs", seccomp_arch_names);
  gen_strv(g, "knownFlags", seccomp_flag_names);
  gen_str(g, "supportedFlags");
  yajl_gen_array_open(g);
  for (const char *const *f = seccomp_flag_names; *f; f++)
    if (seccomp_flag_supported(*f))
      gen_str(g, *f);
  yajl_gen_array_close(g);
  yajl_gen_map_close(g);
}

static void gen_linux(yajl_gen g) {
  gen_str(g, "linux");
  yajl_gen_map_open(g);
  gen_strv(g, "namespaces", namespaces);
  gen_capabilities(g);

  gen_str(g, "cgroup");
  yajl_gen_map_open(g);
  gen_bool(g, "v1", false);
  gen_bool(g, "v2", true);
  gen_bool(g, "systemd", true);
  gen_bool(g, "systemdUser", true);
  gen_bool(g, "rdma", false);
  yajl_gen_map_close(g);

  gen_seccomp(g);
  gen_enabled(g, "apparmor", false);
  gen_enabled(g, "selinux", false);
  gen_enabled(g, "intelRdt", false);

  gen_str(g, "mountExtensions");
  yajl_gen_map_open(g);
  gen_enabled(g, "idmap", false);
  yajl_gen_map_close(g);
  yajl_gen_map_close(g);
}

static void gen_annotations(yajl_gen g) {
  const struct scmp_version *v = seccomp_version();
  _cleanup_free_ char *libseccomp =
      xasprintf("%u.%u.%u", v->major, v->minor, v->micro);
  gen_str(g, "annotations");
  yajl_gen_map_open(g);
  gen_str(g, "io.github.nook.commit");
  gen_str(g, NOOK_COMMIT);
  gen_str(g, "io.github.nook.version");
  gen_str(g, NOOK_VERSION);
  gen_str(g, "io.github.seccomp.libseccomp.version");
  gen_str(g, libseccomp);
  yajl_gen_map_close(g);
}

int cmd_features(struct nook_globals *gl, int argc, char **argv, nook_error *err) {
  static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
    if (c == 'h')
      return cli_print_usage("Usage: nook features\n\n"
                             "Print the OCI features document: the spec versions, hooks, mount\n"
                             "options, namespaces, capabilities and seccomp names nook "
                             "recognizes.\n");
    return cli_bad_usage(err, "features", "unknown option `%s`", argv[optind - 1]);
  }
  int r = cli_want_args(err, "features", argc, argv, 0, "");
  if (r < 0)
    return r;

  yajl_gen g = yajl_gen_alloc(NULL);
  if (!g)
    return nook_errx(err, ENOMEM, "features: out of memory");
  yajl_gen_config(g, yajl_gen_beautify, 1);
  yajl_gen_config(g, yajl_gen_indent_string, "    ");

  yajl_gen_map_open(g);
  gen_str(g, "ociVersionMin");
  gen_str(g, "1.0.0");
  gen_str(g, "ociVersionMax");
  gen_str(g, NOOK_SPEC_VERSION);
  gen_strv(g, "hooks", hooks);
  gen_strv(g, "mountOptions", mount_options);
  gen_linux(g);
  gen_annotations(g);
  yajl_gen_map_close(g);

  const unsigned char *buf;
  size_t len;
  yajl_gen_get_buf(g, &buf, &len);
  bool ok = fwrite(buf, 1, len, stdout) == len && fflush(stdout) == 0;
  yajl_gen_free(g);
  if (!ok)
    return nook_err(err, errno, "features: write to stdout");
  return 0;
}
