/* The store session (locks, scratch dir), sha256, and content-addressed
 * blobs that are only ever renamed into place after their content checked. */
#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "util.h"

int image_ctx_open(struct image_ctx *ctx, const char *root, bool exclusive, nook_error *err) {
  memset(ctx, 0, sizeof(*ctx));
  ctx->lock_fd = ctx->work_lock = -1;
  ctx->root = xstrdup(root);
  ctx->progress = isatty(STDERR_FILENO);
  int r = store_lock(root, exclusive, &ctx->lock_fd, err);
  if (r < 0)
    return r;
  /* The lock file gets its final name only once flocked, so a cleaner never
   * sees a live writer's lock unlocked. */
  _cleanup_free_ char *tmpl = xasprintf("%s/tmp/.new-XXXXXX", root);
  int fd = mkostemp(tmpl, O_CLOEXEC);
  if (fd < 0)
    return nook_err(err, errno, "create a scratch lock under `%s/tmp`", root);
  if (flock(fd, LOCK_EX) < 0) {
    close(fd);
    unlink(tmpl);
    return nook_err(err, errno, "lock `%s`", tmpl);
  }
  ctx->work_lock = fd;
  const char *base = strrchr(tmpl, '-') + 1;
  ctx->work = xasprintf("%s/tmp/w%d-%s", root, (int)getpid(), base);
  _cleanup_free_ char *lockname = xasprintf("%s.lock", ctx->work);
  if (rename(tmpl, lockname) < 0) {
    unlink(tmpl);
    return nook_err(err, errno, "rename `%s`", tmpl);
  }
  if (mkdir(ctx->work, 0700) < 0)
    return nook_err(err, errno, "create `%s`", ctx->work);
  return 0;
}

void image_ctx_close(struct image_ctx *ctx) {
  if (ctx->work) {
    nook_error err;
    _cleanup_free_ char *tmpdir = xasprintf("%s/tmp", ctx->root);
    const char *name = strrchr(ctx->work, '/') + 1;
    if (store_rm_rf_in_userns(tmpdir, name, &err) < 0)
      nook_warn("%s", err.msg);
    _cleanup_free_ char *lockname = xasprintf("%s.lock", ctx->work);
    unlink(lockname);
  }
  if (ctx->work_lock >= 0)
    close(ctx->work_lock);
  if (ctx->lock_fd >= 0)
    close(ctx->lock_fd);
  free(ctx->work);
  free(ctx->root);
  memset(ctx, 0, sizeof(*ctx));
  ctx->lock_fd = ctx->work_lock = -1;
}

void image_ctx_clean_stale(struct image_ctx *ctx) {
  _cleanup_free_ char *tmpdir = xasprintf("%s/tmp", ctx->root);
  _cleanup_closedir_ DIR *d = opendir(tmpdir);
  if (!d)
    return;
  struct dirent *de;
  while ((de = readdir(d))) {
    size_t len = strlen(de->d_name);
    _cleanup_free_ char *path = xasprintf("%s/%s", tmpdir, de->d_name);
    if (str_has_prefix(de->d_name, ".new-")) {
      /* Left by a writer killed between creating and renaming its lock. */
      struct stat st;
      if (stat(path, &st) == 0 && st.st_mtime < time(NULL) - 60)
        unlink(path);
      continue;
    }
    if (len < 6 || strcmp(de->d_name + len - 5, ".lock") != 0)
      continue;
    _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
      continue; /* alive */
    _cleanup_free_ char *name = xstrndup(de->d_name, len - 5);
    nook_error err;
    if (store_rm_rf_in_userns(tmpdir, name, &err) < 0) {
      nook_warn("remove what an interrupted writer left: %s", err.msg);
      continue;
    }
    nook_debug("removed `%s/%s` left by an interrupted writer", tmpdir, name);
    unlink(path);
  }
}

int image_commit_lock(struct image_ctx *ctx, int *fd, nook_error *err) {
  _cleanup_free_ char *path = xasprintf("%s/commit.lock", ctx->root);
  _cleanup_close_ int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lfd < 0)
    return nook_err(err, errno, "open `%s`", path);
  while (flock(lfd, LOCK_EX) < 0)
    if (errno != EINTR)
      return nook_err(err, errno, "lock `%s`", path);
  *fd = steal_fd(&lfd);
  return 0;
}

struct sha256_ctx {
  EVP_MD_CTX *md;
};

struct sha256_ctx *sha256_new(void) {
  struct sha256_ctx *h = xmalloc(sizeof(*h));
  h->md = EVP_MD_CTX_new();
  if (!h->md || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1)
    abort();
  return h;
}

void sha256_update(struct sha256_ctx *h, const void *data, size_t len) {
  EVP_DigestUpdate(h->md, data, len);
}

void sha256_finish(struct sha256_ctx *h, char out[72]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(h->md, md, &n);
  EVP_MD_CTX_free(h->md);
  free(h);
  memcpy(out, "sha256:", 7);
  for (unsigned i = 0; i < n && i < 32; i++)
    snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

void sha256_of(const void *data, size_t len, char out[72]) {
  struct sha256_ctx *h = sha256_new();
  sha256_update(h, data, len);
  sha256_finish(h, out);
}

int sha256_file(const char *path, char out[72], nook_error *err) {
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return nook_err(err, errno, "open `%s`", path);
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  struct sha256_ctx *h = sha256_new();
  static char buf[1 << 20];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      char dummy[72];
      sha256_finish(h, dummy);
      return nook_err(err, e, "read `%s`", path);
    }
    if (n == 0)
      break;
    sha256_update(h, buf, (size_t)n);
  }
  sha256_finish(h, out);
  return 0;
}

bool digest_valid(const char *digest) {
  if (!digest || !str_has_prefix(digest, "sha256:") || strlen(digest) != 71)
    return false;
  return strspn(digest + 7, "0123456789abcdef") == 64;
}

char *blob_path(const struct image_ctx *ctx, const char *digest) {
  return xasprintf("%s/blobs/sha256/%s", ctx->root, digest + 7);
}

bool blob_exists(const struct image_ctx *ctx, const char *digest) {
  _cleanup_free_ char *p = blob_path(ctx, digest);
  return access(p, F_OK) == 0;
}

static int digest_mismatch(nook_error *err, const char *digest, const char *got,
                           const char *what) {
  return nook_errx(err, EILSEQ,
                   "digest mismatch for %s: expected %s but the content is %s (a corrupt or "
                   "tampered blob; nothing was stored)",
                   what, digest, got);
}

static int store_err(const struct image_ctx *ctx, nook_error *err, int e, const char *what) {
  if (e == ENOSPC || e == EDQUOT)
    return nook_errx(err, e, "disk full while writing %s into the image store `%s`: free some "
                             "space (nook image prune removes unused layers)", what, ctx->root);
  return nook_err(err, e, "write %s into the image store", what);
}

int blob_store_file(struct image_ctx *ctx, const char *path, const char *digest, bool may_move,
                    nook_error *err) {
  if (!digest_valid(digest))
    return nook_errx(err, EINVAL, "unsupported digest `%s` (nook reads sha256 digests)", digest);
  if (blob_exists(ctx, digest))
    return 0;
  _cleanup_free_ char *dest = blob_path(ctx, digest);
  char got[72];
  if (may_move) {
    int r = sha256_file(path, got, err);
    if (r < 0)
      return r;
    if (strcmp(got, digest) != 0)
      return digest_mismatch(err, digest, got, digest);
    if (rename(path, dest) < 0)
      return store_err(ctx, err, errno, digest);
    return 0;
  }
  _cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return nook_err(err, errno, "open `%s`", path);
  _cleanup_free_ char *tmp = xasprintf("%s/blob-%s", ctx->work, digest + 7);
  _cleanup_close_ int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0)
    return store_err(ctx, err, errno, digest);
  struct sha256_ctx *h = sha256_new();
  static char buf[1 << 20];
  int ret = 0;
  for (;;) {
    ssize_t n = read(in, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      ret = nook_err(err, errno, "read `%s`", path);
      break;
    }
    if (n == 0)
      break;
    sha256_update(h, buf, (size_t)n);
    int w = write_all(out, buf, (size_t)n);
    if (w < 0) {
      ret = store_err(ctx, err, -w, digest);
      break;
    }
  }
  sha256_finish(h, got);
  if (ret == 0 && strcmp(got, digest) != 0)
    ret = digest_mismatch(err, digest, got, digest);
  if (ret == 0 && rename(tmp, dest) < 0)
    ret = store_err(ctx, err, errno, digest);
  if (ret < 0)
    unlink(tmp);
  return ret;
}

int blob_store_data(struct image_ctx *ctx, const void *data, size_t len, const char *digest,
                    nook_error *err) {
  if (!digest_valid(digest))
    return nook_errx(err, EINVAL, "unsupported digest `%s` (nook reads sha256 digests)", digest);
  char got[72];
  sha256_of(data, len, got);
  if (strcmp(got, digest) != 0)
    return digest_mismatch(err, digest, got, digest);
  if (blob_exists(ctx, digest))
    return 0;
  _cleanup_free_ char *tmp = xasprintf("%s/blob-%s", ctx->work, digest + 7);
  _cleanup_free_ char *dest = blob_path(ctx, digest);
  _cleanup_close_ int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0)
    return store_err(ctx, err, errno, digest);
  int w = write_all(out, data, len);
  if (w < 0 || rename(tmp, dest) < 0) {
    int e = w < 0 ? -w : errno;
    unlink(tmp);
    return store_err(ctx, err, e, digest);
  }
  return 0;
}

enum media_kind media_kind_of(const char *mt) {
  static const char *const layers[] = {
      "application/vnd.oci.image.layer.v1.tar",
      "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.oci.image.layer.v1.tar+zstd",
      "application/vnd.oci.image.layer.nondistributable.v1.tar",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
      "application/vnd.docker.image.rootfs.diff.tar",
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
      "application/vnd.docker.image.rootfs.diff.tar.zstd",
      "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  };
  if (!mt)
    return MEDIA_UNKNOWN;
  if (!strcmp(mt, "application/vnd.oci.image.manifest.v1+json") ||
      !strcmp(mt, "application/vnd.docker.distribution.manifest.v2+json"))
    return MEDIA_MANIFEST;
  if (!strcmp(mt, "application/vnd.oci.image.index.v1+json") ||
      !strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json"))
    return MEDIA_INDEX;
  if (!strcmp(mt, "application/vnd.oci.image.config.v1+json") ||
      !strcmp(mt, "application/vnd.docker.container.image.v1+json"))
    return MEDIA_CONFIG;
  for (size_t i = 0; i < ARRAY_SIZE(layers); i++)
    if (!strcmp(mt, layers[i]))
      return MEDIA_LAYER;
  return MEDIA_UNKNOWN;
}

void yajl_tree_freep(yajl_val *v) {
  if (*v)
    yajl_tree_free(*v);
}

yajl_val jget(yajl_val obj, const char *key, yajl_type type) {
  const char *path[] = {key, NULL};
  return obj ? yajl_tree_get(obj, path, type) : NULL;
}

void gen_str(yajl_gen g, const char *s) {
  yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

const char *jstr(yajl_val obj, const char *key) {
  yajl_val v = jget(obj, key, yajl_t_string);
  return v ? YAJL_GET_STRING(v) : NULL;
}

int jparse(const char *what, const char *text, yajl_val *out, nook_error *err) {
  char ebuf[256];
  *out = yajl_tree_parse(text, ebuf, sizeof(ebuf));
  if (!*out) {
    ebuf[strcspn(ebuf, "\n")] = '\0';
    return nook_errx(err, EINVAL, "%s: invalid JSON (%s)", what, ebuf);
  }
  if (!YAJL_IS_OBJECT(*out)) {
    yajl_tree_free(*out);
    *out = NULL;
    return nook_errx(err, EINVAL, "%s: not a JSON object", what);
  }
  return 0;
}
