/* nook image pull: the registry v2 protocol over libcurl. Manifests are
 * checked against their digests, indexes resolved to this host's platform,
 * blobs fetched in parallel (curl multi) into scratch files, hashed while
 * they arrive and renamed into the store only when their digest matches. */
#include <curl/curl.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "util.h"

#define MAX_PARALLEL 4
#define MANIFEST_MAX (4 << 20)

struct registry {
  char *host;      /* as written: "127.0.0.1:5000", "docker.io" */
  char *api;       /* "https://registry-1.docker.io" */
  char *repo;      /* "library/busybox" */
  char *reference; /* tag or digest */
  char *name;      /* what the store calls it */
  char *auth;      /* "Authorization: Bearer ..." or NULL */
  bool tls_verify;
};

static void registry_free(struct registry *r) {
  free(r->host);
  free(r->api);
  free(r->repo);
  free(r->reference);
  free(r->name);
  free(r->auth);
}

static int parse_ref(const char *ref, struct registry *reg, nook_error *err) {
  memset(reg, 0, sizeof(*reg));
  const char *s = ref;
  if (str_has_prefix(s, "docker://"))
    s += strlen("docker://");
  const char *slash = strchr(s, '/');
  if (slash && (memchr(s, '.', (size_t)(slash - s)) || memchr(s, ':', (size_t)(slash - s)) ||
                !strncmp(s, "localhost/", 10))) {
    reg->host = xstrndup(s, (size_t)(slash - s));
    s = slash + 1;
  } else {
    reg->host = xstrdup("docker.io");
  }
  const char *at = strchr(s, '@');
  const char *colon = strrchr(s, ':');
  size_t repo_len;
  if (at) {
    repo_len = (size_t)(at - s);
    reg->reference = xstrdup(at + 1);
    if (!digest_valid(reg->reference))
      return nook_errx(err, EINVAL, "image reference `%s`: unsupported digest", ref);
  } else if (colon && !strchr(colon, '/')) {
    repo_len = (size_t)(colon - s);
    reg->reference = xstrdup(colon + 1);
  } else {
    repo_len = strlen(s);
    reg->reference = xstrdup("latest");
  }
  if (repo_len == 0 || !*reg->reference)
    return nook_errx(err, EINVAL, "image reference `%s`: expected [HOST/]NAME[:TAG|@DIGEST]", ref);
  _cleanup_free_ char *repo = xstrndup(s, repo_len);
  for (char *p = repo; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("._-/", *p)))
      return nook_errx(err, EINVAL, "image reference `%s`: `%s` is not a valid repository name "
                                    "(lowercase letters, digits, . _ - /)", ref, repo);
  if (!strcmp(reg->host, "docker.io") && !strchr(repo, '/'))
    reg->repo = xasprintf("library/%s", repo);
  else
    reg->repo = xstrdup(repo);
  reg->name = xasprintf("%s/%s%s%s", reg->host, reg->repo, at ? "@" : ":", reg->reference);
  return 0;
}

struct response {
  long code;
  char *body;
  size_t len;
  char *content_type;
  char *www_auth;
  bool too_big;
};

static void response_free(struct response *r) {
  free(r->body);
  free(r->content_type);
  free(r->www_auth);
  memset(r, 0, sizeof(*r));
}

static size_t body_cb(char *data, size_t size, size_t n, void *arg) {
  struct response *r = arg;
  size_t len = size * n;
  if (r->len + len > MANIFEST_MAX) {
    r->too_big = true;
    return 0;
  }
  r->body = xrealloc(r->body, r->len + len + 1);
  memcpy(r->body + r->len, data, len);
  r->len += len;
  r->body[r->len] = '\0';
  return len;
}

static char *header_value(const char *line, size_t len, const char *name) {
  size_t n = strlen(name);
  if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
    return NULL;
  const char *v = line + n + 1;
  const char *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
    end--;
  return xstrndup(v, (size_t)(end - v));
}

static size_t header_cb(char *line, size_t size, size_t n, void *arg) {
  struct response *r = arg;
  size_t len = size * n;
  char *v;
  if ((v = header_value(line, len, "Content-Type"))) {
    free(r->content_type);
    r->content_type = v;
  } else if ((v = header_value(line, len, "WWW-Authenticate"))) {
    free(r->www_auth);
    r->www_auth = v;
  }
  return len;
}

static CURL *easy_new(const struct registry *reg, const char *url, struct curl_slist *headers) {
  CURL *c = curl_easy_init();
  if (!c)
    abort();
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "nook/0.1");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (!reg->tls_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (headers)
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  return c;
}

static int http_get(const struct registry *reg, const char *url, const char *accept,
                    struct response *resp, nook_error *err) {
  memset(resp, 0, sizeof(*resp));
  struct curl_slist *h = NULL;
  if (accept) {
    _cleanup_free_ char *a = xasprintf("Accept: %s", accept);
    h = curl_slist_append(h, a);
  }
  if (reg->auth)
    h = curl_slist_append(h, reg->auth);
  CURL *c = easy_new(reg, url, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
  char ebuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->code);
  curl_easy_cleanup(c);
  curl_slist_free_all(h);
  if (resp->too_big)
    return nook_errx(err, EFBIG, "%s: the response is larger than a manifest may be", url);
  if (rc != CURLE_OK) {
    const char *hint = "";
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR)
      hint = " (for a registry without a valid certificate or without TLS, pass "
             "--tls-verify=false)";
    return nook_errx(err, EHOSTUNREACH, "cannot reach %s: %s%s", url,
                     *ebuf ? ebuf : curl_easy_strerror(rc), hint);
  }
  return 0;
}

/* Bearer realm="https://auth.docker.io/token",service="registry.docker.io" */
static char *challenge_param(const char *challenge, const char *key) {
  size_t klen = strlen(key);
  for (const char *p = challenge; (p = strstr(p, key)); p += klen) {
    if (p != challenge && p[-1] != ' ' && p[-1] != ',')
      continue;
    if (p[klen] != '=' || p[klen + 1] != '"')
      continue;
    const char *v = p + klen + 2;
    const char *end = strchr(v, '"');
    return end ? xstrndup(v, (size_t)(end - v)) : NULL;
  }
  return NULL;
}

static char *url_escape(const char *s) {
  CURL *c = curl_easy_init();
  char *e = curl_easy_escape(c, s, 0);
  char *r = xstrdup(e);
  curl_free(e);
  curl_easy_cleanup(c);
  return r;
}

static int get_token(struct registry *reg, const char *challenge, nook_error *err) {
  if (strncasecmp(challenge, "Bearer ", 7) != 0)
    return nook_errx(err, EACCES, "registry %s asks for `%s` authentication; nook speaks bearer "
                                  "tokens only", reg->host, challenge);
  _cleanup_free_ char *realm = challenge_param(challenge + 7, "realm");
  _cleanup_free_ char *service = challenge_param(challenge + 7, "service");
  _cleanup_free_ char *scope = challenge_param(challenge + 7, "scope");
  if (!realm)
    return nook_errx(err, EACCES, "registry %s: bearer challenge without a realm", reg->host);
  if (!scope)
    scope = xasprintf("repository:%s:pull", reg->repo);
  _cleanup_free_ char *es = url_escape(scope);
  _cleanup_free_ char *esv = service ? url_escape(service) : NULL;
  _cleanup_free_ char *url = xasprintf("%s%sscope=%s%s%s", realm, strchr(realm, '?') ? "&" : "?",
                                       es, esv ? "&service=" : "", esv ? esv : "");
  struct response resp;
  char *saved = steal_pointer(&reg->auth);
  int r = http_get(reg, url, "application/json", &resp, err);
  free(saved);
  if (r < 0)
    return nook_err_prefix(err, r, "get a token from %s", realm);
  if (resp.code != 200) {
    long code = resp.code;
    response_free(&resp);
    return nook_errx(err, EACCES, "registry %s: the token server %s answered %ld", reg->host,
                     realm, code);
  }
  _cleanup_yajl_ yajl_val doc = NULL;
  r = jparse("token response", resp.body, &doc, err);
  response_free(&resp);
  if (r < 0)
    return r;
  const char *tok = jstr(doc, "token") ?: jstr(doc, "access_token");
  if (!tok)
    return nook_errx(err, EACCES, "registry %s: the token server gave no token", reg->host);
  reg->auth = xasprintf("Authorization: Bearer %s", tok);
  return 0;
}

/* GET with one retry after getting a token when the registry asks. */
static int registry_get(struct registry *reg, const char *url, const char *accept,
                        struct response *resp, nook_error *err) {
  int r = http_get(reg, url, accept, resp, err);
  if (r < 0 || resp->code != 401 || !resp->www_auth)
    return r;
  _cleanup_free_ char *challenge = xstrdup(resp->www_auth);
  response_free(resp);
  r = get_token(reg, challenge, err);
  if (r < 0)
    return r;
  return http_get(reg, url, accept, resp, err);
}

/* Finds the scheme: HTTPS, or with --tls-verify=false plain HTTP when the
 * registry does not speak TLS. */
static int registry_ping(struct registry *reg, nook_error *err) {
  const char *host = !strcmp(reg->host, "docker.io") ? "registry-1.docker.io" : reg->host;
  reg->api = xasprintf("https://%s", host);
  _cleanup_free_ char *url = xasprintf("%s/v2/", reg->api);
  struct response resp;
  int r = http_get(reg, url, NULL, &resp, err);
  if (r < 0 && !reg->tls_verify) {
    free(reg->api);
    reg->api = xasprintf("http://%s", host);
    free(url);
    url = xasprintf("%s/v2/", reg->api);
    r = http_get(reg, url, NULL, &resp, err);
  }
  if (r < 0)
    return r;
  long code = resp.code;
  response_free(&resp);
  if (code != 200 && code != 401)
    return nook_errx(err, EPROTO, "%s does not look like a registry v2 (GET /v2/ answered %ld)",
                     reg->host, code);
  nook_debug("registry %s at %s", reg->host, reg->api);
  return 0;
}

static const char *accept_manifests =
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

static int fetch_manifest(struct registry *reg, const char *reference, char **body, size_t *len,
                          char **media_type, char digest[72], nook_error *err) {
  _cleanup_free_ char *url = xasprintf("%s/v2/%s/manifests/%s", reg->api, reg->repo, reference);
  struct response resp;
  int r = registry_get(reg, url, accept_manifests, &resp, err);
  if (r < 0)
    return r;
  if (resp.code == 404) {
    response_free(&resp);
    return nook_errx(err, ENOENT, "image %s/%s:%s not found in the registry (manifest unknown)",
                     reg->host, reg->repo, reference);
  }
  if (resp.code == 401 || resp.code == 403) {
    response_free(&resp);
    return nook_errx(err, EACCES, "registry %s refused access to %s (HTTP %ld)", reg->host,
                     reg->repo, resp.code);
  }
  if (resp.code != 200 || !resp.body) {
    long code = resp.code;
    response_free(&resp);
    return nook_errx(err, EPROTO, "registry %s: manifest %s answered HTTP %ld", reg->host,
                     reference, code);
  }
  sha256_of(resp.body, resp.len, digest);
  if (str_has_prefix(reference, "sha256:") && strcmp(reference, digest) != 0) {
    response_free(&resp);
    return nook_errx(err, EILSEQ, "digest mismatch for manifest %s: the registry sent %s "
                                  "(nothing was stored)", reference, digest);
  }
  *body = steal_pointer(&resp.body);
  *len = resp.len;
  char *ct = resp.content_type;
  if (ct)
    ct[strcspn(ct, ";")] = '\0';
  *media_type = steal_pointer(&resp.content_type);
  response_free(&resp);
  return 0;
}

struct transfer {
  char *digest;
  int64_t size;
  char *part;
  int fd;
  struct sha256_ctx *hash;
  int64_t got;
  bool done;
  int write_errno;
  CURL *easy;
  struct curl_slist *headers;
  char ebuf[CURL_ERROR_SIZE];
};

static size_t transfer_write(char *data, size_t size, size_t n, void *arg) {
  struct transfer *t = arg;
  size_t len = size * n;
  long code = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
  if (code != 200)
    return len; /* an error page: the code is checked at the end */
  int r = write_all(t->fd, data, len);
  if (r < 0) {
    t->write_errno = -r;
    return 0;
  }
  sha256_update(t->hash, data, len);
  t->got += (int64_t)len;
  return len;
}

static void human(int64_t n, char *out, size_t cap) {
  if (n >= 1000 * 1000)
    snprintf(out, cap, "%.1f MB", (double)n / 1e6);
  else if (n >= 1000)
    snprintf(out, cap, "%.1f kB", (double)n / 1e3);
  else
    snprintf(out, cap, "%lld B", (long long)n);
}

static void draw_progress(struct transfer *t, size_t n, bool first) {
  if (!first)
    fprintf(stderr, "\033[%zuA", n);
  for (size_t i = 0; i < n; i++) {
    char got[32], total[32];
    human(t[i].got, got, sizeof(got));
    human(t[i].size, total, sizeof(total));
    int width = 30;
    int fill = t[i].size > 0 ? (int)((double)t[i].got / (double)t[i].size * width) : 0;
    if (fill > width)
      fill = width;
    fprintf(stderr, "\r\033[KCopying blob %.12s [", t[i].digest + 7);
    for (int k = 0; k < width; k++)
      fputc(k < fill ? '=' : (k == fill ? '>' : ' '), stderr);
    fprintf(stderr, "] %s / %s%s\n", got, total, t[i].done ? " done" : "");
  }
  fflush(stderr);
}

static int finish_transfer(struct image_ctx *ctx, struct registry *reg, struct transfer *t,
                           CURLcode rc, nook_error *err) {
  long code = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
  char got[72];
  sha256_finish(t->hash, got);
  t->hash = NULL;
  close(t->fd);
  t->fd = -1;
  t->done = true;
  if (t->write_errno == ENOSPC || t->write_errno == EDQUOT)
    return nook_errx(err, ENOSPC, "disk full while downloading blob %s: free some space "
                                  "(nook image prune removes unused layers); nothing was stored",
                     t->digest);
  if (t->write_errno)
    return nook_err(err, t->write_errno, "write blob %s", t->digest);
  if (rc != CURLE_OK)
    return nook_errx(err, EIO, "download of blob %s from %s failed: %s", t->digest, reg->host,
                     *t->ebuf ? t->ebuf : curl_easy_strerror(rc));
  if (code != 200)
    return nook_errx(err, EIO, "registry %s: blob %s answered HTTP %ld", reg->host, t->digest,
                     code);
  if (strcmp(got, t->digest) != 0)
    return nook_errx(err, EILSEQ, "digest mismatch for blob %s: the registry sent %s (nothing "
                                  "was stored)", t->digest, got);
  if (t->size >= 0 && t->got != t->size)
    return nook_errx(err, EILSEQ, "blob %s: the registry sent %lld bytes, the manifest says "
                                  "%lld", t->digest, (long long)t->got, (long long)t->size);
  _cleanup_free_ char *dest = blob_path(ctx, t->digest);
  if (rename(t->part, dest) < 0)
    return nook_err(err, errno, "store blob %s", t->digest);
  if (!ctx->quiet && !ctx->progress)
    fprintf(stderr, "Copied blob %s\n", t->digest);
  return 0;
}

static int start_transfer(struct image_ctx *ctx, struct registry *reg, CURLM *multi,
                          struct transfer *t, nook_error *err) {
  t->part = xasprintf("%s/blob-%s.part", ctx->work, t->digest + 7);
  t->fd = open(t->part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (t->fd < 0)
    return nook_err(err, errno, "create `%s`", t->part);
  t->hash = sha256_new();
  _cleanup_free_ char *url = xasprintf("%s/v2/%s/blobs/%s", reg->api, reg->repo, t->digest);
  if (reg->auth)
    t->headers = curl_slist_append(NULL, reg->auth);
  t->easy = easy_new(reg, url, t->headers);
  curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, transfer_write);
  curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
  curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->ebuf);
  curl_multi_add_handle(multi, t->easy);
  if (!ctx->quiet && !ctx->progress)
    fprintf(stderr, "Copying blob %s\n", t->digest);
  return 0;
}

static int fetch_blobs(struct image_ctx *ctx, struct registry *reg, yajl_val manifest,
                       nook_error *err) {
  yajl_val layers = jget(manifest, "layers", yajl_t_array);
  size_t n = 0;
  struct transfer *t = xcalloc(layers->u.array.len + 1, sizeof(*t));
  for (size_t i = 0; i <= layers->u.array.len; i++) {
    yajl_val d = i == 0 ? jget(manifest, "config", yajl_t_object) : layers->u.array.values[i - 1];
    const char *digest = jstr(d, "digest");
    if (blob_exists(ctx, digest))
      continue;
    bool dup = false;
    for (size_t k = 0; k < n; k++)
      dup = dup || !strcmp(t[k].digest, digest);
    if (dup)
      continue;
    yajl_val size = jget(d, "size", yajl_t_number);
    t[n].digest = xstrdup(digest);
    t[n].size = size && YAJL_IS_INTEGER(size) ? YAJL_GET_INTEGER(size) : -1;
    t[n].fd = -1;
    n++;
  }
  CURLM *multi = curl_multi_init();
  size_t next = 0, running_count = 0, finished = 0;
  int r = 0;
  bool bars = ctx->progress && !ctx->quiet && n > 0;
  if (bars)
    draw_progress(t, n, true);
  unsigned long long last_draw = now_ns();
  while (r == 0 && finished < n) {
    while (r == 0 && next < n && running_count < MAX_PARALLEL) {
      r = start_transfer(ctx, reg, multi, &t[next++], err);
      running_count++;
    }
    if (r < 0)
      break;
    int still;
    curl_multi_perform(multi, &still);
    CURLMsg *msg;
    int left;
    while (r == 0 && (msg = curl_multi_info_read(multi, &left))) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      struct transfer *done = NULL;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&done);
      r = finish_transfer(ctx, reg, done, msg->data.result, err);
      curl_multi_remove_handle(multi, done->easy);
      running_count--;
      finished++;
    }
    if (bars && (now_ns() - last_draw > 100000000ULL || finished == n)) {
      draw_progress(t, n, false);
      last_draw = now_ns();
    }
    if (r == 0 && finished < n)
      curl_multi_poll(multi, NULL, 0, 100, NULL);
  }
  for (size_t i = 0; i < n; i++) {
    if (t[i].easy) {
      curl_multi_remove_handle(multi, t[i].easy);
      curl_easy_cleanup(t[i].easy);
    }
    curl_slist_free_all(t[i].headers);
    if (t[i].hash) {
      char dummy[72];
      sha256_finish(t[i].hash, dummy);
    }
    if (t[i].fd >= 0)
      close(t[i].fd);
    if (t[i].part)
      unlink(t[i].part);
    free(t[i].part);
    free(t[i].digest);
  }
  free(t);
  curl_multi_cleanup(multi);
  return r;
}

int image_pull(struct image_ctx *ctx, const char *ref, bool tls_verify, nook_error *err) {
  struct registry reg;
  int r = parse_ref(ref, &reg, err);
  if (r < 0) {
    registry_free(&reg);
    return r;
  }
  reg.tls_verify = tls_verify;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  _cleanup_free_ char *body = NULL, *media_type = NULL;
  size_t len = 0;
  char digest[72];
  r = registry_ping(&reg, err);
  if (r == 0)
    r = fetch_manifest(&reg, reg.reference, &body, &len, &media_type, digest, err);
  _cleanup_yajl_ yajl_val doc = NULL;
  for (int depth = 0; r == 0; depth++) {
    r = jparse(digest, body, &doc, err);
    if (r < 0)
      break;
    const char *mt = jstr(doc, "mediaType") ?: media_type;
    if (media_kind_of(mt) != MEDIA_INDEX)
      break;
    if (depth > 3) {
      r = nook_errx(err, ELOOP, "registry %s: manifest lists nested too deep", reg.host);
      break;
    }
    _cleanup_free_ char *pick = NULL, *pick_type = NULL;
    r = index_pick_manifest(doc, reg.name, &pick, &pick_type, err);
    yajl_tree_free(doc);
    doc = NULL;
    free(body);
    body = NULL;
    free(media_type);
    media_type = NULL;
    if (r == 0)
      r = fetch_manifest(&reg, pick, &body, &len, &media_type, digest, err);
  }
  if (r == 0 && !jstr(doc, "mediaType") && media_type &&
      media_kind_of(media_type) != MEDIA_MANIFEST)
    r = nook_errx(err, EINVAL, "unknown media type `%s` for manifest %s: nook reads OCI and "
                               "Docker v2 image manifests; nothing was stored", media_type,
                  digest);
  if (r == 0)
    r = manifest_check(doc, digest, err);
  if (r == 0)
    r = fetch_blobs(ctx, &reg, doc, err);
  if (r == 0) {
    char *names[] = {reg.name, NULL};
    char id[65];
    r = image_commit(ctx, body, len, digest, names, id, err);
    if (r == 0)
      printf("%s\n", id);
  }
  registry_free(&reg);
  curl_global_cleanup();
  return r;
}
