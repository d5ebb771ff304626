/* Layer unpacking: a blob (tar, gzip or zstd) is decompressed and hashed on
 * the way into libarchive's tar reader, so the diff id is checked in the
 * same pass, and written by a child in a user namespace where the image's
 * owners map to the user's subordinate ids. Whiteouts become what the
 * kernel's overlay reads (0/0 character devices, user.overlay.opaque). */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "util.h"

struct feed {
  struct archive *raw;
  struct sha256_ctx *hash;
};

static la_ssize_t feed_read(struct archive *a, void *data, const void **buf) {
  struct feed *f = data;
  size_t size;
  la_int64_t offset;
  int r = archive_read_data_block(f->raw, buf, &size, &offset);
  if (r == ARCHIVE_EOF)
    return 0;
  if (r < ARCHIVE_WARN) {
    archive_set_error(a, archive_errno(f->raw), "%s", archive_error_string(f->raw));
    return -1;
  }
  sha256_update(f->hash, *buf, size);
  return (la_ssize_t)size;
}

struct unpack_job {
  const char *blob;    /* path of the blob file */
  const char *dest;    /* the layer dir to fill (its diff/ is made here) */
  const char *digest;  /* the blob's digest, for messages */
  const char *diff_id; /* sha256 the uncompressed tar must have */
};

/* Normalizes a tar member name to a relative path; NULL (err set) when it
 * climbs with "..". A leading "/" names the layer's root, as tar reads it
 * (umoci writes "/" for the root entry). "" is the layer's root. */
static char *member_path(const char *layer, const char *name, nook_error *err) {
  for (;;) {
    if (name[0] == '/')
      name++;
    else if (name[0] == '.' && name[1] == '/')
      name += 2;
    else
      break;
  }
  char *p = xstrdup(name);
  size_t len = strlen(p);
  while (len > 0 && p[len - 1] == '/')
    p[--len] = '\0';
  if (strcmp(p, ".") == 0)
    p[0] = '\0';
  for (char *s = p; *s;) {
    size_t n = strcspn(s, "/");
    if (n == 2 && s[0] == '.' && s[1] == '.') {
      nook_errx(err, EPERM, "layer %s: refused the path `%s`: `..` leads out of the layer "
                            "(nothing was stored)", layer, name);
      free(p);
      return NULL;
    }
    s += n;
    s += strspn(s, "/");
  }
  return p;
}

/* Opens (creating) dir below rootfd one component at a time, never
 * following a symlink. */
static int open_dir_beneath(int rootfd, const char *dir, nook_error *err) {
  int fd = dup(rootfd);
  if (fd < 0)
    return nook_err(err, errno, "dup");
  _cleanup_free_ char *copy = xstrdup(dir);
  char *save = NULL;
  for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
    if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST) {
      int e = errno;
      close(fd);
      return nook_err(err, e, "create `%s`", dir);
    }
    int next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    close(fd);
    if (next < 0)
      return nook_err(err, e, "open `%s` (a whiteout may not go through a symlink)", dir);
    fd = next;
  }
  return fd;
}

static int apply_whiteout(int rootfd, const char *layer, const char *path, bool *wh_files,
                          nook_error *err) {
  const char *slash = strrchr(path, '/');
  _cleanup_free_ char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
  const char *base = slash ? slash + 1 : path;
  _cleanup_close_ int dfd = open_dir_beneath(rootfd, dir, err);
  if (dfd < 0)
    return nook_err_prefix(err, dfd, "layer %s", layer);
  if (strcmp(base, ".wh..wh..opq") == 0) {
    if (fsetxattr(dfd, "user.overlay.opaque", "y", 1, 0) < 0)
      return nook_err(err, errno, "layer %s: mark `%s` opaque (user.overlay.opaque)", layer,
                      *dir ? dir : "/");
    return 0;
  }
  const char *name = base + 4;
  if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return nook_errx(err, EINVAL, "layer %s: malformed whiteout `%s`", layer, path);
  if (unlinkat(dfd, name, 0) < 0 && errno == EISDIR)
    rm_rf_at(dfd, name);
  if (mknodat(dfd, name, S_IFCHR | 0, makedev(0, 0)) == 0)
    return 0;
  if (errno != EPERM)
    return nook_err(err, errno, "layer %s: whiteout `%s`", layer, path);
  /* Kernels that forbid whiteout devices here still get the form the FUSE
   * overlay reads. */
  *wh_files = true;
  _cleanup_close_ int fd = openat(dfd, base, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0);
  if (fd < 0)
    return nook_err(err, errno, "layer %s: whiteout `%s`", layer, path);
  return 0;
}

/* Overlay attributes come only from whiteout entries: a layer's own
 * user.overlay.* or trusted.overlay.* xattrs (opaque, redirect, origin)
 * would change what the overlay shows. */
static void strip_overlay_xattrs(struct archive_entry *entry) {
  if (archive_entry_xattr_reset(entry) == 0)
    return;
  struct kept {
    char *name;
    void *value;
    size_t size;
  } *kept = NULL;
  size_t n = 0;
  bool dropped = false;
  const char *name;
  const void *value;
  size_t size;
  while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
    if (str_has_prefix(name, "user.overlay.") || str_has_prefix(name, "trusted.overlay.")) {
      dropped = true;
      continue;
    }
    kept = xrealloc(kept, (n + 1) * sizeof(*kept));
    kept[n].name = xstrdup(name);
    kept[n].value = xmalloc(size);
    memcpy(kept[n].value, value, size);
    kept[n].size = size;
    n++;
  }
  if (dropped) {
    archive_entry_xattr_clear(entry);
    for (size_t i = 0; i < n; i++)
      archive_entry_xattr_add_entry(entry, kept[i].name, kept[i].value, kept[i].size);
  }
  for (size_t i = 0; i < n; i++) {
    free(kept[i].name);
    free(kept[i].value);
  }
  free(kept);
}

static bool single_id_map(void) {
  _cleanup_free_ char *text = NULL;
  nook_error ignore;
  if (read_file_at(AT_FDCWD, "/proc/self/uid_map", &text, NULL, &ignore) < 0)
    return true;
  unsigned a, b, c;
  int lines = 0;
  for (char *p = text; *p; p++)
    lines += *p == '\n';
  return lines <= 1 && sscanf(text, "%u %u %u", &a, &b, &c) == 3 && c == 1;
}

static int write_fail(nook_error *err, struct archive *out, const char *layer,
                      const char *path) {
  int e = archive_errno(out);
  if (e == ENOSPC || e == EDQUOT)
    return nook_errx(err, ENOSPC, "disk full while unpacking layer %s (at `%s`): free some space "
                                  "(nook image prune removes unused layers); nothing was stored",
                     layer, path);
  const char *msg = archive_error_string(out);
  if (msg && strstr(msg, "symlink"))
    return nook_errx(err, EPERM, "layer %s: refused `%s`: %s (a layer may only write inside "
                                 "itself; nothing was stored)", layer, path, msg);
  return nook_errx(err, e > 0 ? e : EIO, "layer %s: cannot unpack `%s`: %s", layer, path,
                   msg ? msg : "unknown error");
}

static void archive_readp(struct archive **a) {
  if (*a)
    archive_read_free(*a);
}
static void archive_writep(struct archive **a) {
  if (*a)
    archive_write_free(*a);
}

static int unpack_in_ns(void *arg, nook_error *err) {
  struct unpack_job *job = arg;
  const char *layer = job->digest;
  _cleanup_free_ char *diff = xasprintf("%s/diff", job->dest);
  if (mkdir(job->dest, 0700) < 0 || mkdir(diff, 0755) < 0)
    return nook_err(err, errno, "create `%s`", diff);
  _cleanup_close_ int rootfd = open(diff, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0 || fchdir(rootfd) < 0)
    return nook_err(err, errno, "open `%s`", diff);

  _cleanup_(archive_readp) struct archive *raw = archive_read_new();
  archive_read_support_filter_all(raw);
  archive_read_support_format_raw(raw);
  if (archive_read_open_filename(raw, job->blob, 1 << 20) != ARCHIVE_OK)
    return nook_errx(err, EIO, "layer %s: %s", layer, archive_error_string(raw));
  struct archive_entry *entry;
  if (archive_read_next_header(raw, &entry) != ARCHIVE_OK)
    return nook_errx(err, EINVAL, "layer %s: corrupt archive: %s", layer,
                     archive_error_string(raw));
  struct feed feed = {.raw = raw, .hash = sha256_new()};
  _cleanup_(archive_readp) struct archive *in = archive_read_new();
  archive_read_support_format_tar(in);
  archive_read_support_format_empty(in);
  if (archive_read_open(in, &feed, NULL, feed_read, NULL) != ARCHIVE_OK)
    return nook_errx(err, EINVAL, "layer %s: corrupt archive (not a tar: %s); nothing was stored",
                     layer, archive_error_string(in));

  bool single = single_id_map();
  int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_XATTR |
              ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
              ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
  if (!single)
    flags |= ARCHIVE_EXTRACT_OWNER;
  _cleanup_(archive_writep) struct archive *out = archive_write_disk_new();
  archive_write_disk_set_options(out, flags);

  unsigned long devices = 0;
  unsigned warned = 0;
  bool wh_files = false;
  for (;;) {
    int r = archive_read_next_header(in, &entry);
    if (r == ARCHIVE_EOF)
      break;
    if (r < ARCHIVE_WARN)
      return nook_errx(err, EINVAL, "layer %s: corrupt archive: %s; nothing was stored", layer,
                       archive_error_string(in));
    _cleanup_free_ char *path = member_path(layer, archive_entry_pathname(entry), err);
    if (!path)
      return -EPERM;
    if (!*path)
      continue; /* the layer's root: its owner and mode come from the upper dir */
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (str_has_prefix(base, ".wh.")) {
      r = apply_whiteout(rootfd, layer, path, &wh_files, err);
      if (r < 0)
        return r;
      continue;
    }
    mode_t type = archive_entry_filetype(entry);
    if (type == AE_IFCHR || type == AE_IFBLK) {
      devices++;
      continue;
    }
    const char *link = archive_entry_hardlink(entry);
    if (link) {
      _cleanup_free_ char *target = member_path(layer, link, err);
      if (!target)
        return -EPERM;
      archive_entry_set_hardlink(entry, target);
    }
    archive_entry_set_pathname(entry, path);
    strip_overlay_xattrs(entry);
    r = archive_write_header(out, entry);
    if (r < ARCHIVE_WARN)
      return write_fail(err, out, layer, path);
    if (archive_entry_size(entry) > 0) {
      const void *buf;
      size_t size;
      la_int64_t offset;
      for (;;) {
        r = archive_read_data_block(in, &buf, &size, &offset);
        if (r == ARCHIVE_EOF)
          break;
        if (r < ARCHIVE_WARN)
          return nook_errx(err, EINVAL, "layer %s: corrupt archive at `%s`: %s; nothing was "
                                        "stored", layer, path, archive_error_string(in));
        /* libarchive reports a failed write(2) as a mere warning */
        if (archive_write_data_block(out, buf, size, offset) != ARCHIVE_OK)
          return write_fail(err, out, layer, path);
      }
    }
    r = archive_write_finish_entry(out);
    if (r < ARCHIVE_WARN)
      return write_fail(err, out, layer, path);
    if (r == ARCHIVE_WARN && !warned++)
      nook_warn("layer %s: `%s`: %s", layer, path, archive_error_string(out));
  }
  if (archive_write_close(out) < ARCHIVE_WARN)
    return write_fail(err, out, layer, "directory times");
  /* The tar's end may leave padding unread; the diff id covers it. */
  const void *buf;
  size_t size;
  la_int64_t offset;
  int r;
  while ((r = archive_read_data_block(raw, &buf, &size, &offset)) == ARCHIVE_OK)
    sha256_update(feed.hash, buf, size);
  if (r < ARCHIVE_WARN && r != ARCHIVE_EOF)
    return nook_errx(err, EINVAL, "layer %s: corrupt archive: %s; nothing was stored", layer,
                     archive_error_string(raw));
  char got[72];
  sha256_finish(feed.hash, got);
  if (strcmp(got, job->diff_id) != 0)
    return nook_errx(err, EILSEQ, "digest mismatch for layer %s: the config says its content is "
                                  "%s but it is %s (nothing was stored)",
                     layer, job->diff_id, got);
  if (devices)
    nook_warn("layer %s: skipped %lu device node%s: a rootless container cannot create them "
              "(bind-mount the host's devices instead)", layer, devices, devices == 1 ? "" : "s");
  if (wh_files)
    nook_warn("layer %s: whiteouts stored as .wh. files (this kernel refuses whiteout devices); "
              "only the FUSE overlay reads them", layer);
  return 0;
}

struct layer_job {
  char *blob;
  char *name;  /* scratch dir name under ctx->work */
  char *dest;
  char *final; /* layers/DIFFID */
  const char *digest;
  const char *diff_id;
  struct unpack_job uj;
  struct store_userns_child child;
  unsigned long long t0;
  bool running;
};

static int job_start(struct image_ctx *ctx, struct layer_job *j, nook_error *err) {
  if (!ctx->quiet)
    fprintf(stderr, "Unpacking layer %s\n", j->digest);
  j->uj = (struct unpack_job){.blob = j->blob, .dest = j->dest, .digest = j->digest,
                              .diff_id = j->diff_id};
  j->t0 = now_ns();
  int r = store_userns_start(unpack_in_ns, &j->uj, 0, &j->child, err);
  j->running = r == 0;
  return r;
}

/* Waits for the child; on success renames its layer into place. */
static int job_finish(struct image_ctx *ctx, struct layer_job *j, nook_error *err) {
  j->running = false;
  int r = store_userns_wait(&j->child, err);
  nook_error ignore;
  if (r < 0) {
    store_rm_rf_in_userns(ctx->work, j->name, &ignore);
    return r;
  }
  nook_debug("unpacked layer %s in %.1f ms", j->digest, (double)(now_ns() - j->t0) / 1e6);
  _cleanup_close_ int lock = -1;
  r = image_commit_lock(ctx, &lock, err);
  if (r < 0)
    return r;
  if (rename(j->dest, j->final) < 0) {
    int e = errno;
    store_rm_rf_in_userns(ctx->work, j->name, &ignore);
    if (e == EEXIST || e == ENOTEMPTY)
      return 0; /* a parallel writer put the same layer in first */
    return nook_err(err, e, "rename the unpacked layer into `%s`", j->final);
  }
  return 0;
}

static unsigned parallel_unpacks(void) {
  const char *env = getenv("NOOK_UNPACK_JOBS");
  unsigned long long n;
  if (env && parse_u64(env, &n) && n > 0 && n < 64)
    return (unsigned)n;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return cpus < 1 ? 1 : cpus > 4 ? 4 : (unsigned)cpus;
}

int layers_unpack(struct image_ctx *ctx, char **blob_digests, char **diff_ids,
                  nook_error *err) {
  size_t n = strv_len(diff_ids);
  struct layer_job *jobs = xcalloc(n + 1, sizeof(*jobs));
  size_t njobs = 0;
  int r = 0;
  for (size_t i = 0; i < n && r == 0; i++) {
    if (!digest_valid(diff_ids[i])) {
      r = nook_errx(err, EINVAL, "unsupported diff id `%s` in the image config", diff_ids[i]);
      break;
    }
    bool dup = false;
    for (size_t k = 0; k < njobs; k++)
      dup = dup || !strcmp(jobs[k].diff_id, diff_ids[i]);
    _cleanup_free_ char *final = xasprintf("%s/layers/%s", ctx->root, diff_ids[i] + 7);
    if (dup || access(final, F_OK) == 0)
      continue;
    struct layer_job *j = &jobs[njobs++];
    j->final = steal_pointer(&final);
    j->blob = blob_path(ctx, blob_digests[i]);
    j->name = xasprintf("layer-%s", diff_ids[i] + 7);
    j->dest = xasprintf("%s/%s", ctx->work, j->name);
    j->digest = blob_digests[i];
    j->diff_id = diff_ids[i];
  }
  unsigned width = parallel_unpacks();
  size_t next = 0, running = 0;
  while (r == 0 && next < njobs) {
    while (r == 0 && next < njobs && running < width) {
      r = job_start(ctx, &jobs[next++], err);
      running += r == 0;
    }
    /* Finish the oldest running job: layers complete in order. */
    for (size_t k = 0; r == 0 && k < next; k++) {
      if (jobs[k].running) {
        r = job_finish(ctx, &jobs[k], err);
        running--;
        break;
      }
    }
  }
  for (size_t k = 0; k < njobs; k++) {
    if (jobs[k].running) {
      nook_error later;
      if (r == 0)
        r = job_finish(ctx, &jobs[k], err);
      else
        job_finish(ctx, &jobs[k], &later); /* the first error is the one said */
    }
  }
  if (r < 0) {
    /* Layers that made it into place are complete and verified; they stay
     * for the next try (prune collects them if none comes). */
  }
  for (size_t k = 0; k < njobs; k++) {
    free(jobs[k].blob);
    free(jobs[k].name);
    free(jobs[k].dest);
    free(jobs[k].final);
  }
  free(jobs);
  return r;
}
