#include "state.h"

#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "cgroup-status.h"
#include "linux.h"
#include "util.h"

#define STATE_FILE "state.json"
#define STATE_LOCK_FILE "lock"

static int check_root_dir(const char *path, nook_error *err) {
  struct stat st;
  if (lstat(path, &st) < 0)
    return nook_err(err, errno, "state root `%s`", path);
  if (!S_ISDIR(st.st_mode))
    return nook_errx(err, ENOTDIR, "state root `%s` is not a directory", path);
  if (st.st_uid != geteuid())
    return nook_errx(err, EPERM,
                     "state root `%s` is owned by uid %u, not by you (uid %u): pass --root "
                     "with a directory of your own",
                     path, st.st_uid, geteuid());
  if (st.st_mode & 0022)
    return nook_errx(err, EPERM,
                     "state root `%s` is writable by others (mode %04o): chmod 0700 it or pass "
                     "--root",
                     path, st.st_mode & 07777);
  return 0;
}

int state_root_resolve(const char *root_option, char **out, nook_error *err) {
  _cleanup_free_ char *root = NULL;
  bool is_default = root_option == NULL;
  if (root_option) {
    root = xstrdup(root_option);
  } else if (!linux_running_rootless()) {
    /* Real root only: root inside a user namespace (podman runs its runtime
     * so) keeps the user's own state. */
    root = xstrdup("/run/nook");
  } else {
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && *xdg)
      root = xasprintf("%s/nook", xdg);
    else
      root = xasprintf("/tmp/nook-%u", geteuid());
  }
  if (mkdir(root, 0700) < 0) {
    if (errno == ENOENT && !is_default) {
      int r = mkdir_p(root, 0700, err);
      if (r < 0)
        return nook_err_prefix(err, r, "state root");
    } else if (errno != EEXIST) {
      return nook_err(err, errno, "create state root `%s`", root);
    }
  }
  /* A user-chosen --root is the user's business (runc accepts any); the
   * defaults in shared places must be ours alone. */
  if (is_default) {
    int r = check_root_dir(root, err);
    if (r < 0)
      return r;
  }
  *out = steal_pointer(&root);
  return 0;
}

int state_validate_id(const char *id, nook_error *err) {
  if (!id || !*id)
    return nook_errx(err, EINVAL, "invalid container id: it is empty");
  /* Dot names are nook's own in the state root (.seccomp-cache). */
  if (id[0] == '.')
    return nook_errx(err, EINVAL, "invalid container id `%s`: it must not start with '.'", id);
  if (strlen(id) > 1024)
    return nook_errx(err, EINVAL, "invalid container id: longer than 1024 characters");
  for (const char *p = id; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '/' || c < 0x21 || c == 0x7f)
      return nook_errx(err, EINVAL,
                       "invalid container id `%s`: it must not contain '/', spaces or control "
                       "characters",
                       id);
  }
  return 0;
}

int state_dir_create(const char *root, const char *id, nook_error *err) {
  int r = state_validate_id(id, err);
  if (r < 0)
    return r;
  _cleanup_close_ int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return nook_err(err, errno, "open state root `%s`", root);
  if (mkdirat(rootfd, id, 0700) < 0) {
    if (errno == EEXIST)
      return nook_errx(err, EEXIST, "container \"%s\" already exists", id);
    return nook_err(err, errno, "create state directory `%s/%s`", root, id);
  }
  int fd = openat(rootfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return nook_err(err, errno, "open state directory `%s/%s`", root, id);
  return fd;
}

int state_dir_open(const char *root, const char *id, nook_error *err) {
  int r = state_validate_id(id, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *path = xasprintf("%s/%s", root, id);
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return nook_errx(err, ENOENT, "container \"%s\" does not exist", id);
    return nook_err(err, errno, "open `%s`", path);
  }
  return fd;
}

int state_lock(int dirfd, nook_error *err) {
  int fd = openat(dirfd, STATE_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return nook_err(err, errno, "open container lock");
  while (flock(fd, LOCK_EX) < 0) {
    if (errno == EINTR)
      continue;
    int e = errno;
    close(fd);
    return nook_err(err, e, "lock container");
  }
  return fd;
}

bool state_is_locked(int dirfd) {
  _cleanup_close_ int fd = openat(dirfd, STATE_LOCK_FILE, O_RDONLY | O_CLOEXEC);
  return fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

void state_clear(struct container_state *st) {
  free(st->id);
  free(st->bundle);
  free(st->rootfs);
  free(st->created);
  free(st->owner);
  for (size_t i = 0; i < st->n_annotations; i++) {
    free(st->annotations[i].key);
    free(st->annotations[i].value);
  }
  free(st->annotations);
  free(st->cgroup_path);
  free(st->cgroup_manager);
  free(st->cgroup_unit);
  free(st->creator_cgroup);
  free(st->finished);
  memset(st, 0, sizeof(*st));
}

static char *dup_string_at(yajl_val root, const char *key) {
  const char *path[] = {key, NULL};
  yajl_val v = yajl_tree_get(root, path, yajl_t_string);
  return v ? xstrdup(YAJL_GET_STRING(v)) : NULL;
}

static long long int_at(yajl_val root, const char *key, long long dflt) {
  const char *path[] = {key, NULL};
  yajl_val v = yajl_tree_get(root, path, yajl_t_number);
  return v && YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : dflt;
}

static bool bool_at(yajl_val root, const char *key) {
  const char *path[] = {key, NULL};
  yajl_val v = yajl_tree_get(root, path, yajl_t_any);
  return v && YAJL_IS_TRUE(v);
}

int state_load(int dirfd, const char *id, struct container_state *st, nook_error *err) {
  _cleanup_free_ char *text = NULL;
  memset(st, 0, sizeof(*st));
  _cleanup_close_ int fd = openat(dirfd, STATE_FILE, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return nook_errx(err, ENOENT, "container \"%s\" does not exist", id);
    return nook_err(err, errno, "read state of container \"%s\"", id);
  }
  int r = read_all(fd, &text, NULL);
  if (r < 0)
    return nook_err(err, -r, "read state of container \"%s\"", id);
  char ebuf[256];
  yajl_val root = yajl_tree_parse(text, ebuf, sizeof(ebuf));
  if (!root || !YAJL_IS_OBJECT(root)) {
    yajl_tree_free(root);
    return nook_errx(err, EINVAL, "state of container \"%s\" is corrupt: delete --force it", id);
  }
  st->id = dup_string_at(root, "id");
  st->bundle = dup_string_at(root, "bundle");
  st->rootfs = dup_string_at(root, "rootfs");
  st->created = dup_string_at(root, "created");
  st->owner = dup_string_at(root, "owner");
  st->pid = (pid_t)int_at(root, "pid", 0);
  st->pid_start_time = (unsigned long long)int_at(root, "pidStartTime", 0);
  st->creating = bool_at(root, "creating");
  st->cgroup_path = dup_string_at(root, "cgroupPath");
  st->cgroup_manager = dup_string_at(root, "cgroupManager");
  st->cgroup_unit = dup_string_at(root, "cgroupUnit");
  st->creator_cgroup = dup_string_at(root, "creatorCgroup");
  st->net_helper_pid = (pid_t)int_at(root, "netHelperPid", 0);
  st->use_systemd = bool_at(root, "systemd");
  long long status = int_at(root, "exitStatus", -1);
  if (status >= 0) {
    st->has_exit_status = true;
    st->exit_status = (int)status;
  }
  st->finished = dup_string_at(root, "finished");
  const char *apath[] = {"annotations", NULL};
  yajl_val ann = yajl_tree_get(root, apath, yajl_t_object);
  if (ann) {
    size_t n = YAJL_GET_OBJECT(ann)->len;
    st->annotations = xcalloc(n, sizeof(struct spec_kv));
    for (size_t i = 0; i < n; i++) {
      yajl_val v = YAJL_GET_OBJECT(ann)->values[i];
      if (!YAJL_IS_STRING(v))
        continue;
      st->annotations[st->n_annotations].key = xstrdup(YAJL_GET_OBJECT(ann)->keys[i]);
      st->annotations[st->n_annotations].value = xstrdup(YAJL_GET_STRING(v));
      st->n_annotations++;
    }
  }
  yajl_tree_free(root);
  if (!st->id)
    st->id = xstrdup(id);
  return 0;
}

static void gen_str(yajl_gen g, const char *s) {
  yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_kv_str(yajl_gen g, const char *k, const char *v) {
  gen_str(g, k);
  if (v)
    gen_str(g, v);
  else
    yajl_gen_null(g);
}

static void gen_annotations(yajl_gen g, const struct container_state *st) {
  gen_str(g, "annotations");
  yajl_gen_map_open(g);
  for (size_t i = 0; i < st->n_annotations; i++)
    gen_kv_str(g, st->annotations[i].key, st->annotations[i].value);
  yajl_gen_map_close(g);
}

static char *gen_finish(yajl_gen g) {
  const unsigned char *buf;
  size_t len;
  yajl_gen_get_buf(g, &buf, &len);
  char *out = xstrndup((const char *)buf, len);
  yajl_gen_free(g);
  return out;
}

int state_save(int dirfd, const struct container_state *st, nook_error *err) {
  yajl_gen g = yajl_gen_alloc(NULL);
  yajl_gen_map_open(g);
  gen_kv_str(g, "id", st->id);
  gen_kv_str(g, "bundle", st->bundle);
  gen_kv_str(g, "rootfs", st->rootfs);
  gen_str(g, "pid");
  yajl_gen_integer(g, st->pid);
  gen_str(g, "pidStartTime");
  yajl_gen_integer(g, (long long)st->pid_start_time);
  gen_str(g, "creating");
  yajl_gen_bool(g, st->creating);
  gen_kv_str(g, "created", st->created);
  gen_kv_str(g, "owner", st->owner);
  gen_kv_str(g, "cgroupPath", st->cgroup_path);
  gen_kv_str(g, "cgroupManager", st->cgroup_manager);
  gen_kv_str(g, "cgroupUnit", st->cgroup_unit);
  if (st->creator_cgroup && !st->cgroup_manager)
    gen_kv_str(g, "creatorCgroup", st->creator_cgroup);
  gen_str(g, "netHelperPid");
  yajl_gen_integer(g, st->net_helper_pid);
  gen_str(g, "systemd");
  yajl_gen_bool(g, st->use_systemd);
  if (st->has_exit_status) {
    gen_str(g, "exitStatus");
    yajl_gen_integer(g, st->exit_status);
  }
  if (st->finished)
    gen_kv_str(g, "finished", st->finished);
  gen_annotations(g, st);
  yajl_gen_map_close(g);
  _cleanup_free_ char *text = gen_finish(g);
  return write_file_atomic_at(dirfd, STATE_FILE, text, strlen(text), 0600, err);
}

char *state_to_oci_json(const struct container_state *st, enum container_status s, bool pretty) {
  yajl_gen g = yajl_gen_alloc(NULL);
  yajl_gen_config(g, yajl_gen_beautify, pretty ? 1 : 0);
  yajl_gen_map_open(g);
  gen_kv_str(g, "ociVersion", "1.2.0");
  gen_kv_str(g, "id", st->id);
  gen_kv_str(g, "status", state_status_name(s));
  gen_str(g, "pid");
  yajl_gen_integer(g, s == STATUS_STOPPED ? 0 : st->pid);
  gen_kv_str(g, "bundle", st->bundle);
  gen_kv_str(g, "rootfs", st->rootfs);
  gen_kv_str(g, "created", st->created);
  gen_kv_str(g, "owner", st->owner ? st->owner : "");
  gen_annotations(g, st);
  if (st->has_exit_status) {
    gen_str(g, "exitStatus");
    yajl_gen_integer(g, st->exit_status);
  }
  if (st->finished)
    gen_kv_str(g, "finished", st->finished);
  yajl_gen_map_close(g);
  return gen_finish(g);
}

int state_dir_remove(const char *root, const char *id, nook_error *err) {
  _cleanup_close_ int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return nook_err(err, errno, "open state root `%s`", root);
  int r = rm_rf_at(rootfd, id);
  if (r < 0)
    return nook_err(err, -r, "remove state of container \"%s\"", id);
  return 0;
}

/* Field `field` (1-based, as proc(5) counts) of /proc/PID/stat, or NULL when
 * the process is gone or has finished running (zombie). */
static char *stat_field(pid_t pid, int field, char *buf, size_t size) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  ssize_t n = read(fd, buf, size - 1);
  if (n <= 0)
    return NULL;
  buf[n] = '\0';
  /* The command name may hold spaces and parentheses: fields start after the
   * last ')'. state (field 3) is first after it. */
  char *p = strrchr(buf, ')');
  if (!p)
    return NULL;
  p += 2;
  if (*p == 'Z' || *p == 'X')
    return NULL;
  for (int i = 3; i < field; i++) {
    p = strchr(p, ' ');
    if (!p)
      return NULL;
    p++;
  }
  return p;
}

unsigned long long pid_start_time(pid_t pid) {
  char buf[1024];
  const char *p = stat_field(pid, 22, buf, sizeof(buf));
  return p ? strtoull(p, NULL, 10) : 0;
}

#define PF_EXITING 0x00000004

/* do_exit sets PF_EXITING long before the zombie state: namespaces and
 * files are torn down in between, and the kernel moves no exiting task
 * between cgroups, though the write that asked for it succeeds. */
bool pid_is_exiting_or_gone(pid_t pid) {
  char buf[1024];
  const char *p = stat_field(pid, 9, buf, sizeof(buf));
  return !p || (strtoull(p, NULL, 10) & PF_EXITING);
}

bool pid_is_same_process(pid_t pid, unsigned long long start_time) {
  if (pid <= 0)
    return false;
  unsigned long long t = pid_start_time(pid);
  return t != 0 && t == start_time;
}

enum container_status state_status(int dirfd, const struct container_state *st) {
  if (!pid_is_same_process(st->pid, st->pid_start_time))
    return STATUS_STOPPED;
  if (st->creating)
    return STATUS_CREATING;
  if (faccessat(dirfd, EXEC_FIFO_NAME, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
    return STATUS_CREATED;
  if (st->cgroup_path && cgroup_path_is_frozen(st->cgroup_path))
    return STATUS_PAUSED;
  return STATUS_RUNNING;
}

const char *state_status_name(enum container_status s) {
  switch (s) {
  case STATUS_CREATING:
    return "creating";
  case STATUS_CREATED:
    return "created";
  case STATUS_RUNNING:
    return "running";
  case STATUS_PAUSED:
    return "paused";
  case STATUS_STOPPED:
    return "stopped";
  }
  return "unknown";
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int state_list_ids(const char *root, char ***ids, nook_error *err) {
  _cleanup_closedir_ DIR *d = opendir(root);
  *ids = xcalloc(1, sizeof(char *));
  if (!d) {
    if (errno == ENOENT)
      return 0;
    return nook_err(err, errno, "open state root `%s`", root);
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.' || de->d_type != DT_DIR)
      continue;
    strv_push(ids, de->d_name);
  }
  qsort(*ids, strv_len(*ids), sizeof(char *), cmp_str);
  return 0;
}
