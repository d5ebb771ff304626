/* nook image save: an image of the store written with libarchive as an
 * oci-archive (a tar of an OCI layout) or a docker-archive (docker save's
 * classic form: manifest.json, the config, one uncompressed layer.tar per
 * layer). Every blob is checked against its digest as it is read; the
 * archive goes to a temp file beside the target, renamed over it once
 * complete, and removed on an error or a signal, so no half archive is ever
 * seen under the target's name. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "image.h"
#include "log.h"
#include "util.h"

enum save_format { SAVE_DOCKER, SAVE_OCI };

/* The temp file a signal handler removes before the process dies. */
static char temp_path[PATH_MAX];
static volatile sig_atomic_t temp_live;
static const int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};

static void remove_temp_and_die(int sig) {
  if (temp_live)
    unlink(temp_path);
  signal(sig, SIG_DFL);
  raise(sig);
}

static void block_cleanup_signals(bool block, sigset_t *old) {
  sigset_t set;
  sigemptyset(&set);
  for (size_t i = 0; i < ARRAY_SIZE(cleanup_signals); i++)
    sigaddset(&set, cleanup_signals[i]);
  sigprocmask(block ? SIG_BLOCK : SIG_SETMASK, block ? &set : old, block ? old : NULL);
}

struct saver {
  struct archive *out;
  const char *target; /* for messages */
  /* progress over the blob bytes read from the store */
  bool progress;
  bool drawn;
  uint64_t done, total;
  unsigned long long started_ns, drawn_ns;
  const char *name;
};

static void progress_add(struct saver *s, size_t n) {
  s->done += n;
  if (!s->progress || s->total == 0)
    return;
  unsigned long long now = now_ns();
  /* small images finish before a bar would be worth drawing */
  if (now - s->started_ns < 300000000ULL || now - s->drawn_ns < 100000000ULL)
    return;
  s->drawn_ns = now;
  s->drawn = true;
  uint64_t pct = s->done * 100 / s->total;
  fprintf(stderr, "\rSaving %s: %3d%%", s->name, (int)(pct > 99 ? 99 : pct));
  fflush(stderr);
}

static void progress_end(struct saver *s, bool ok, uint64_t written) {
  if (!s->drawn)
    return;
  if (ok)
    fprintf(stderr, "\rSaving %s: 100%%, %.1f MB written\n", s->name, (double)written / 1e6);
  else
    fputs("\r\033[K", stderr);
}

static int write_failed(struct saver *s, nook_error *err) {
  int e = archive_errno(s->out);
  if (e == ENOSPC || e == EDQUOT)
    return nook_errx(err, ENOSPC, "disk full while writing `%s`: free some space (nothing was "
                                  "written)", s->target);
  return nook_errx(err, e ? e : EIO, "write `%s`: %s", s->target,
                   archive_error_string(s->out) ?: "write error");
}

static int add_header(struct saver *s, const char *name, mode_t type, int64_t size,
                      nook_error *err) {
  struct archive_entry *e = archive_entry_new();
  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, type);
  archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
  archive_entry_set_size(e, type == AE_IFDIR ? 0 : size);
  /* no times, no owners: the same image saves to the same bytes */
  archive_entry_set_mtime(e, 0, 0);
  int r = archive_write_header(s->out, e);
  archive_entry_free(e);
  return r < ARCHIVE_WARN ? write_failed(s, err) : 0;
}

static int add_data(struct saver *s, const char *name, const void *data, size_t len,
                    nook_error *err) {
  int r = add_header(s, name, AE_IFREG, (int64_t)len, err);
  if (r < 0)
    return r;
  if (len && archive_write_data(s->out, data, len) != (la_ssize_t)len)
    return write_failed(s, err);
  return 0;
}

static int add_gen(struct saver *s, const char *name, yajl_gen g, nook_error *err) {
  const unsigned char *buf;
  size_t len;
  yajl_gen_get_buf(g, &buf, &len);
  return add_data(s, name, buf, len, err);
}

static int corrupt_blob(nook_error *err, const char *digest, const char *got) {
  return nook_errx(err, EILSEQ, "blob %s in the image store is corrupt (its content is %s): "
                                "remove the image and pull or import it again; nothing was "
                                "written", digest, got);
}

/* A blob of the store as the archive member name, checked on the way. */
static int add_blob(struct saver *s, const char *root, const char *name, const char *digest,
                    nook_error *err) {
  _cleanup_free_ char *path = xasprintf("%s/blobs/sha256/%s", root, digest + 7);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0)
    return nook_err(err, errno, "blob %s of the image store (pull or import the image again)",
                    digest);
  int r = add_header(s, name, AE_IFREG, (int64_t)st.st_size, err);
  if (r < 0)
    return r;
  struct sha256_ctx *h = sha256_new();
  static char buf[1 << 20];
  off_t left = st.st_size;
  while (left > 0 && r == 0) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      r = n < 0 ? nook_err(err, errno, "read blob %s", digest)
                : nook_errx(err, EIO, "blob %s shrank while it was read", digest);
      break;
    }
    if (n > left)
      n = (ssize_t)left;
    sha256_update(h, buf, (size_t)n);
    if (archive_write_data(s->out, buf, (size_t)n) != n)
      r = write_failed(s, err);
    left -= n;
    progress_add(s, (size_t)n);
  }
  char got[72];
  sha256_finish(h, got);
  if (r == 0 && strcmp(got, digest) != 0)
    r = corrupt_blob(err, digest, got);
  return r;
}

/* A layer blob read through libarchive's decompressors: the raw bytes are
 * hashed as they are read (the blob's digest), the output too (the diff
 * id). */
struct layer_reader {
  int fd;
  struct sha256_ctx *raw_hash;
  struct saver *s;
  char buf[1 << 16];
};

static la_ssize_t layer_raw_read(struct archive *a, void *data, const void **buf) {
  struct layer_reader *lr = data;
  ssize_t n;
  do
    n = read(lr->fd, lr->buf, sizeof(lr->buf));
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    archive_set_error(a, errno, "read the layer blob");
    return -1;
  }
  sha256_update(lr->raw_hash, lr->buf, (size_t)n);
  progress_add(lr->s, (size_t)n);
  *buf = lr->buf;
  return n;
}

/* Decompresses layer blob digest, writing it to the archive when out is
 * set; *size and diff get the uncompressed size and digest. */
static int layer_pass(struct saver *s, const char *root, const char *digest, bool write,
                      uint64_t *size, char diff[72], nook_error *err) {
  _cleanup_free_ char *path = xasprintf("%s/blobs/sha256/%s", root, digest + 7);
  struct layer_reader *lr = xcalloc(1, sizeof(*lr));
  lr->fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  lr->s = s;
  if (lr->fd < 0) {
    int e = errno;
    free(lr);
    return nook_err(err, e, "blob %s of the image store (pull or import the image again)",
                    digest);
  }
  lr->raw_hash = sha256_new();
  struct sha256_ctx *out_hash = sha256_new();
  struct archive *in = archive_read_new();
  archive_read_support_filter_all(in);
  archive_read_support_format_raw(in);
  struct archive_entry *e;
  int r = 0;
  uint64_t n_out = 0;
  if (archive_read_open(in, lr, NULL, layer_raw_read, NULL) != ARCHIVE_OK ||
      archive_read_next_header(in, &e) != ARCHIVE_OK)
    r = nook_errx(err, EINVAL, "layer %s: %s", digest, archive_error_string(in));
  while (r == 0) {
    const void *buf;
    size_t len;
    la_int64_t off;
    int ar = archive_read_data_block(in, &buf, &len, &off);
    if (ar == ARCHIVE_EOF)
      break;
    if (ar < ARCHIVE_WARN) {
      r = nook_errx(err, EINVAL, "layer %s in the image store cannot be decompressed (%s): "
                                 "remove the image and pull or import it again", digest,
                    archive_error_string(in));
      break;
    }
    sha256_update(out_hash, buf, len);
    n_out += len;
    if (write && n_out > *size) {
      r = nook_errx(err, EIO, "layer %s changed while it was saved", digest);
      break;
    }
    if (write && len && archive_write_data(s->out, buf, len) != (la_ssize_t)len)
      r = write_failed(s, err);
  }
  /* what the decompressor did not need (padding after the stream, or all
   * of it after an error: a corrupt blob is said to be one) */
  const void *rest;
  bool write_error = r < 0 && write && archive_errno(s->out);
  while (!write_error && layer_raw_read(in, lr, &rest) > 0)
    ;
  archive_read_free(in);
  char raw[72], got[72];
  sha256_finish(lr->raw_hash, raw);
  sha256_finish(out_hash, got);
  close(lr->fd);
  free(lr);
  if (!write_error && strcmp(raw, digest) != 0)
    return corrupt_blob(err, digest, raw);
  if (r < 0)
    return r;
  if (write && (n_out != *size || strcmp(got, diff) != 0))
    return nook_errx(err, EIO, "layer %s changed while it was saved", digest);
  if (!write) {
    *size = n_out;
    memcpy(diff, got, 72);
  }
  return 0;
}

/* The image's manifest as stored, checked against its digest. */
struct saved_image {
  char *manifest;
  size_t manifest_len;
  yajl_val doc;
  yajl_val layers;         /* the manifest's layer descriptors */
  const char *config;      /* its digest */
  char **diff_ids;         /* from the config, one per layer */
  char **names;            /* what the archive names it */
};

static void saved_image_free(struct saved_image *si) {
  free(si->manifest);
  if (si->doc)
    yajl_tree_free(si->doc);
  strv_free(si->diff_ids);
  strv_free(si->names);
}

static int saved_image_load(const char *root, const struct store_image *img, const char *ref,
                            struct saved_image *si, nook_error *err) {
  memset(si, 0, sizeof(*si));
  if (!digest_valid(img->manifest_digest))
    return nook_errx(err, EINVAL, "image %.12s has no manifest in the store: pull or import it "
                                  "again", img->id);
  _cleanup_free_ char *mpath = xasprintf("%s/blobs/sha256/%s", root, img->manifest_digest + 7);
  int r = read_file_at(AT_FDCWD, mpath, &si->manifest, &si->manifest_len, err);
  if (r < 0)
    return nook_err_prefix(err, r, "image %.12s: its manifest", img->id);
  char got[72];
  sha256_of(si->manifest, si->manifest_len, got);
  if (strcmp(got, img->manifest_digest) != 0)
    return corrupt_blob(err, img->manifest_digest, got);
  r = jparse(img->manifest_digest, si->manifest, &si->doc, err);
  if (r == 0)
    r = manifest_check(si->doc, img->manifest_digest, err);
  if (r < 0)
    return r;
  si->layers = jget(si->doc, "layers", yajl_t_array);
  si->config = jstr(jget(si->doc, "config", yajl_t_object), "digest");
  _cleanup_free_ char *cpath = xasprintf("%s/blobs/sha256/%s", root, si->config + 7);
  _cleanup_free_ char *ctext = NULL;
  r = read_file_at(AT_FDCWD, cpath, &ctext, NULL, err);
  if (r < 0)
    return nook_err_prefix(err, r, "image %.12s: its config", img->id);
  _cleanup_yajl_ yajl_val config = NULL;
  r = jparse(si->config, ctext, &config, err);
  if (r < 0)
    return r;
  yajl_val diffs = jget(jget(config, "rootfs", yajl_t_object), "diff_ids", yajl_t_array);
  if (!diffs || diffs->u.array.len != si->layers->u.array.len)
    return nook_errx(err, EINVAL, "config %s: rootfs.diff_ids does not list one diff id per "
                                  "layer of the manifest", si->config);
  si->diff_ids = xcalloc(1, sizeof(char *));
  for (size_t i = 0; i < diffs->u.array.len; i++) {
    const char *d = YAJL_IS_STRING(diffs->u.array.values[i])
                        ? YAJL_GET_STRING(diffs->u.array.values[i])
                        : NULL;
    if (!digest_valid(d))
      return nook_errx(err, EINVAL, "config %s: diff id %zu is not a sha256 digest", si->config,
                       i);
    strv_push(&si->diff_ids, d);
  }
  /* The name asked for; by id, every name the image has. */
  si->names = xcalloc(1, sizeof(char *));
  const char *named = store_image_name_of(img, ref);
  for (size_t i = 0; img->names[i]; i++)
    if ((!named || img->names[i] == named) && !strchr(img->names[i], '@'))
      strv_push(&si->names, img->names[i]);
  return 0;
}

static int save_oci(struct saver *s, const char *root, const struct store_image *img,
                    const struct saved_image *si, nook_error *err) {
  s->total = 0;
  for (size_t i = 0; i < si->layers->u.array.len; i++) {
    yajl_val size = jget(si->layers->u.array.values[i], "size", yajl_t_number);
    if (size && YAJL_IS_INTEGER(size))
      s->total += (uint64_t)YAJL_GET_INTEGER(size);
  }
  int r = add_data(s, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30, err);
  if (r < 0)
    return r;
  yajl_gen g = yajl_gen_alloc(NULL);
  yajl_gen_map_open(g);
  gen_str(g, "schemaVersion");
  yajl_gen_integer(g, 2);
  gen_str(g, "mediaType");
  gen_str(g, "application/vnd.oci.image.index.v1+json");
  gen_str(g, "manifests");
  yajl_gen_array_open(g);
  /* One entry, under the first name: skopeo and podman refuse a layout
   * that lists an image more than once unless told which to take. */
  yajl_gen_map_open(g);
  gen_str(g, "mediaType");
  gen_str(g, jstr(si->doc, "mediaType") ?: "application/vnd.oci.image.manifest.v1+json");
  gen_str(g, "digest");
  gen_str(g, img->manifest_digest);
  gen_str(g, "size");
  yajl_gen_integer(g, (long long)si->manifest_len);
  if (si->names[0]) {
    gen_str(g, "annotations");
    yajl_gen_map_open(g);
    gen_str(g, "io.containerd.image.name");
    gen_str(g, si->names[0]);
    gen_str(g, "org.opencontainers.image.ref.name");
    gen_str(g, si->names[0]);
    yajl_gen_map_close(g);
  }
  yajl_gen_map_close(g);
  yajl_gen_array_close(g);
  yajl_gen_map_close(g);
  r = add_gen(s, "index.json", g, err);
  yajl_gen_free(g);
  if (r == 0)
    r = add_header(s, "blobs", AE_IFDIR, 0, err);
  if (r == 0)
    r = add_header(s, "blobs/sha256", AE_IFDIR, 0, err);
  _cleanup_strv_ char **written = xcalloc(1, sizeof(char *));
  for (size_t i = 0; r == 0 && i < si->layers->u.array.len + 2; i++) {
    const char *d = i == 0   ? img->manifest_digest
                    : i == 1 ? si->config
                             : jstr(si->layers->u.array.values[i - 2], "digest");
    if (strv_contains(written, d))
      continue;
    strv_push(&written, d);
    _cleanup_free_ char *name = xasprintf("blobs/sha256/%s", d + 7);
    r = add_blob(s, root, name, d, err);
  }
  return r;
}

static int save_docker(struct saver *s, const char *root, const struct saved_image *si,
                       uint64_t *sizes, nook_error *err) {
  _cleanup_free_ char *config_name = xasprintf("%s.json", si->config + 7);
  int r = add_blob(s, root, config_name, si->config, err);
  _cleanup_strv_ char **written = xcalloc(1, sizeof(char *));
  yajl_gen g = yajl_gen_alloc(NULL);
  yajl_gen_array_open(g);
  yajl_gen_map_open(g);
  gen_str(g, "Config");
  gen_str(g, config_name);
  gen_str(g, "RepoTags");
  yajl_gen_array_open(g);
  for (size_t i = 0; si->names[i]; i++)
    gen_str(g, si->names[i]);
  yajl_gen_array_close(g);
  gen_str(g, "Layers");
  yajl_gen_array_open(g);
  for (size_t i = 0; r == 0 && i < si->layers->u.array.len; i++) {
    const char *diff = si->diff_ids[i];
    _cleanup_free_ char *name = xasprintf("%s/layer.tar", diff + 7);
    gen_str(g, name);
    if (strv_contains(written, diff))
      continue;
    strv_push(&written, diff);
    _cleanup_free_ char *dir = xasprintf("%s", diff + 7);
    r = add_header(s, dir, AE_IFDIR, 0, err);
    if (r == 0)
      r = add_header(s, name, AE_IFREG, (int64_t)sizes[i], err);
    if (r == 0) {
      char want[72];
      memcpy(want, diff, strlen(diff) + 1);
      r = layer_pass(s, root, jstr(si->layers->u.array.values[i], "digest"), true, &sizes[i],
                     want, err);
    }
  }
  yajl_gen_array_close(g);
  yajl_gen_map_close(g);
  yajl_gen_array_close(g);
  if (r == 0)
    r = add_gen(s, "manifest.json", g, err);
  yajl_gen_free(g);
  return r;
}

/* Every layer decompressed once before anything is written: its digest and
 * diff id checked, its size known for the tar header. */
static int docker_check_layers(struct saver *s, const char *root, const struct saved_image *si,
                               uint64_t *sizes, nook_error *err) {
  s->total = 0;
  for (size_t i = 0; i < si->layers->u.array.len; i++) {
    yajl_val size = jget(si->layers->u.array.values[i], "size", yajl_t_number);
    if (size && YAJL_IS_INTEGER(size))
      s->total += 2 * (uint64_t)YAJL_GET_INTEGER(size); /* read twice */
  }
  for (size_t i = 0; i < si->layers->u.array.len; i++) {
    const char *digest = jstr(si->layers->u.array.values[i], "digest");
    char diff[72];
    int r = layer_pass(s, root, digest, false, &sizes[i], diff, err);
    if (r < 0)
      return r;
    if (strcmp(diff, si->diff_ids[i]) != 0)
      return nook_errx(err, EILSEQ, "layer %s in the image store is corrupt: its content is %s, "
                                    "the config says %s; remove the image and pull or import "
                                    "it again", digest, diff, si->diff_ids[i]);
  }
  return 0;
}

/* Where the archive goes: a temp file beside target (*direct false), or
 * target itself when it is no regular file (/dev/null, a fifo). */
static int open_output(const char *target, bool *direct, nook_error *err) {
  struct stat st;
  *direct = false;
  if (stat(target, &st) == 0 && S_ISDIR(st.st_mode))
    return nook_errx(err, EISDIR, "image save: `%s` is a directory: give -o a file name",
                     target);
  if (stat(target, &st) == 0 && !S_ISREG(st.st_mode)) {
    *direct = true;
    int fd = open(target, O_WRONLY | O_TRUNC | O_CLOEXEC);
    return fd < 0 ? nook_err(err, errno, "open `%s`", target) : fd;
  }
  _cleanup_free_ char *d = xstrdup(target), *b = xstrdup(target);
  const char *dir = dirname(d), *base = basename(b);
  if ((size_t)snprintf(temp_path, sizeof(temp_path), "%s/.%s.nook-XXXXXX", dir, base) >=
      sizeof(temp_path))
    return nook_errx(err, ENAMETOOLONG, "image save: `%s`: name too long", target);
  for (size_t i = 0; i < ARRAY_SIZE(cleanup_signals); i++) {
    struct sigaction old_sa, sa = {.sa_handler = remove_temp_and_die};
    /* a signal ignored (nohup, a shell's background job) stays ignored */
    if (sigaction(cleanup_signals[i], NULL, &old_sa) == 0 && old_sa.sa_handler != SIG_IGN)
      sigaction(cleanup_signals[i], &sa, NULL);
  }
  sigset_t old;
  block_cleanup_signals(true, &old);
  int fd = mkostemp(temp_path, O_CLOEXEC);
  int e = errno;
  if (fd >= 0)
    temp_live = 1;
  block_cleanup_signals(false, &old);
  if (fd < 0)
    return nook_err(err, e, "image save: create a file in `%s`", dir);
  mode_t mask = umask(0);
  umask(mask);
  fchmod(fd, 0666 & ~mask);
  return fd;
}

static int finish_output(bool direct, const char *target, bool ok, nook_error *err) {
  if (direct || !temp_live)
    return 0;
  sigset_t old;
  block_cleanup_signals(true, &old);
  int r = 0;
  if (ok && rename(temp_path, target) < 0)
    r = nook_err(err, errno, "image save: rename the archive to `%s`", target);
  if (!ok || r < 0)
    unlink(temp_path);
  temp_live = 0;
  block_cleanup_signals(false, &old);
  return r;
}

int cmd_save(const char *root, int argc, char **argv, nook_error *err) {
  static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                       {"output", required_argument, NULL, 'o'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {0}};
  enum save_format format = SAVE_DOCKER;
  const char *target = NULL;
  bool quiet = false;
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+:o:q", opts, NULL)) != -1) {
    if (c == ':')
      return nook_errx(err, EINVAL, "image save: `%s` needs a value", argv[optind - 1]);
    if (c == 'f' && !strcmp(optarg, "oci-archive"))
      format = SAVE_OCI;
    else if (c == 'f' && !strcmp(optarg, "docker-archive"))
      format = SAVE_DOCKER;
    else if (c == 'f')
      return nook_errx(err, EINVAL, "image save: --format: `%s` is not oci-archive or "
                                    "docker-archive", optarg);
    else if (c == 'o')
      target = optarg;
    else if (c == 'q')
      quiet = true;
    else
      return nook_errx(err, EINVAL, "image save: unknown option `%s` (see 'nook image --help')",
                       argv[optind - 1]);
  }
  if (argc - optind != 1)
    return nook_errx(err, EINVAL, "image save: expected one image: nook image save [--format "
                                  "oci-archive|docker-archive] -o FILE NAME[:TAG]");
  const char *ref = argv[optind];
  if (target && !*target)
    return nook_errx(err, EINVAL, "image save: -o needs a file name");
  if (target && !strcmp(target, "-"))
    target = NULL;
  if (!target && isatty(STDOUT_FILENO))
    return nook_errx(err, EINVAL, "image save: stdout is a terminal: give -o FILE, or pipe the "
                                  "archive on");

  int lockfd = -1;
  int r = store_lock(root, false, &lockfd, err);
  if (r < 0)
    return r;
  _cleanup_close_ int lock = lockfd;
  struct store_image img;
  r = store_find_image(root, ref, &img, err);
  if (r < 0)
    return r;
  struct saved_image si;
  r = saved_image_load(root, &img, ref, &si, err);
  struct saver s = {.target = target ? target : "stdout",
                    .progress = !quiet && isatty(STDERR_FILENO),
                    .started_ns = now_ns(),
                    .name = ref};
  size_t nlayers = si.layers ? si.layers->u.array.len : 0;
  _cleanup_free_ uint64_t *sizes = xcalloc(nlayers + 1, sizeof(uint64_t));
  if (r == 0 && format == SAVE_DOCKER)
    r = docker_check_layers(&s, root, &si, sizes, err);
  bool direct = true;
  int fd = STDOUT_FILENO;
  uint64_t written = 0;
  if (r == 0 && target) {
    fd = open_output(target, &direct, err);
    r = fd < 0 ? fd : 0;
  }
  if (r == 0) {
    s.out = archive_write_new();
    archive_write_set_format_pax_restricted(s.out);
    archive_write_set_bytes_in_last_block(s.out, 1);
    if (archive_write_open_fd(s.out, fd) != ARCHIVE_OK)
      r = write_failed(&s, err);
    if (r == 0)
      r = format == SAVE_OCI ? save_oci(&s, root, &img, &si, err)
                             : save_docker(&s, root, &si, sizes, err);
    if (archive_write_close(s.out) != ARCHIVE_OK && r == 0)
      r = write_failed(&s, err);
    written = (uint64_t)archive_filter_bytes(s.out, -1);
    archive_write_free(s.out);
  }
  progress_end(&s, r == 0, written);
  if (fd >= 0 && target) {
    if (close(fd) < 0 && r == 0)
      r = nook_err(err, errno, "write `%s`", target);
    int f = finish_output(direct, target, r == 0, err);
    if (r == 0)
      r = f;
  }
  saved_image_free(&si);
  store_image_free(&img);
  return r;
}
