#include "store.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "log.h"
#include "rootless/idmap.h"
#include "util.h"

char *store_root(const char *override) {
  if (override && *override)
    return xstrdup(override);
  const char *env = getenv("NOOK_STORAGE");
  if (env && *env)
    return xstrdup(env);
  const char *xdg = getenv("XDG_DATA_HOME");
  if (xdg && *xdg == '/')
    return xasprintf("%s/nook/storage", xdg);
  const char *home = getenv("HOME");
  return xasprintf("%s/.local/share/nook/storage", home && *home ? home : "/tmp");
}

int store_lock(const char *root, bool exclusive, int *fd, nook_error *err) {
  static const char *const dirs[] = {"blobs/sha256", "layers", "images", "containers", "tmp"};
  *fd = -1;
  for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
    _cleanup_free_ char *p = xasprintf("%s/%s", root, dirs[i]);
    int r = mkdir_p(p, 0700, err);
    if (r < 0)
      return nook_err_prefix(err, r, "create the image store");
  }
  _cleanup_free_ char *path = xasprintf("%s/lock", root);
  _cleanup_close_ int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lfd < 0)
    return nook_err(err, errno, "open the store lock `%s`", path);
  while (flock(lfd, exclusive ? LOCK_EX : LOCK_SH) < 0)
    if (errno != EINTR)
      return nook_err(err, errno, "lock `%s`", path);
  *fd = steal_fd(&lfd);
  return 0;
}

void store_image_free(struct store_image *img) {
  free(img->id);
  strv_free(img->names);
  free(img->manifest_digest);
  free(img->config_digest);
  strv_free(img->layers);
  free(img->created);
  memset(img, 0, sizeof(*img));
}

void image_config_free(struct image_config *cfg) {
  strv_free(cfg->env);
  strv_free(cfg->cmd);
  strv_free(cfg->entrypoint);
  free(cfg->working_dir);
  free(cfg->user);
  strv_free(cfg->exposed_ports);
  strv_free(cfg->volumes);
  free(cfg->os);
  free(cfg->architecture);
  memset(cfg, 0, sizeof(*cfg));
}

static void yajl_tree_freep(yajl_val *v) {
  if (*v)
    yajl_tree_free(*v);
}
#define _cleanup_yajl_ _cleanup_(yajl_tree_freep)

static const char *json_str(yajl_val obj, const char *key) {
  const char *path[] = {key, NULL};
  yajl_val v = yajl_tree_get(obj, path, yajl_t_string);
  return v ? YAJL_GET_STRING(v) : NULL;
}

static char *json_strdup(yajl_val obj, const char *key) {
  const char *s = json_str(obj, key);
  return s ? xstrdup(s) : NULL;
}

/* An array of strings, or the keys of an object (ExposedPorts, Volumes). */
static char **json_strv(yajl_val obj, const char *key) {
  const char *path[] = {key, NULL};
  yajl_val v = yajl_tree_get(obj, path, yajl_t_any);
  char **out = NULL;
  if (YAJL_IS_ARRAY(v)) {
    out = xcalloc(1, sizeof(char *));
    for (size_t i = 0; i < v->u.array.len; i++)
      if (YAJL_IS_STRING(v->u.array.values[i]))
        strv_push(&out, YAJL_GET_STRING(v->u.array.values[i]));
  } else if (YAJL_IS_OBJECT(v)) {
    out = xcalloc(1, sizeof(char *));
    for (size_t i = 0; i < v->u.object.len; i++)
      strv_push(&out, v->u.object.keys[i]);
  }
  return out;
}

static int parse_json(const char *what, const char *text, yajl_val *out, nook_error *err) {
  char ebuf[256];
  *out = yajl_tree_parse(text, ebuf, sizeof(ebuf));
  if (!*out) {
    ebuf[strcspn(ebuf, "\n")] = '\0';
    return nook_errx(err, EINVAL, "%s: invalid JSON: %s", what, ebuf);
  }
  return 0;
}

static bool is_hex64(const char *s) {
  if (strlen(s) != 64)
    return false;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return false;
  return true;
}

int store_image_load(const char *root, const char *id, struct store_image *img, nook_error *err) {
  memset(img, 0, sizeof(*img));
  if (!is_hex64(id))
    return nook_errx(err, EINVAL, "`%s` is not an image id", id);
  _cleanup_free_ char *path = xasprintf("%s/images/%s.json", root, id);
  _cleanup_free_ char *text = NULL;
  int r = read_file_at(AT_FDCWD, path, &text, NULL, err);
  if (r < 0)
    return r;
  _cleanup_yajl_ yajl_val doc = NULL;
  r = parse_json(path, text, &doc, err);
  if (r < 0)
    return r;
  img->id = xstrdup(id);
  img->names = json_strv(doc, "names");
  if (!img->names)
    img->names = xcalloc(1, sizeof(char *));
  img->manifest_digest = json_strdup(doc, "manifest");
  img->config_digest = json_strdup(doc, "config");
  img->layers = json_strv(doc, "layers");
  img->created = json_strdup(doc, "created");
  const char *sp[] = {"size", NULL};
  yajl_val size = yajl_tree_get(doc, sp, yajl_t_number);
  if (size && YAJL_IS_INTEGER(size))
    img->size = (uint64_t)YAJL_GET_INTEGER(size);
  if (!img->config_digest || !img->layers) {
    store_image_free(img);
    return nook_errx(err, EINVAL, "%s: not an image record (missing config or layers)", path);
  }
  return 0;
}

int store_list_images(const char *root, char ***ids, nook_error *err) {
  _cleanup_free_ char *path = xasprintf("%s/images", root);
  *ids = xcalloc(1, sizeof(char *));
  _cleanup_closedir_ DIR *d = opendir(path);
  if (!d)
    return errno == ENOENT ? 0 : nook_err(err, errno, "open `%s`", path);
  struct dirent *de;
  while ((de = readdir(d))) {
    size_t len = strlen(de->d_name);
    if (len != 69 || strcmp(de->d_name + 64, ".json") != 0)
      continue;
    _cleanup_free_ char *id = xstrndup(de->d_name, 64);
    if (is_hex64(id))
      strv_push(ids, id);
  }
  return 0;
}

char *store_normalize_name(const char *ref) {
  const char *slash = strrchr(ref, '/');
  const char *last = slash ? slash + 1 : ref;
  if (strchr(last, ':') || strchr(ref, '@'))
    return xstrdup(ref);
  return xasprintf("%s:latest", ref);
}

/* "test:1" matches "127.0.0.1:5000/test:1" and "docker.io/library/test:1". */
static bool name_matches(const char *stored, const char *want) {
  if (strcmp(stored, want) == 0)
    return true;
  size_t ls = strlen(stored), lw = strlen(want);
  return ls > lw && stored[ls - lw - 1] == '/' && strcmp(stored + ls - lw, want) == 0;
}

const char *store_image_name_of(const struct store_image *img, const char *ref) {
  _cleanup_free_ char *want = store_normalize_name(ref);
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; img->names[i]; i++)
      if (pass == 0 ? strcmp(img->names[i], want) == 0 : name_matches(img->names[i], want))
        return img->names[i];
  return NULL;
}

int store_find_image(const char *root, const char *ref, struct store_image *img, nook_error *err) {
  memset(img, 0, sizeof(*img));
  const char *id = str_has_prefix(ref, "sha256:") ? ref + 7 : ref;
  _cleanup_strv_ char **ids = NULL;
  int r = store_list_images(root, &ids, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *want = store_normalize_name(ref);
  size_t idlen = strlen(id);
  bool hexish = idlen >= 4 && idlen <= 64 && strspn(id, "0123456789abcdef") == idlen;
  char *by_prefix = NULL;
  int prefix_hits = 0;
  for (size_t i = 0; ids[i]; i++) {
    if (hexish && strncmp(ids[i], id, idlen) == 0) {
      by_prefix = ids[i];
      prefix_hits++;
    }
  }
  if (prefix_hits == 1 && idlen == 64)
    return store_image_load(root, by_prefix, img, err);
  /* Names: an exact match wins over a suffix match. */
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; ids[i]; i++) {
      struct store_image cand;
      nook_error ignore;
      if (store_image_load(root, ids[i], &cand, &ignore) < 0)
        continue;
      for (size_t j = 0; cand.names[j]; j++) {
        if (pass == 0 ? strcmp(cand.names[j], want) == 0 : name_matches(cand.names[j], want)) {
          *img = cand;
          return 0;
        }
      }
      store_image_free(&cand);
    }
  }
  if (prefix_hits == 1)
    return store_image_load(root, by_prefix, img, err);
  if (prefix_hits > 1)
    return nook_errx(err, EINVAL, "image id prefix `%s` is ambiguous: give more digits", id);
  return nook_errx(err, ENOENT,
                   "image `%s` not found in the store %s (see 'nook image list'; get it with "
                   "'nook image pull' or 'nook image import')",
                   ref, root);
}

int image_config_parse(const char *json, size_t len, struct image_config *cfg, nook_error *err) {
  memset(cfg, 0, sizeof(*cfg));
  _cleanup_yajl_ yajl_val doc = NULL;
  int r = parse_json("image config", json, &doc, err);
  if (r < 0)
    return r;
  if (!YAJL_IS_OBJECT(doc))
    return nook_errx(err, EINVAL, "image config: not a JSON object");
  cfg->os = json_strdup(doc, "os");
  cfg->architecture = json_strdup(doc, "architecture");
  const char *cp[] = {"config", NULL};
  yajl_val c = yajl_tree_get(doc, cp, yajl_t_object);
  if (!c)
    return 0;
  cfg->env = json_strv(c, "Env");
  cfg->cmd = json_strv(c, "Cmd");
  cfg->entrypoint = json_strv(c, "Entrypoint");
  cfg->working_dir = json_strdup(c, "WorkingDir");
  cfg->user = json_strdup(c, "User");
  cfg->exposed_ports = json_strv(c, "ExposedPorts");
  cfg->volumes = json_strv(c, "Volumes");
  return 0;
}

int store_image_config(const char *root, const struct store_image *img, struct image_config *cfg,
                       nook_error *err) {
  if (!str_has_prefix(img->config_digest, "sha256:"))
    return nook_errx(err, EINVAL, "image %s: unsupported config digest `%s`", img->id,
                     img->config_digest);
  _cleanup_free_ char *path =
      xasprintf("%s/blobs/sha256/%s", root, img->config_digest + strlen("sha256:"));
  _cleanup_free_ char *text = NULL;
  size_t len;
  int r = read_file_at(AT_FDCWD, path, &text, &len, err);
  if (r < 0)
    return nook_err_prefix(err, r, "image %s config", img->id);
  r = image_config_parse(text, len, cfg, err);
  return r < 0 ? nook_err_prefix(err, r, "image %s", img->id) : 0;
}

int store_userns_start(int (*fn)(void *arg, nook_error *err), void *arg, int extra_flags,
                       struct store_userns_child *child, nook_error *err) {
  child->pid = -1;
  child->msg_fd = -1;
  int ready[2], go[2], msg[2];
  if (pipe2(ready, O_CLOEXEC) < 0)
    return nook_err(err, errno, "pipe");
  if (pipe2(go, O_CLOEXEC) < 0 || pipe2(msg, O_CLOEXEC) < 0) {
    int e = errno;
    close(ready[0]);
    close(ready[1]);
    return nook_err(err, e, "pipe");
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    for (int i = 0; i < 2; i++) {
      close(ready[i]);
      close(go[i]);
      close(msg[i]);
    }
    return nook_err(err, e, "fork");
  }
  if (pid == 0) {
    close(ready[0]);
    close(go[1]);
    close(msg[0]);
    nook_error cerr;
    nook_err_clear(&cerr);
    int r = 0;
    if (unshare(CLONE_NEWUSER | extra_flags) < 0)
      r = nook_err(&cerr, errno, "create a user namespace");
    char c = r < 0 ? 'x' : 'u';
    (void)!write(ready[1], &c, 1);
    if (r == 0 && read(go[0], &c, 1) != 1)
      _exit(3); /* the parent could not write our maps and said so itself */
    if (r == 0 && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
      r = nook_err(&cerr, errno, "become root in the user namespace");
    /* Work for a parent that was killed is work nobody will trust. */
    if (r == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1))
      _exit(4);
    if (r == 0)
      r = fn(arg, &cerr);
    if (r < 0) {
      (void)!write(msg[1], cerr.msg, strlen(cerr.msg));
      _exit(-r > 0 && -r < 256 ? -r : 1);
    }
    _exit(0);
  }
  close(ready[1]);
  close(go[0]);
  close(msg[1]);
  child->pid = pid;
  child->msg_fd = msg[0];
  char c = 0;
  int r = 0;
  err->msg[0] = '\0';
  if (read(ready[0], &c, 1) != 1 || c != 'u') {
    r = -1; /* the child says why, through wait */
  } else {
    bool single = false;
    r = idmap_setup_rootless(pid, &single, err);
    if (r == 0 && single) {
      static bool warned;
      if (!warned)
        nook_warn("no subordinate ids for uid %d in /etc/subuid and /etc/subgid: only your own "
                  "id is mapped, so image files are stored as owned by you (add a range with "
                  "usermod --add-subuids/--add-subgids)", (int)getuid());
      warned = true;
    }
    if (r == 0)
      (void)!write(go[1], "g", 1);
  }
  close(ready[0]);
  close(go[1]);
  if (r < 0 && err->msg[0]) {
    /* The maps failed: the child ends when it sees go closed. */
    close(child->msg_fd);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
      ;
    child->pid = -1;
    child->msg_fd = -1;
    return r;
  }
  return 0;
}

int store_userns_wait(struct store_userns_child *child, nook_error *err) {
  if (child->pid < 0)
    return 0;
  _cleanup_free_ char *text = NULL;
  if (read_all(child->msg_fd, &text, NULL) < 0)
    text = NULL;
  close(child->msg_fd);
  child->msg_fd = -1;
  int status;
  pid_t pid = child->pid;
  child->pid = -1;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return nook_err(err, errno, "wait for the user namespace child");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return 0;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
  if (text && *text)
    return nook_errx(err, code, "%s", text);
  if (WIFSIGNALED(status))
    return nook_errx(err, EINTR, "the user namespace child was killed by signal %d",
                     WTERMSIG(status));
  return nook_errx(err, code, "the user namespace child failed with status %d", code);
}

int store_run_in_userns(int (*fn)(void *arg, nook_error *err), void *arg, int extra_flags,
                        nook_error *err) {
  struct store_userns_child child;
  int r = store_userns_start(fn, arg, extra_flags, &child, err);
  if (r < 0)
    return r;
  return store_userns_wait(&child, err);
}

struct rm_args {
  const char *dir;
  const char *name;
};

static int rm_in_ns(void *arg, nook_error *err) {
  struct rm_args *a = arg;
  _cleanup_close_ int dfd = open(a->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return errno == ENOENT ? 0 : nook_err(err, errno, "open `%s`", a->dir);
  int r = rm_rf_at(dfd, a->name);
  if (r < 0)
    return nook_err(err, -r, "remove `%s/%s`", a->dir, a->name);
  return 0;
}

int store_rm_rf_in_userns(const char *dir, const char *name, nook_error *err) {
  _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
  struct stat st;
  if (lstat(path, &st) < 0 && errno == ENOENT)
    return 0;
  /* Cheap first try: what only we own needs no namespace. */
  if (rm_rf_at(AT_FDCWD, path) == 0)
    return 0;
  struct rm_args a = {dir, name};
  return store_run_in_userns(rm_in_ns, &a, 0, err);
}
