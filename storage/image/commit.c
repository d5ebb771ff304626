/* Turning a manifest whose blobs are in the store into an image: checks,
 * layer unpacking, the image record and the names index; and the garbage
 * collection that rm and prune share. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "image.h"
#include "log.h"
#include "util.h"

const char *host_arch(void) {
  const char *env = getenv("NOOK_IMAGE_ARCH"); /* for cross pulls */
  if (env && *env)
    return env;
  struct utsname u;
  if (uname(&u) < 0)
    return "amd64";
  if (!strcmp(u.machine, "x86_64"))
    return "amd64";
  if (!strcmp(u.machine, "aarch64"))
    return "arm64";
  if (!strncmp(u.machine, "armv7", 5))
    return "arm";
  if (!strcmp(u.machine, "i686") || !strcmp(u.machine, "i386"))
    return "386";
  return "amd64";
}

int index_pick_manifest(yajl_val index, const char *what, char **digest, char **media_type,
                        nook_error *err) {
  yajl_val list = jget(index, "manifests", yajl_t_array);
  if (!list || list->u.array.len == 0)
    return nook_errx(err, EINVAL, "%s: the index lists no manifests", what);
  const char *arch = host_arch();
  yajl_val pick = NULL;
  bool any_platform = false;
  for (size_t i = 0; i < list->u.array.len && !pick; i++) {
    yajl_val m = list->u.array.values[i];
    yajl_val plat = jget(m, "platform", yajl_t_object);
    if (!plat)
      continue;
    any_platform = true;
    const char *os = jstr(plat, "os"), *a = jstr(plat, "architecture");
    if (os && a && !strcmp(os, "linux") && !strcmp(a, arch))
      pick = m;
  }
  if (!pick && any_platform)
    return nook_errx(err, ENOENT, "%s: no manifest for linux/%s in the index (set "
                                  "NOOK_IMAGE_ARCH to pick another architecture)", what, arch);
  if (!pick)
    pick = list->u.array.values[0];
  const char *d = jstr(pick, "digest");
  if (!digest_valid(d))
    return nook_errx(err, EINVAL, "%s: index entry with a missing or unsupported digest", what);
  *digest = xstrdup(d);
  const char *mt = jstr(pick, "mediaType");
  *media_type = mt ? xstrdup(mt) : NULL;
  return 0;
}

static int write_json_gen(yajl_gen g, const char *path, nook_error *err) {
  const unsigned char *buf;
  size_t len;
  yajl_gen_get_buf(g, &buf, &len);
  int r = write_file_atomic_at(AT_FDCWD, path, buf, len, 0600, err);
  if (r == -ENOSPC)
    return nook_errx(err, ENOSPC, "disk full while writing `%s`: free some space", path);
  return r;
}

static int write_record(struct image_ctx *ctx, const struct store_image *img, char **blobs,
                        nook_error *err) {
  yajl_gen g = yajl_gen_alloc(NULL);
  yajl_gen_config(g, yajl_gen_beautify, 1);
  yajl_gen_map_open(g);
  gen_str(g, "id");
  gen_str(g, img->id);
  gen_str(g, "names");
  yajl_gen_array_open(g);
  for (size_t i = 0; img->names && img->names[i]; i++)
    gen_str(g, img->names[i]);
  yajl_gen_array_close(g);
  gen_str(g, "manifest");
  gen_str(g, img->manifest_digest);
  gen_str(g, "config");
  gen_str(g, img->config_digest);
  gen_str(g, "layers");
  yajl_gen_array_open(g);
  for (size_t i = 0; img->layers[i]; i++)
    gen_str(g, img->layers[i]);
  yajl_gen_array_close(g);
  gen_str(g, "blobs");
  yajl_gen_array_open(g);
  for (size_t i = 0; blobs && blobs[i]; i++)
    gen_str(g, blobs[i]);
  yajl_gen_array_close(g);
  if (img->created) {
    gen_str(g, "created");
    gen_str(g, img->created);
  }
  gen_str(g, "size");
  yajl_gen_integer(g, (long long)img->size);
  yajl_gen_map_close(g);
  _cleanup_free_ char *path = xasprintf("%s/images/%s.json", ctx->root, img->id);
  int r = write_json_gen(g, path, err);
  yajl_gen_free(g);
  return r;
}

/* The blobs an image record keeps alive. */
static char **record_blobs(const char *root, const char *id) {
  _cleanup_free_ char *path = xasprintf("%s/images/%s.json", root, id);
  _cleanup_free_ char *text = NULL;
  nook_error ignore;
  char **out = xcalloc(1, sizeof(char *));
  if (read_file_at(AT_FDCWD, path, &text, NULL, &ignore) < 0)
    return out;
  _cleanup_yajl_ yajl_val doc = NULL;
  if (jparse(path, text, &doc, &ignore) < 0)
    return out;
  yajl_val b = jget(doc, "blobs", yajl_t_array);
  for (size_t i = 0; b && i < b->u.array.len; i++)
    if (YAJL_IS_STRING(b->u.array.values[i]))
      strv_push(&out, YAJL_GET_STRING(b->u.array.values[i]));
  return out;
}

static int write_names_index(struct image_ctx *ctx, nook_error *err) {
  _cleanup_strv_ char **ids = NULL;
  int r = store_list_images(ctx->root, &ids, err);
  if (r < 0)
    return r;
  yajl_gen g = yajl_gen_alloc(NULL);
  yajl_gen_config(g, yajl_gen_beautify, 1);
  yajl_gen_map_open(g);
  for (size_t i = 0; ids[i]; i++) {
    struct store_image img;
    nook_error ignore;
    if (store_image_load(ctx->root, ids[i], &img, &ignore) < 0)
      continue;
    for (size_t j = 0; img.names[j]; j++) {
      gen_str(g, img.names[j]);
      gen_str(g, img.id);
    }
    store_image_free(&img);
  }
  yajl_gen_map_close(g);
  _cleanup_free_ char *path = xasprintf("%s/names.json", ctx->root);
  r = write_json_gen(g, path, err);
  yajl_gen_free(g);
  return r;
}

/* Takes names away from every image but keep_id (a name points at one image). */
static int untag_others(struct image_ctx *ctx, char **names, const char *keep_id,
                        nook_error *err) {
  _cleanup_strv_ char **ids = NULL;
  int r = store_list_images(ctx->root, &ids, err);
  if (r < 0)
    return r;
  for (size_t i = 0; ids[i]; i++) {
    if (!strcmp(ids[i], keep_id))
      continue;
    struct store_image img;
    nook_error ignore;
    if (store_image_load(ctx->root, ids[i], &img, &ignore) < 0)
      continue;
    char **kept = xcalloc(1, sizeof(char *));
    bool changed = false;
    for (size_t j = 0; img.names[j]; j++) {
      if (strv_contains(names, img.names[j]))
        changed = true;
      else
        strv_push(&kept, img.names[j]);
    }
    if (changed) {
      strv_free(img.names);
      img.names = kept;
      _cleanup_strv_ char **blobs = record_blobs(ctx->root, img.id);
      r = write_record(ctx, &img, blobs, err);
    } else {
      strv_free(kept);
    }
    store_image_free(&img);
    if (r < 0)
      return r;
  }
  return 0;
}

static int check_descriptor(yajl_val d, const char *what, enum media_kind want,
                            nook_error *err) {
  const char *mt = jstr(d, "mediaType");
  const char *digest = jstr(d, "digest");
  if (!digest_valid(digest))
    return nook_errx(err, EINVAL, "%s: missing or unsupported digest `%s` (nook reads sha256)",
                     what, digest ? digest : "");
  if (media_kind_of(mt) != want)
    return nook_errx(err, EINVAL,
                     "unknown media type `%s` for %s %s: nook reads %s; nothing was stored",
                     mt ? mt : "(none)", what, digest,
                     want == MEDIA_LAYER ? "tar, tar+gzip and tar+zstd layers"
                                         : "OCI and Docker v2 image configs");
  return 0;
}

int manifest_check(yajl_val m, const char *digest, nook_error *err) {
  const char *mt = jstr(m, "mediaType");
  if (mt && media_kind_of(mt) != MEDIA_MANIFEST)
    return nook_errx(err, EINVAL,
                     "unknown media type `%s` for manifest %s: nook reads OCI and Docker v2 "
                     "image manifests; nothing was stored", mt, digest);
  yajl_val sv = jget(m, "schemaVersion", yajl_t_number);
  if (!sv || !YAJL_IS_INTEGER(sv) || YAJL_GET_INTEGER(sv) != 2)
    return nook_errx(err, EINVAL, "manifest %s: schemaVersion is not 2 (Docker schema 1 images "
                                  "are not supported)", digest);
  yajl_val config = jget(m, "config", yajl_t_object);
  yajl_val layers = jget(m, "layers", yajl_t_array);
  if (!config || !layers)
    return nook_errx(err, EINVAL, "manifest %s: no config or layers", digest);
  int r = check_descriptor(config, "config", MEDIA_CONFIG, err);
  for (size_t i = 0; r == 0 && i < layers->u.array.len; i++)
    r = check_descriptor(layers->u.array.values[i], "layer", MEDIA_LAYER, err);
  return r;
}

int image_commit(struct image_ctx *ctx, const char *manifest, size_t manifest_len,
                 const char *manifest_digest, char **names, char id_out[65], nook_error *err) {
  _cleanup_yajl_ yajl_val m = NULL;
  int r = jparse(manifest_digest, manifest, &m, err);
  if (r < 0)
    return r;
  r = manifest_check(m, manifest_digest, err);
  if (r < 0)
    return r;
  const char *config_digest = jstr(jget(m, "config", yajl_t_object), "digest");
  yajl_val layers = jget(m, "layers", yajl_t_array);
  _cleanup_free_ char *cpath = blob_path(ctx, config_digest);
  _cleanup_free_ char *ctext = NULL;
  r = read_file_at(AT_FDCWD, cpath, &ctext, NULL, err);
  if (r < 0)
    return nook_err_prefix(err, r, "config %s", config_digest);
  _cleanup_yajl_ yajl_val config = NULL;
  r = jparse(config_digest, ctext, &config, err);
  if (r < 0)
    return r;
  yajl_val rootfs = jget(config, "rootfs", yajl_t_object);
  yajl_val diff_ids = jget(rootfs, "diff_ids", yajl_t_array);
  if (!diff_ids || diff_ids->u.array.len != layers->u.array.len)
    return nook_errx(err, EINVAL, "config %s: rootfs.diff_ids does not list one diff id per "
                                  "layer of the manifest", config_digest);

  struct store_image img = {0};
  img.id = xstrdup(config_digest + 7);
  img.manifest_digest = xstrdup(manifest_digest);
  img.config_digest = xstrdup(config_digest);
  img.layers = xcalloc(1, sizeof(char *));
  const char *created = jstr(config, "created");
  img.created = created ? xstrdup(created) : NULL;
  _cleanup_strv_ char **blobs = NULL;
  strv_push(&blobs, manifest_digest);
  strv_push(&blobs, config_digest);
  _cleanup_strv_ char **layer_blobs = xcalloc(1, sizeof(char *));
  _cleanup_strv_ char **diffs = xcalloc(1, sizeof(char *));
  for (size_t i = 0; i < layers->u.array.len; i++) {
    yajl_val l = layers->u.array.values[i];
    yajl_val diff = diff_ids->u.array.values[i];
    const char *ld = jstr(l, "digest");
    if (!YAJL_IS_STRING(diff)) {
      store_image_free(&img);
      return nook_errx(err, EINVAL, "config %s: diff id %zu is not a string", config_digest, i);
    }
    strv_push(&layer_blobs, ld);
    strv_push(&diffs, YAJL_GET_STRING(diff));
    strv_push(&img.layers, YAJL_GET_STRING(diff) + 7);
    strv_push(&blobs, ld);
    yajl_val size = jget(l, "size", yajl_t_number);
    if (size && YAJL_IS_INTEGER(size))
      img.size += (uint64_t)YAJL_GET_INTEGER(size);
  }
  r = layers_unpack(ctx, layer_blobs, diffs, err);
  if (r < 0) {
    store_image_free(&img);
    return r;
  }
  r = blob_store_data(ctx, manifest, manifest_len, manifest_digest, err);
  _cleanup_close_ int lock = -1;
  if (r == 0)
    r = image_commit_lock(ctx, &lock, err);
  if (r == 0) {
    /* Names the image had before stay unless moved by this commit. */
    struct store_image old;
    nook_error ignore;
    img.names = xcalloc(1, sizeof(char *));
    if (store_image_load(ctx->root, img.id, &old, &ignore) == 0) {
      for (size_t i = 0; old.names[i]; i++)
        if (!strv_contains(names, old.names[i]))
          strv_push(&img.names, old.names[i]);
      store_image_free(&old);
    }
    for (size_t i = 0; names && names[i]; i++)
      strv_push(&img.names, names[i]);
    r = untag_others(ctx, names, img.id, err);
  }
  if (r == 0)
    r = write_record(ctx, &img, blobs, err);
  if (r == 0)
    r = write_names_index(ctx, err);
  if (r == 0)
    memcpy(id_out, img.id, 65);
  store_image_free(&img);
  return r;
}

int image_untag(struct image_ctx *ctx, const struct store_image *img, const char *ref,
                char **untagged, nook_error *err) {
  *untagged = NULL;
  const char *name = store_image_name_of(img, ref);
  if (!name || strv_len(img->names) < 2)
    return 0;
  _cleanup_close_ int lock = -1;
  int r = image_commit_lock(ctx, &lock, err);
  if (r < 0)
    return r;
  struct store_image copy = *img;
  copy.names = xcalloc(1, sizeof(char *));
  for (size_t i = 0; img->names[i]; i++)
    if (img->names[i] != name)
      strv_push(&copy.names, img->names[i]);
  _cleanup_strv_ char **blobs = record_blobs(ctx->root, img->id);
  r = write_record(ctx, &copy, blobs, err);
  strv_free(copy.names);
  if (r == 0)
    r = write_names_index(ctx, err);
  if (r == 0)
    *untagged = xstrdup(name);
  return r;
}

char **image_users(const char *root, const char *id) {
  char **out = xcalloc(1, sizeof(char *));
  _cleanup_free_ char *cdir = xasprintf("%s/containers", root);
  _cleanup_closedir_ DIR *d = opendir(cdir);
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (de->d_name[0] == '.')
      continue;
    _cleanup_free_ char *p = xasprintf("%s/%s/image", cdir, de->d_name);
    _cleanup_free_ char *used = NULL;
    nook_error ignore;
    if (read_file_at(AT_FDCWD, p, &used, NULL, &ignore) == 0 && !strncmp(used, id, 64))
      strv_push(&out, de->d_name);
  }
  return out;
}

int image_remove(struct image_ctx *ctx, const char *id, nook_error *err) {
  _cleanup_strv_ char **users = image_users(ctx->root, id);
  if (users[0] && users[1])
    return nook_errx(err, EBUSY, "image %.12s is used by containers `%s` and %zu more: remove "
                                 "them first (nook rm %s ...), or use nook image rm -f to "
                                 "remove them with it", id, users[0], strv_len(users) - 1,
                     users[0]);
  if (users[0])
    return nook_errx(err, EBUSY, "image %.12s is used by container `%s`: remove the container "
                                 "first (nook rm %s), or use nook image rm -f to remove it with "
                                 "the image", id, users[0], users[0]);
  _cleanup_close_ int lock = -1;
  int r = image_commit_lock(ctx, &lock, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *path = xasprintf("%s/images/%s.json", ctx->root, id);
  if (unlink(path) < 0)
    return nook_err(err, errno, "remove `%s`", path);
  return write_names_index(ctx, err);
}

/* Disk usage of a layer, hard links shared out between their names (a
 * layer holds every name of its links). */
static uint64_t tree_usage;

static int add_usage(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)path, (void)flag, (void)ftw;
  uint64_t bytes = (uint64_t)st->st_blocks * 512;
  tree_usage += st->st_nlink > 1 && !S_ISDIR(st->st_mode) ? bytes / st->st_nlink : bytes;
  return 0;
}

struct layer_sweep {
  const char *dir;   /* layers/ */
  char **names;      /* the dead ones */
  int usage_fd;      /* the freed bytes go back through it */
};

/* In a user namespace where the layers' files are ours: measures, then
 * removes each dead layer. */
static int sweep_in_ns(void *arg, nook_error *err) {
  struct layer_sweep *a = arg;
  _cleanup_close_ int dfd = open(a->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return nook_err(err, errno, "open `%s`", a->dir);
  tree_usage = 0;
  for (size_t i = 0; a->names[i]; i++) {
    _cleanup_free_ char *p = xasprintf("%s/%s", a->dir, a->names[i]);
    nftw(p, add_usage, 16, FTW_PHYS | FTW_MOUNT);
    int r = rm_rf_at(dfd, a->names[i]);
    if (r < 0)
      return nook_err(err, -r, "remove `%s`", p);
  }
  (void)!write(a->usage_fd, &tree_usage, sizeof(tree_usage));
  return 0;
}

int image_gc(struct image_ctx *ctx, struct gc_stats *stats, nook_error *err) {
  memset(stats, 0, sizeof(*stats));
  _cleanup_strv_ char **ids = NULL;
  int r = store_list_images(ctx->root, &ids, err);
  if (r < 0)
    return r;
  _cleanup_strv_ char **live_layers = xcalloc(1, sizeof(char *));
  _cleanup_strv_ char **live_blobs = xcalloc(1, sizeof(char *));
  for (size_t i = 0; ids[i]; i++) {
    struct store_image img;
    if (store_image_load(ctx->root, ids[i], &img, err) < 0)
      return nook_err_prefix(err, -EINVAL, "refusing to collect garbage with an unreadable "
                                           "image record");
    for (size_t j = 0; img.layers[j]; j++)
      strv_push(&live_layers, img.layers[j]);
    _cleanup_strv_ char **b = record_blobs(ctx->root, ids[i]);
    for (size_t j = 0; b[j]; j++)
      strv_push(&live_blobs, b[j] + 7);
    store_image_free(&img);
  }
  _cleanup_free_ char *ldir = xasprintf("%s/layers", ctx->root);
  _cleanup_closedir_ DIR *d = opendir(ldir);
  struct dirent *de;
  _cleanup_strv_ char **dead = xcalloc(1, sizeof(char *));
  while (d && (de = readdir(d)))
    if (de->d_name[0] != '.' && !strv_contains(live_layers, de->d_name))
      strv_push(&dead, de->d_name);
  if (dead[0]) {
    int usage[2];
    if (pipe2(usage, O_CLOEXEC) < 0)
      return nook_err(err, errno, "pipe");
    struct layer_sweep sweep = {.dir = ldir, .names = dead, .usage_fd = usage[1]};
    r = store_run_in_userns(sweep_in_ns, &sweep, 0, err);
    close(usage[1]);
    uint64_t freed = 0;
    if (r == 0 && read(usage[0], &freed, sizeof(freed)) == (ssize_t)sizeof(freed))
      stats->bytes += freed;
    close(usage[0]);
    if (r < 0)
      return r;
    stats->layers = strv_len(dead);
  }
  _cleanup_free_ char *bdir = xasprintf("%s/blobs/sha256", ctx->root);
  _cleanup_closedir_ DIR *bd = opendir(bdir);
  while (bd && (de = readdir(bd))) {
    if (de->d_name[0] == '.' || strv_contains(live_blobs, de->d_name))
      continue;
    _cleanup_free_ char *p = xasprintf("%s/%s", bdir, de->d_name);
    struct stat st;
    if (lstat(p, &st) == 0)
      stats->bytes += (uint64_t)st.st_blocks * 512;
    if (unlink(p) < 0 && errno != ENOENT)
      return nook_err(err, errno, "remove `%s`", p);
    stats->blobs++;
  }
  nook_debug("removed %zu layers and %zu blobs", stats->layers, stats->blobs);
  return 0;
}

int image_add_names(struct image_ctx *ctx, const char *id, char **names, nook_error *err) {
  _cleanup_close_ int lock = -1;
  int r = image_commit_lock(ctx, &lock, err);
  if (r < 0)
    return r;
  /* Read again under the commit lock: a concurrent import may have named it. */
  struct store_image img;
  r = store_image_load(ctx->root, id, &img, err);
  if (r < 0)
    return r;
  for (size_t i = 0; names[i]; i++)
    if (!strv_contains(img.names, names[i]))
      strv_push(&img.names, names[i]);
  r = untag_others(ctx, names, img.id, err);
  if (r == 0) {
    _cleanup_strv_ char **blobs = record_blobs(ctx->root, img.id);
    r = write_record(ctx, &img, blobs, err);
  }
  if (r == 0)
    r = write_names_index(ctx, err);
  store_image_free(&img);
  return r;
}
