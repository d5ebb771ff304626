/* nook-image: the image store's write side (import, pull, rm, prune) and its
 * listing. Shared declarations of the helper's modules. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "error.h"
#include "storage/store.h"

/* A writer's session on the store: its root, the store-wide lock held
 * shared (rm and prune take it exclusive), and a scratch dir under tmp/
 * that dies with the process. */
struct image_ctx {
  char *root;
  int lock_fd;
  char *work;     /* tmp/W, on the store's filesystem so renames into place work */
  int work_lock;  /* flock on tmp/W.lock while we live */
  bool quiet;
  bool progress;  /* a terminal: draw progress bars */
};

int image_ctx_open(struct image_ctx *ctx, const char *root, bool exclusive, nook_error *err);
void image_ctx_close(struct image_ctx *ctx);
/* Removes the scratch dirs of writers that died (their W.lock is free). */
void image_ctx_clean_stale(struct image_ctx *ctx);
/* Exclusive lock for a commit step (rename a layer in, write a record). */
int image_commit_lock(struct image_ctx *ctx, int *fd, nook_error *err);

/* sha256 */
struct sha256_ctx;
struct sha256_ctx *sha256_new(void);
void sha256_update(struct sha256_ctx *h, const void *data, size_t len);
/* Writes "sha256:" + 64 hex digits + NUL into out[72] and frees h. */
void sha256_finish(struct sha256_ctx *h, char out[72]);
void sha256_of(const void *data, size_t len, char out[72]);
int sha256_file(const char *path, char out[72], nook_error *err);

/* "sha256:HEX" with a well-formed hex part; anything else is refused (no
 * path can be made from it). */
bool digest_valid(const char *digest);
char *blob_path(const struct image_ctx *ctx, const char *digest);
bool blob_exists(const struct image_ctx *ctx, const char *digest);
/* Puts the file at path into the store as digest, checking its content
 * first; may_move: path is a scratch file on the store's filesystem. */
int blob_store_file(struct image_ctx *ctx, const char *path, const char *digest, bool may_move,
                    nook_error *err);
int blob_store_data(struct image_ctx *ctx, const void *data, size_t len, const char *digest,
                    nook_error *err);

/* Media types */
enum media_kind { MEDIA_UNKNOWN, MEDIA_MANIFEST, MEDIA_INDEX, MEDIA_CONFIG, MEDIA_LAYER };
enum media_kind media_kind_of(const char *media_type);

/* Unpacks each layer blob into the store as layers/DIFFID (several at once),
 * checking that its uncompressed content is the diff id. Layers there
 * already are skipped. */
int layers_unpack(struct image_ctx *ctx, char **blob_digests, char **diff_ids,
                  nook_error *err);

/* Checks the manifest (its blobs all in the store), unpacks its layers and
 * writes the image record, giving it names (moved from other images). */
int image_commit(struct image_ctx *ctx, const char *manifest, size_t manifest_len,
                 const char *manifest_digest, char **names, char id_out[65], nook_error *err);

/* Picks the manifest for this host from an index document. Returns the
 * chosen descriptor's digest (malloc'd). */
int index_pick_manifest(yajl_val index, const char *what, char **digest, char **media_type,
                        nook_error *err);
const char *host_arch(void);

/* When ref names img by one of several names, removes only that name
 * (*untagged: the name removed); else leaves img as it is (*untagged NULL). */
int image_untag(struct image_ctx *ctx, const struct store_image *img, const char *ref,
                char **untagged, nook_error *err);

/* Gives image id the names (normalized), taking them from other images. */
int image_add_names(struct image_ctx *ctx, const char *id, char **names, nook_error *err);

/* Commands */
int image_import(struct image_ctx *ctx, const char *path, const char *name, nook_error *err);
int image_pull(struct image_ctx *ctx, const char *ref, bool tls_verify, nook_error *err);
/* What a garbage collection took away. */
struct gc_stats {
  size_t layers, blobs;
  uint64_t bytes; /* disk space freed */
};
int image_gc(struct image_ctx *ctx, struct gc_stats *stats, nook_error *err);
/* nook image save ARGS (argv[0] "save"). */
int cmd_save(const char *root, int argc, char **argv, nook_error *err);

/* JSON helpers */
void gen_str(yajl_gen g, const char *s);
const char *jstr(yajl_val obj, const char *key);
yajl_val jget(yajl_val obj, const char *key, yajl_type type);
int jparse(const char *what, const char *text, yajl_val *out, nook_error *err);
void yajl_tree_freep(yajl_val *v);
#define _cleanup_yajl_ _cleanup_(yajl_tree_freep)

int manifest_check(yajl_val manifest, const char *digest, nook_error *err);
int image_remove(struct image_ctx *ctx, const char *id, nook_error *err);
/* The ids of the containers whose rootfs is made from image id. */
char **image_users(const char *root, const char *id);
