/* nook image import: an OCI image layout dir, an oci-archive (a tar of a
 * layout), or a docker-archive (`docker save`: manifest.json with config and
 * layer files, or the newer OCI layout in a tar). */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "image.h"
#include "log.h"
#include "util.h"

/* Unpacks an archive's members (data only, no owners) below dir. */
static int extract_archive(const char *path, const char *dir, nook_error *err) {
  struct archive *in = archive_read_new();
  archive_read_support_filter_all(in);
  archive_read_support_format_tar(in);
  struct archive *out = archive_write_disk_new();
  archive_write_disk_set_options(out, ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                          ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                          ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
  int ret = 0;
  _cleanup_close_ int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  bool from_stdin = !strcmp(path, "-");
  int opened = from_stdin ? archive_read_open_fd(in, STDIN_FILENO, 1 << 20)
                          : archive_read_open_filename(in, path, 1 << 20);
  if (from_stdin)
    path = "stdin";
  if (opened != ARCHIVE_OK) {
    ret = nook_errx(err, EINVAL, "`%s`: not an image archive (%s)", path,
                    archive_error_string(in));
    goto out;
  }
  /* archive_write_disk writes relative to the working directory */
  if (chdir(dir) < 0) {
    ret = nook_err(err, errno, "enter `%s`", dir);
    goto out;
  }
  struct archive_entry *e;
  for (;;) {
    int r = archive_read_next_header(in, &e);
    if (r == ARCHIVE_EOF)
      break;
    if (r < ARCHIVE_WARN) {
      ret = nook_errx(err, EINVAL, "`%s`: corrupt archive: %s; nothing was stored", path,
                      archive_error_string(in));
      goto out;
    }
    mode_t type = archive_entry_filetype(e);
    /* An image archive holds files, dirs, and (docker save) symlinks from
     * one layer's file to another's. */
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
      continue;
    if (type != AE_IFLNK)
      archive_entry_set_perm(e, type == AE_IFDIR ? 0700 : 0600);
    r = archive_write_header(out, e);
    if (r >= ARCHIVE_WARN && archive_entry_size(e) > 0) {
      const void *buf;
      size_t size;
      la_int64_t off;
      while ((r = archive_read_data_block(in, &buf, &size, &off)) == ARCHIVE_OK) {
        if (archive_write_data_block(out, buf, size, off) != ARCHIVE_OK) {
          r = ARCHIVE_FATAL;
          break;
        }
      }
      if (r == ARCHIVE_EOF)
        r = ARCHIVE_OK;
      else if (r < ARCHIVE_WARN && archive_errno(out) == 0) {
        ret = nook_errx(err, EINVAL, "`%s`: corrupt archive at `%s`: %s; nothing was stored",
                        path, archive_entry_pathname(e), archive_error_string(in));
        goto out;
      }
    }
    if (r < ARCHIVE_WARN || archive_write_finish_entry(out) < ARCHIVE_WARN) {
      int en = archive_errno(out);
      if (en == ENOSPC || en == EDQUOT)
        ret = nook_errx(err, ENOSPC, "disk full while reading `%s` into the image store: free "
                                     "some space; nothing was stored", path);
      else
        ret = nook_errx(err, en ? en : EINVAL, "`%s`: cannot read member `%s`: %s", path,
                        archive_entry_pathname(e), archive_error_string(out));
      goto out;
    }
  }
out:
  if (cwd >= 0 && fchdir(cwd) < 0 && ret == 0)
    ret = nook_err(err, errno, "return to the working directory");
  archive_read_free(in);
  archive_write_free(out);
  return ret;
}

static char *read_small(const char *dir, const char *name, nook_error *err) {
  _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
  char *text = NULL;
  if (read_file_at(AT_FDCWD, p, &text, NULL, err) < 0)
    return NULL;
  return text;
}

/* A blob of an OCI layout dir, read and checked against its digest. */
static char *layout_blob_text(const char *dir, const char *digest, size_t *len, nook_error *err) {
  if (!digest_valid(digest)) {
    nook_errx(err, EINVAL, "unsupported digest `%s` (nook reads sha256)", digest);
    return NULL;
  }
  _cleanup_free_ char *p = xasprintf("%s/blobs/sha256/%s", dir, digest + 7);
  char *text = NULL;
  if (read_file_at(AT_FDCWD, p, &text, len, err) < 0)
    return NULL;
  char got[72];
  sha256_of(text, *len, got);
  if (strcmp(got, digest) != 0) {
    nook_errx(err, EILSEQ, "digest mismatch for %s: its content is %s (a corrupt or tampered "
                           "blob; nothing was stored)", digest, got);
    free(text);
    return NULL;
  }
  return text;
}

static bool usable_name(const char *n) { return n && *n && (strchr(n, ':') || strchr(n, '/')); }

static int import_layout(struct image_ctx *ctx, const char *dir, const char *ref, bool scratch,
                         const char *name, nook_error *err) {
  _cleanup_free_ char *index_text = read_small(dir, "index.json", err);
  if (!index_text)
    return nook_err_prefix(err, -EINVAL, "OCI layout `%s`", dir);
  _cleanup_yajl_ yajl_val index = NULL;
  int r = jparse("index.json", index_text, &index, err);
  if (r < 0)
    return r;
  yajl_val list = jget(index, "manifests", yajl_t_array);
  if (!list || list->u.array.len == 0)
    return nook_errx(err, EINVAL, "OCI layout `%s`: index.json lists no image", dir);
  yajl_val entry = list->u.array.values[0];
  _cleanup_free_ char *digest = NULL, *media_type = NULL;
  if (ref) {
    entry = NULL;
    for (size_t i = 0; i < list->u.array.len && !entry; i++) {
      const char *n = jstr(jget(list->u.array.values[i], "annotations", yajl_t_object),
                           "org.opencontainers.image.ref.name");
      if (n && !strcmp(n, ref))
        entry = list->u.array.values[i];
    }
    if (!entry)
      return nook_errx(err, ENOENT, "OCI layout `%s` has no image named `%s` "
                                    "(org.opencontainers.image.ref.name)", dir, ref);
  } else if (list->u.array.len > 1) {
    r = index_pick_manifest(index, "index.json", &digest, &media_type, err);
    if (r < 0)
      return r;
    for (size_t i = 0; i < list->u.array.len; i++)
      if (!strcmp(jstr(list->u.array.values[i], "digest") ?: "", digest))
        entry = list->u.array.values[i];
  }
  free(digest);
  free(media_type);
  digest = xstrdup(jstr(entry, "digest") ?: "");
  media_type = jstr(entry, "mediaType") ? xstrdup(jstr(entry, "mediaType")) : NULL;

  _cleanup_strv_ char **names = xcalloc(1, sizeof(char *));
  if (name) {
    _cleanup_free_ char *n = store_normalize_name(name);
    strv_push(&names, n);
  } else {
    yajl_val ann = jget(entry, "annotations", yajl_t_object);
    const char *n = jstr(ann, "io.containerd.image.name");
    if (!usable_name(n))
      n = jstr(ann, "org.opencontainers.image.ref.name");
    if (usable_name(n)) {
      _cleanup_free_ char *nn = store_normalize_name(n);
      strv_push(&names, nn);
    }
  }

  size_t mlen = 0;
  _cleanup_free_ char *manifest = NULL;
  for (int depth = 0;; depth++) {
    free(manifest);
    manifest = layout_blob_text(dir, digest, &mlen, err);
    if (!manifest)
      return -EINVAL;
    _cleanup_yajl_ yajl_val doc = NULL;
    r = jparse(digest, manifest, &doc, err);
    if (r < 0)
      return r;
    const char *mt = jstr(doc, "mediaType") ?: media_type;
    if (media_kind_of(mt) != MEDIA_INDEX && !jget(doc, "manifests", yajl_t_array))
      break;
    if (depth > 4)
      return nook_errx(err, ELOOP, "OCI layout `%s`: indexes nested too deep", dir);
    _cleanup_free_ char *what = steal_pointer(&digest);
    free(media_type);
    media_type = NULL;
    r = index_pick_manifest(doc, what, &digest, &media_type, err);
    if (r < 0)
      return r;
  }
  _cleanup_yajl_ yajl_val m = NULL;
  r = jparse(digest, manifest, &m, err);
  if (r < 0)
    return r;
  r = manifest_check(m, digest, err);
  if (r < 0)
    return r;
  /* Every blob goes into the store checked before anything is unpacked. */
  yajl_val config = jget(m, "config", yajl_t_object);
  yajl_val layers = jget(m, "layers", yajl_t_array);
  for (size_t i = 0; i <= layers->u.array.len; i++) {
    const char *d = jstr(i == 0 ? config : layers->u.array.values[i - 1], "digest");
    _cleanup_free_ char *p = xasprintf("%s/blobs/sha256/%s", dir, d + 7);
    r = blob_store_file(ctx, p, d, scratch, err);
    if (r < 0)
      return r;
  }
  char id[65];
  r = image_commit(ctx, manifest, mlen, digest, names, id, err);
  if (r < 0)
    return r;
  printf("%s\n", id);
  return 0;
}

static const char *layer_media_type(const char *path) {
  unsigned char magic[4] = {0};
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0 && read(fd, magic, sizeof(magic)) < 0)
    memset(magic, 0, sizeof(magic));
  if (magic[0] == 0x1f && magic[1] == 0x8b)
    return "application/vnd.oci.image.layer.v1.tar+gzip";
  if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
    return "application/vnd.oci.image.layer.v1.tar+zstd";
  return "application/vnd.oci.image.layer.v1.tar";
}

/* A member name of manifest.json, which must stay inside the archive. */
/* A member named by manifest.json, resolved through the archive's own
 * symlinks, which must stay inside the archive. */
static char *member(const char *dir, const char *name, nook_error *err) {
  _cleanup_free_ char *real_dir = realpath(dir, NULL);
  _cleanup_free_ char *path = name && *name ? xasprintf("%s/%s", dir, name) : NULL;
  char *real = path ? realpath(path, NULL) : NULL;
  if (!real_dir || !real || !str_has_prefix(real, real_dir) || real[strlen(real_dir)] != '/') {
    nook_errx(err, EINVAL, "docker-archive: manifest.json names `%s`, which is not a file in "
                           "the archive", name ? name : "(none)");
    free(real);
    return NULL;
  }
  return real;
}

static int import_docker(struct image_ctx *ctx, const char *dir, const char *name,
                         nook_error *err) {
  _cleanup_free_ char *text = read_small(dir, "manifest.json", err);
  if (!text)
    return -EINVAL;
  char ebuf[256];
  _cleanup_yajl_ yajl_val doc = yajl_tree_parse(text, ebuf, sizeof(ebuf));
  if (!doc || !YAJL_IS_ARRAY(doc) || doc->u.array.len == 0)
    return nook_errx(err, EINVAL, "docker-archive: manifest.json is not a list of images");
  if (doc->u.array.len > 1)
    nook_warn("docker-archive holds %zu images: importing the first", doc->u.array.len);
  yajl_val img = doc->u.array.values[0];
  yajl_val layers = jget(img, "Layers", yajl_t_array);
  if (!layers)
    return nook_errx(err, EINVAL, "docker-archive: manifest.json has no Layers");
  _cleanup_free_ char *cpath = member(dir, jstr(img, "Config"), err);
  if (!cpath)
    return -EINVAL;
  char cdigest[72];
  int r = sha256_file(cpath, cdigest, err);
  if (r < 0)
    return r;
  struct stat st;
  long long csize = stat(cpath, &st) == 0 ? (long long)st.st_size : 0;
  r = blob_store_file(ctx, cpath, cdigest, true, err);
  if (r < 0)
    return r;
  yajl_gen g = yajl_gen_alloc(NULL);
  yajl_gen_map_open(g);
  gen_str(g, "schemaVersion");
  yajl_gen_integer(g, 2);
  gen_str(g, "mediaType");
  gen_str(g, "application/vnd.oci.image.manifest.v1+json");
  gen_str(g, "config");
  yajl_gen_map_open(g);
  gen_str(g, "mediaType");
  gen_str(g, "application/vnd.oci.image.config.v1+json");
  gen_str(g, "digest");
  gen_str(g, cdigest);
  gen_str(g, "size");
  yajl_gen_integer(g, csize);
  yajl_gen_map_close(g);
  gen_str(g, "layers");
  yajl_gen_array_open(g);
  /* The same file may be named twice (docker save links duplicates): it is
   * moved into the store once and known by its path afterwards. */
  _cleanup_strv_ char **seen_paths = xcalloc(1, sizeof(char *));
  _cleanup_strv_ char **seen_info = xcalloc(1, sizeof(char *));
  /* Every name is resolved before the first file moves into the store. */
  _cleanup_strv_ char **paths = xcalloc(1, sizeof(char *));
  for (size_t i = 0; i < layers->u.array.len && r == 0; i++) {
    yajl_val l = layers->u.array.values[i];
    _cleanup_free_ char *p = member(dir, YAJL_IS_STRING(l) ? YAJL_GET_STRING(l) : NULL, err);
    if (!p)
      r = -EINVAL;
    else
      strv_push(&paths, p);
  }
  for (size_t i = 0; i < layers->u.array.len && r == 0; i++) {
    const char *lpath = paths[i];
    char ld[72];
    const char *mt = NULL;
    long long size = 0;
    size_t k = 0;
    while (seen_paths[k] && strcmp(seen_paths[k], lpath))
      k++;
    if (seen_paths[k]) {
      char mtbuf[128];
      if (sscanf(seen_info[k], "%71s %lld %127s", ld, &size, mtbuf) != 3) {
        r = nook_errx(err, EINVAL, "docker-archive: internal bookkeeping error");
        break;
      }
      mt = !strcmp(mtbuf, "gzip")   ? "application/vnd.oci.image.layer.v1.tar+gzip"
           : !strcmp(mtbuf, "zstd") ? "application/vnd.oci.image.layer.v1.tar+zstd"
                                    : "application/vnd.oci.image.layer.v1.tar";
    } else {
      r = sha256_file(lpath, ld, err);
      if (r < 0)
        break;
      mt = layer_media_type(lpath);
      size = stat(lpath, &st) == 0 ? (long long)st.st_size : 0;
      _cleanup_free_ char *info = xasprintf("%s %lld %s", ld, size,
                                            strstr(mt, "gzip") ? "gzip"
                                            : strstr(mt, "zstd") ? "zstd" : "tar");
      strv_push(&seen_paths, lpath);
      strv_push(&seen_info, info);
      r = blob_store_file(ctx, lpath, ld, true, err);
    }
    yajl_gen_map_open(g);
    gen_str(g, "mediaType");
    gen_str(g, mt);
    gen_str(g, "digest");
    gen_str(g, ld);
    gen_str(g, "size");
    yajl_gen_integer(g, size);
    yajl_gen_map_close(g);
  }
  yajl_gen_array_close(g);
  yajl_gen_map_close(g);
  const unsigned char *buf;
  size_t len;
  yajl_gen_get_buf(g, &buf, &len);
  _cleanup_free_ char *manifest = xstrndup((const char *)buf, len);
  yajl_gen_free(g);
  if (r < 0)
    return r;
  char mdigest[72];
  sha256_of(manifest, len, mdigest);

  _cleanup_strv_ char **names = xcalloc(1, sizeof(char *));
  yajl_val tags = jget(img, "RepoTags", yajl_t_array);
  if (name) {
    _cleanup_free_ char *n = store_normalize_name(name);
    strv_push(&names, n);
  } else {
    for (size_t i = 0; tags && i < tags->u.array.len; i++)
      if (YAJL_IS_STRING(tags->u.array.values[i])) {
        _cleanup_free_ char *n = store_normalize_name(YAJL_GET_STRING(tags->u.array.values[i]));
        strv_push(&names, n);
      }
  }
  char id[65];
  r = image_commit(ctx, manifest, len, mdigest, names, id, err);
  if (r < 0)
    return r;
  printf("%s\n", id);
  return 0;
}

int image_import(struct image_ctx *ctx, const char *path, const char *name, nook_error *err) {
  struct stat st;
  _cleanup_free_ char *layout = NULL;
  const char *ref = NULL;
  bool from_stdin = !strcmp(path, "-");
  if (from_stdin) {
    st.st_mode = S_IFREG;
  } else if (stat(path, &st) < 0) {
    /* DIR:REF picks one image of a layout, as skopeo's oci:DIR:REF does */
    const char *colon = strrchr(path, ':');
    int e = errno;
    if (colon && colon[1]) {
      layout = xstrndup(path, (size_t)(colon - path));
      ref = colon + 1;
    }
    if (!layout || stat(layout, &st) < 0 || !S_ISDIR(st.st_mode))
      return nook_err(err, e, "import `%s`", path);
    path = layout;
  }
  if (S_ISDIR(st.st_mode)) {
    _cleanup_free_ char *idx = xasprintf("%s/index.json", path);
    if (access(idx, F_OK) < 0)
      return nook_errx(err, EINVAL, "`%s` is not an OCI image layout (no index.json)", path);
    return import_layout(ctx, path, ref, false, name, err);
  }
  /* libarchive would call an unreadable file "not an image archive" */
  if (!from_stdin && access(path, R_OK) < 0)
    return nook_err(err, errno, "import `%s`", path);
  _cleanup_free_ char *dir = xasprintf("%s/archive", ctx->work);
  if (mkdir(dir, 0700) < 0)
    return nook_err(err, errno, "create `%s`", dir);
  int r = extract_archive(path, dir, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *idx = xasprintf("%s/index.json", dir);
  _cleanup_free_ char *dm = xasprintf("%s/manifest.json", dir);
  if (access(idx, F_OK) == 0)
    return import_layout(ctx, dir, NULL, true, name, err);
  if (access(dm, F_OK) == 0)
    return import_docker(ctx, dir, name, err);
  return nook_errx(err, EINVAL, "`%s` is not an oci-archive or docker-archive (it has no "
                                "index.json or manifest.json)", from_stdin ? "stdin" : path);
}
