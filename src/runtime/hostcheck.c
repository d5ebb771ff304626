/* `nook check`: the items, what each means for nook, and the fixes. */
#include "hostcheck.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "nook-config.h"
#include "rootless/idmap.h"
#include "storage/store.h"
#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define FIX_UIDMAP                                                                                 \
  "apt-get install uidmap (as root; the package may be called shadow or shadow-utils)"
#define FIX_LINGER "as root: loginctl enable-linger %s (or log in through a PAM session), with " \
                   "dbus-user-session installed"

const char *hostcheck_status_name(enum hostcheck_status s) {
  switch (s) {
  case HOSTCHECK_OK:
    return "ok";
  case HOSTCHECK_WARNING:
    return "warning";
  case HOSTCHECK_MISSING:
    return "missing";
  }
  return "?";
}

/* detail is taken over; fix is copied (NULL for none). */
static void add(struct hostcheck_report *rep, enum hostcheck_status s, const char *item,
                char *detail, char *fix) {
  rep->items = xrealloc(rep->items, (rep->n + 1) * sizeof(*rep->items));
  rep->items[rep->n++] = (struct hostcheck_item){
      .item = xstrdup(item), .status = s, .detail = detail, .fix = fix};
}

void hostcheck_report_free(struct hostcheck_report *rep) {
  for (size_t i = 0; i < rep->n; i++) {
    free(rep->items[i].item);
    free(rep->items[i].detail);
    free(rep->items[i].fix);
  }
  free(rep->items);
  rep->items = NULL;
  rep->n = 0;
}

static char *user_name(void) {
  struct passwd *pw = getpwuid(getuid());
  if (pw && pw->pw_name)
    return xstrdup(pw->pw_name);
  return xasprintf("%u", (unsigned)getuid());
}

/* An executable on PATH, as execvp would find it. */
static char *which(const char *name) {
  const char *path = getenv("PATH");
  if (!path || !*path)
    path = "/usr/local/bin:/usr/bin:/bin";
  for (const char *p = path; p;) {
    const char *colon = strchr(p, ':');
    size_t len = colon ? (size_t)(colon - p) : strlen(p);
    char *candidate = xasprintf("%.*s%s%s", (int)len, p, len ? "/" : "", name);
    struct stat st;
    if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0)
      return candidate;
    free(candidate);
    p = colon ? colon + 1 : NULL;
  }
  return NULL;
}

/* A /proc/sys value, or -1 when the file is not there. */
static long long sysctl_value(const char *path) {
  _cleanup_free_ char *text = NULL;
  nook_error e = {0};
  long long v;
  if (read_file_at(AT_FDCWD, path, &text, NULL, &e) < 0)
    return -1;
  text[strcspn(text, "\n")] = '\0';
  return parse_i64(text, &v) ? v : -1;
}

static void check_map_helper(struct hostcheck_report *rep, const char *name, const char *cap) {
  _cleanup_free_ char *path = which(name);
  if (!path) {
    add(rep, HOSTCHECK_MISSING, name,
        xasprintf("not found on PATH: only your own id can be mapped into containers"),
        xstrdup(FIX_UIDMAP));
    return;
  }
  struct stat st;
  if (stat(path, &st) < 0) {
    add(rep, HOSTCHECK_MISSING, name, xasprintf("stat `%s`: %s", path, strerror(errno)),
        xstrdup(FIX_UIDMAP));
    return;
  }
  if ((st.st_mode & S_ISUID) && st.st_uid == 0) {
    add(rep, HOSTCHECK_OK, name, xasprintf("%s, setuid root", path), NULL);
    return;
  }
  if (getxattr(path, "security.capability", NULL, 0) > 0) {
    add(rep, HOSTCHECK_OK, name, xasprintf("%s, with file capabilities", path), NULL);
    return;
  }
  add(rep, HOSTCHECK_MISSING, name,
      xasprintf("%s is neither setuid root nor has file capabilities, so it cannot map "
                "subordinate ids",
                path),
      xasprintf("as root: setcap %s+ep %s (or chmod u+s %s)", cap, path, path));
}

static bool check_subids(struct hostcheck_report *rep, bool gid, const char *user) {
  const char *item = gid ? "subgid" : "subuid";
  const char *file = idmap_subid_file(gid);
  _cleanup_free_ char *fix = xasprintf(
      "as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s", user);
  _cleanup_free_ struct subid_range *ranges = NULL;
  size_t n = 0;
  nook_error e = {0};
  if (idmap_read_subids(file, getuid(), user, &ranges, &n, &e) < 0) {
    add(rep, HOSTCHECK_MISSING, item, xstrdup(e.msg), steal_pointer(&fix));
    return false;
  }
  if (n == 0) {
    add(rep, HOSTCHECK_MISSING, item,
        xasprintf("no range for %s in %s: containers get only your own id (a single-id map)",
                  user, file),
        steal_pointer(&fix));
    return false;
  }
  unsigned long long total = 0;
  size_t cap = 64 * n, len = 0;
  _cleanup_free_ char *list = xmalloc(cap);
  list[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    total += ranges[i].count;
    len += (size_t)snprintf(list + len, cap - len, "%s%u-%llu", i ? ", " : "", ranges[i].start,
                            (unsigned long long)ranges[i].start + ranges[i].count - 1);
  }
  if (total < 65536) {
    add(rep, HOSTCHECK_WARNING, item,
        xasprintf("%s in %s: %llu ids, fewer than the 65536 many images use", list, file, total),
        xasprintf("as root: usermod --add-%ss 100000-165535 %s (a range of 65536)", item, user));
    return true;
  }
  add(rep, HOSTCHECK_OK, item, xasprintf("%s in %s (%llu ids)", list, file, total), NULL);
  return true;
}

static bool check_userns(struct hostcheck_report *rep, const char *dir) {
  long long max = sysctl_value("/proc/sys/user/max_user_namespaces");
  long long clone = sysctl_value("/proc/sys/kernel/unprivileged_userns_clone");
  long long apparmor = sysctl_value("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
  char why[512] = "";
  int r = hostcheck_probe_userns(dir, why, sizeof(why));
  if (r == 0) {
    add(rep, HOSTCHECK_OK, "user namespaces",
        xasprintf("a user namespace is made and mounts in it work (max_user_namespaces=%lld)",
                  max),
        NULL);
    return true;
  }
  char *fix;
  if (r == -ENOSPC)
    fix = xstrdup("the count of user namespaces hit its limit (user.max_user_namespaces here or "
                  "in an enclosing user namespace): raise it, as root: sysctl -w "
                  "user.max_user_namespaces=28633");
  else if (max == 0)
    fix = xstrdup("as root: sysctl -w user.max_user_namespaces=28633 (and in /etc/sysctl.d/)");
  else if (clone == 0)
    fix = xstrdup("as root: sysctl -w kernel.unprivileged_userns_clone=1 (and in "
                  "/etc/sysctl.d/)");
  else if (apparmor == 1)
    fix = xstrdup("as root: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an "
                  "AppArmor profile for nook with `userns,`");
  else
    fix = xstrdup("a kernel with CONFIG_USER_NS; inside a container, allow unshare and mount "
                  "(its seccomp profile and capabilities)");
  add(rep, HOSTCHECK_MISSING, "user namespaces",
      xasprintf("%s (max_user_namespaces=%lld%s%s)", why, max,
                clone < 0    ? ""
                : clone      ? ", unprivileged_userns_clone=1"
                             : ", unprivileged_userns_clone=0",
                apparmor < 0 ? ""
                : apparmor   ? ", apparmor_restrict_unprivileged_userns=1"
                             : ", apparmor_restrict_unprivileged_userns=0"),
      fix);
  return false;
}

static bool check_idmap(struct hostcheck_report *rep, bool userns_ok, bool have_ranges,
                        const char *user) {
  const char *item = "id mapping";
  if (!userns_ok) {
    add(rep, HOSTCHECK_MISSING, item, xstrdup("not tried: user namespaces do not work"),
        xstrdup("see `user namespaces`"));
    return false;
  }
  char why[1024] = "";
  unsigned long uids = 0;
  bool single = false;
  /* The probe child may be gone when the go-ahead is written to it. */
  void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
  int r = hostcheck_probe_idmap(&uids, &single, why, sizeof(why));
  signal(SIGPIPE, old_pipe);
  if (r < 0) {
    add(rep, HOSTCHECK_MISSING, item, xstrdup(why),
        xasprintf("newuidmap/newgidmap setuid root (as root: apt-get install --reinstall "
                  "uidmap) and %s's ranges in /etc/subuid and /etc/subgid",
                  user));
    return false;
  }
  if (single) {
    add(rep, HOSTCHECK_WARNING, item,
        xasprintf("a single-id map (%lu uid): only your own id, as root, exists in containers; "
                  "files of other owners in images become yours",
                  uids),
        have_ranges ? xstrdup("give both subuid and subgid a range")
                    : xasprintf("as root: usermod --add-subuids 100000-165535 --add-subgids "
                                "100000-165535 %s",
                                user));
    return true;
  }
  add(rep, HOSTCHECK_OK, item,
      xasprintf("%lu uids mapped through newuidmap/newgidmap", uids), NULL);
  return true;
}

static bool check_user_bus(struct hostcheck_report *rep, const char *user) {
  char why[512] = "";
  _cleanup_free_ char *where = NULL;
  if (hostcheck_probe_user_bus(&where, why, sizeof(why)) == 0) {
    add(rep, HOSTCHECK_OK, "user bus", xasprintf("%s answers (SASL EXTERNAL accepted)", where),
        NULL);
    return true;
  }
  add(rep, HOSTCHECK_MISSING, "user bus",
      xasprintf("%s: the systemd cgroup driver cannot be used", why),
      xasprintf(FIX_LINGER "; then DBUS_SESSION_BUS_ADDRESS=unix:path=$XDG_RUNTIME_DIR/bus",
                user));
  return false;
}

static bool check_user_manager(struct hostcheck_report *rep, const char *user) {
  const char *item = "systemd user manager";
  _cleanup_free_ char *systemctl = which("systemctl");
  if (!systemctl) {
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    _cleanup_free_ char *sock = xasprintf("%s/systemd/private", xdg && *xdg ? xdg : "/nonexistent");
    struct stat st;
    if (stat(sock, &st) == 0 && S_ISSOCK(st.st_mode)) {
      add(rep, HOSTCHECK_OK, item, xasprintf("%s is there (no systemctl to ask it)", sock), NULL);
      return true;
    }
    add(rep, HOSTCHECK_MISSING, item, xasprintf("no systemctl and no %s", sock),
        xasprintf(FIX_LINGER, user));
    return false;
  }
  char *argv[] = {systemctl, "--user", "is-system-running", NULL};
  _cleanup_free_ char *out = NULL;
  int status = hostcheck_run_capture(argv, &out, 5000);
  if (out)
    out[strcspn(out, "\r\n")] = '\0';
  const char *state = out && *out ? out : "no answer";
  if (status >= 0 && (strcmp(state, "running") == 0 || strcmp(state, "starting") == 0 ||
                      strcmp(state, "initializing") == 0)) {
    add(rep, HOSTCHECK_OK, item, xasprintf("systemctl --user is-system-running: %s", state), NULL);
    return true;
  }
  if (status >= 0 && strcmp(state, "degraded") == 0) {
    add(rep, HOSTCHECK_WARNING, item,
        xstrdup("systemctl --user is-system-running: degraded (some user units failed)"),
        xstrdup("systemctl --user --failed shows which"));
    return true;
  }
  add(rep, HOSTCHECK_MISSING, item,
      status == -ETIMEDOUT ? xstrdup("systemctl --user is-system-running did not answer in 5 s")
      : status < 0         ? xasprintf("cannot run systemctl: %s", strerror(-status))
                           : xasprintf("systemctl --user is-system-running: %s (exit %d)", state,
                                       status),
      xasprintf(FIX_LINGER, user));
  return false;
}

static void check_cgroup(struct hostcheck_report *rep, bool manager_ok) {
  struct statfs sfs;
  if (statfs("/sys/fs/cgroup", &sfs) < 0 || sfs.f_type != CGROUP2_SUPER_MAGIC) {
    const char *fix = "boot with systemd.unified_cgroup_hierarchy=1 (cgroup v2 only)";
    add(rep, HOSTCHECK_MISSING, "cgroup v2",
        xstrdup("/sys/fs/cgroup is not cgroup2 (v1 or hybrid): containers run without a cgroup "
                "and limits are ignored"),
        xstrdup(fix));
    add(rep, HOSTCHECK_MISSING, "cgroup controllers", xstrdup("none without cgroup v2"),
        xstrdup(fix));
    add(rep, HOSTCHECK_MISSING, "cgroup delegation", xstrdup("none without cgroup v2"),
        xstrdup(fix));
    return;
  }
  add(rep, HOSTCHECK_OK, "cgroup v2", xstrdup("cgroup2 at /sys/fs/cgroup"), NULL);

  _cleanup_free_ char *self = NULL;
  nook_error e = {0};
  const char *path = NULL;
  if (read_file_at(AT_FDCWD, "/proc/self/cgroup", &self, NULL, &e) == 0) {
    for (char *line = strtok(self, "\n"); line; line = strtok(NULL, "\n"))
      if (str_has_prefix(line, "0::")) {
        path = line + 3;
        break;
      }
  }
  if (!path) {
    add(rep, HOSTCHECK_MISSING, "cgroup controllers",
        xstrdup("/proc/self/cgroup names no cgroup v2 path"), xstrdup("a cgroup v2 host"));
    add(rep, HOSTCHECK_MISSING, "cgroup delegation",
        xstrdup("/proc/self/cgroup names no cgroup v2 path"), xstrdup("a cgroup v2 host"));
    return;
  }
  _cleanup_free_ char *dir = xasprintf("/sys/fs/cgroup%s", strcmp(path, "/") == 0 ? "" : path);
  _cleanup_free_ char *ctrl_path = xasprintf("%s/cgroup.controllers", dir);
  _cleanup_free_ char *ctrls = NULL;
  if (read_file_at(AT_FDCWD, ctrl_path, &ctrls, NULL, &e) < 0) {
    add(rep, HOSTCHECK_MISSING, "cgroup controllers", xstrdup(e.msg),
        xstrdup("run nook from your own session's cgroup"));
  } else {
    ctrls[strcspn(ctrls, "\n")] = '\0';
    _cleanup_free_ char *spaced = xasprintf(" %s ", ctrls);
    _cleanup_free_ char *lacking = xstrdup("");
    static const char *const wanted[] = {"cpu", "memory", "pids", "io", "cpuset"};
    for (size_t i = 0; i < ARRAY_SIZE(wanted); i++) {
      _cleanup_free_ char *word = xasprintf(" %s ", wanted[i]);
      if (!strstr(spaced, word)) {
        char *more = xasprintf("%s%s%s", lacking, *lacking ? " " : "", wanted[i]);
        free(lacking);
        lacking = more;
      }
    }
    if (*lacking)
      add(rep, HOSTCHECK_WARNING, "cgroup controllers",
          xasprintf("%s has %s%s%s, not %s: limits on those (--memory, --cpus, --pids-limit, "
                    "blkio, cpuset) cannot take effect",
                    path, *ctrls ? "`" : "", *ctrls ? ctrls : "no controller", *ctrls ? "`" : "",
                    lacking),
          xstrdup("as root: delegate them to the user manager (systemctl edit user@.service: "
                  "[Service] Delegate=cpu cpuset io memory pids), then log in again"));
    else
      add(rep, HOSTCHECK_OK, "cgroup controllers", xasprintf("%s has `%s`", path, ctrls), NULL);
  }

  _cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", dir);
  _cleanup_free_ char *subtree = xasprintf("%s/cgroup.subtree_control", dir);
  bool delegated = access(dir, W_OK) == 0 && access(procs, W_OK) == 0 &&
                   access(subtree, W_OK) == 0;
  if (delegated)
    add(rep, HOSTCHECK_OK, "cgroup delegation",
        xasprintf("%s is yours: the cgroupfs driver can make containers' cgroups below it", path),
        NULL);
  else if (manager_ok)
    add(rep, HOSTCHECK_OK, "cgroup delegation",
        xasprintf("%s is not yours; the systemd driver asks the user manager for a delegated "
                  "scope",
                  path),
        NULL);
  else
    add(rep, HOSTCHECK_WARNING, "cgroup delegation",
        xasprintf("%s is not yours and there is no user manager: containers run without a "
                  "cgroup of their own, limits are ignored",
                  path),
        xstrdup("run nook from a delegated scope (systemd-run --user --scope -p Delegate=yes "
                "...) or start the user manager"));
}

/* Opens a device as nook's helpers do: the node must be the real device,
 * not something else bound over it. */
static bool check_device(struct hostcheck_report *rep, const char *path, unsigned maj,
                         unsigned min, const char *without, const char *fix) {
  _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    add(rep, HOSTCHECK_MISSING, path,
        xasprintf("open read-write: %s: %s", strerror(errno), without), xstrdup(fix));
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != maj ||
      minor(st.st_rdev) != min) {
    add(rep, HOSTCHECK_MISSING, path,
        xasprintf("not the device (%s %u:%u, want char %u:%u): %s",
                  S_ISCHR(st.st_mode) ? "char" : "not a char device", major(st.st_rdev),
                  minor(st.st_rdev), maj, min, without),
        xstrdup(fix));
    return false;
  }
  add(rep, HOSTCHECK_OK, path, xstrdup("readable and writable"), NULL);
  return true;
}

static void check_overlay(struct hostcheck_report *rep, const char *dir, bool fuse_ok) {
  char why[512] = "";
  if (!dir) {
    snprintf(why, sizeof(why), "no directory to try it in");
  } else if (hostcheck_probe_overlay(dir, why, sizeof(why)) == 0) {
    add(rep, HOSTCHECK_OK, "native overlay",
        xasprintf("overlay with userxattr mounts in a user namespace (tried in %s)", dir), NULL);
    return;
  }
  if (fuse_ok)
    add(rep, HOSTCHECK_WARNING, "native overlay",
        xasprintf("%s: the FUSE overlay (slower) will be used", why),
        xstrdup("Linux 5.11 or later mounts overlay in user namespaces"));
  else
    add(rep, HOSTCHECK_MISSING, "native overlay",
        xasprintf("%s, and no /dev/fuse: image rootfs cannot be overlaid", why),
        xstrdup("Linux 5.11 or later, or access to /dev/fuse"));
}

/* Mirrors state_root_resolve: $XDG_RUNTIME_DIR/nook, else /tmp/nook-UID. */
static bool check_runtime_dir(struct hostcheck_report *rep) {
  const char *item = "XDG_RUNTIME_DIR";
  uid_t uid = getuid();
  if (geteuid() == 0) {
    bool run_ok = access("/run", W_OK | X_OK) == 0;
    add(rep, run_ok ? HOSTCHECK_OK : HOSTCHECK_MISSING, item,
        xstrdup(run_ok ? "not used as root: container state goes to /run/nook"
                       : "not used as root, and /run is not writable for /run/nook"),
        run_ok ? NULL : xstrdup("a writable /run (a tmpfs)"));
    return run_ok;
  }
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  if (!xdg || !*xdg) {
    bool tmp_ok = access("/tmp", W_OK | X_OK) == 0;
    add(rep, tmp_ok ? HOSTCHECK_WARNING : HOSTCHECK_MISSING, item,
        xasprintf("not set: container state goes to /tmp/nook-%u%s", (unsigned)uid,
                  tmp_ok ? "" : ", and /tmp is not writable"),
        xasprintf("export XDG_RUNTIME_DIR=/run/user/%u (pam_systemd sets it at login)",
                  (unsigned)uid));
    return tmp_ok;
  }
  _cleanup_free_ char *own = xasprintf("/run/user/%u", (unsigned)uid);
  _cleanup_free_ char *fix_mk =
      strcmp(xdg, own) == 0
          ? xasprintf("as root: mkdir -p %s && chown %u %s && chmod 0700 %s", own, (unsigned)uid,
                      own, own)
          : xasprintf("export XDG_RUNTIME_DIR=%s, a directory of your own (as root: mkdir -p %s "
                      "&& chown %u %s && chmod 0700 %s)",
                      own, own, (unsigned)uid, own, own);
  struct stat st;
  if (stat(xdg, &st) < 0) {
    add(rep, HOSTCHECK_MISSING, item, xasprintf("%s: %s", xdg, strerror(errno)),
        steal_pointer(&fix_mk));
    return false;
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != uid) {
    add(rep, HOSTCHECK_MISSING, item,
        xasprintf("%s is %s owned by uid %u, not by you", xdg,
                  S_ISDIR(st.st_mode) ? "a directory" : "not a directory", (unsigned)st.st_uid),
        steal_pointer(&fix_mk));
    return false;
  }
  if (access(xdg, W_OK | X_OK) < 0) {
    add(rep, HOSTCHECK_MISSING, item, xasprintf("%s is not writable: %s", xdg, strerror(errno)),
        xasprintf("chmod 0700 %s", xdg));
    return false;
  }
  if ((st.st_mode & 07777) != 0700) {
    add(rep, HOSTCHECK_WARNING, item,
        xasprintf("%s has mode %04o, not 0700: others may see container state", xdg,
                  st.st_mode & 07777),
        xasprintf("chmod 0700 %s", xdg));
    return true;
  }
  add(rep, HOSTCHECK_OK, item, xasprintf("%s, yours, mode 0700", xdg), NULL);
  return true;
}

static void check_helper(struct hostcheck_report *rep, const char *name, const char *without) {
  _cleanup_free_ char *path = nook_helper_path(name);
  if (path) {
    add(rep, HOSTCHECK_OK, name, xstrdup(path), NULL);
    return;
  }
  add(rep, HOSTCHECK_MISSING, name,
      xasprintf("not beside nook nor in " NOOK_LIBEXECDIR ": %s", without),
      xstrdup("install nook whole (meson install), or run the nook of a build directory"));
}

/* A scratch directory on the filesystem images are stored on when there is
 * one yet, for the namespace probes to mount on. */
static char *make_probe_dir(void) {
  _cleanup_free_ char *store = store_root(NULL);
  const char *xdg = getenv("XDG_DATA_HOME");
  const char *bases[] = {store, xdg && *xdg == '/' ? xdg : NULL, "/tmp"};
  for (size_t i = 0; i < ARRAY_SIZE(bases); i++) {
    struct stat st;
    if (!bases[i] || stat(bases[i], &st) < 0 || !S_ISDIR(st.st_mode))
      continue;
    char *dir = xasprintf("%s/.nook-check-XXXXXX", bases[i]);
    if (!mkdtemp(dir)) {
      free(dir);
      continue;
    }
    static const char *const subdirs[] = {"lower", "upper", "work", "merged", "tmp"};
    bool ok = true;
    for (size_t j = 0; j < ARRAY_SIZE(subdirs) && ok; j++) {
      _cleanup_free_ char *sub = xasprintf("%s/%s", dir, subdirs[j]);
      ok = mkdir(sub, 0700) == 0;
    }
    if (ok)
      return dir;
    rm_rf_at(AT_FDCWD, dir);
    free(dir);
  }
  return NULL;
}

void hostcheck_run(struct hostcheck_report *rep) {
  memset(rep, 0, sizeof(*rep));
  _cleanup_free_ char *user = user_name();
  _cleanup_free_ char *probe_dir = make_probe_dir();

  check_map_helper(rep, "newuidmap", "cap_setuid");
  check_map_helper(rep, "newgidmap", "cap_setgid");
  bool uid_ranges = check_subids(rep, false, user);
  bool gid_ranges = check_subids(rep, true, user);
  bool userns_ok = check_userns(rep, probe_dir);
  bool idmap_ok = check_idmap(rep, userns_ok, uid_ranges && gid_ranges, user);
  check_user_bus(rep, user);
  bool manager_ok = check_user_manager(rep, user);
  check_cgroup(rep, manager_ok);
  bool fuse_ok = check_device(rep, "/dev/fuse", 10, 229,
                              "the FUSE overlay (nook-fuse-overlayfs) cannot mount",
                              "as root: modprobe fuse && chmod 0666 /dev/fuse (udev does this on "
                              "most distributions)");
  check_device(rep, "/dev/net/tun", 10, 200,
               "--net slirp cannot be used (--net none and --net host can)",
               "as root: modprobe tun && chmod 0666 /dev/net/tun");
  _cleanup_free_ char *fusermount = which("fusermount3");
  if (fusermount)
    add(rep, HOSTCHECK_OK, "fusermount3", xstrdup(fusermount), NULL);
  else
    add(rep, HOSTCHECK_WARNING, "fusermount3",
        xstrdup("not found (optional): FUSE overlays mounted outside a container's user "
                "namespace cannot be unmounted by you"),
        xstrdup("apt-get install fuse3"));
  if (userns_ok)
    check_overlay(rep, probe_dir, fuse_ok);
  else
    add(rep, HOSTCHECK_MISSING, "native overlay",
        xstrdup("not tried: user namespaces do not work"), xstrdup("see `user namespaces`"));
  bool runtime_ok = check_runtime_dir(rep);
  check_helper(rep, "nook-net", "--net slirp cannot be used");
  check_helper(rep, "nook-fuse-overlayfs", "the FUSE overlay cannot be used");
  check_helper(rep, "nook-image", "images cannot be imported, pulled or run");

  if (probe_dir)
    rm_rf_at(AT_FDCWD, probe_dir);
  rep->can_run = userns_ok && idmap_ok && runtime_ok;
}
