/* Reading a yajl tree with every mistake reported by its JSON path
 * ("config.json: linux.namespaces[2].type: ..."). Shared by the config.json
 * and process.json parsers; JSON null counts as absent, as Go's
 * encoding/json (runc, podman, containerd) writes it for empty fields. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

#include "error.h"
#include "spec.h"

/* The parse state: where in the document we are, for messages such as
 * "config.json: linux.namespaces[2].type: ...". */
struct json_ctx {
  nook_error *err;
  const char *file; /* prefix of every message; NULL: none */
  char path[1024];
  size_t len;
};

/* Each push returns the length to give json_pop to undo it. */
size_t json_push_key(struct json_ctx *c, const char *key);
size_t json_push_index(struct json_ctx *c, size_t i);
void json_pop(struct json_ctx *c, size_t saved);

/* An error about the value at the current path. Returns -EINVAL. */
int json_bad(struct json_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "PATH.key is required". Returns -EINVAL. */
int json_missing(struct json_ctx *c, const char *key);

/* The value of key in obj; NULL when absent, null or obj is no object. */
yajl_val json_get(yajl_val obj, const char *key);
const char *json_type_name(yajl_val v);

/* json_val_* check the value at the current path and return 0 or -EINVAL.
 * Numbers are range checked. */
int json_val_string(struct json_ctx *c, yajl_val v, char **out);
int json_val_strv(struct json_ctx *c, yajl_val v, char ***out);
int json_val_bool(struct json_ctx *c, yajl_val v, bool *out);
int json_val_u64(struct json_ctx *c, yajl_val v, uint64_t max, uint64_t *out);
int json_val_u32(struct json_ctx *c, yajl_val v, uint32_t *out);
int json_val_i64(struct json_ctx *c, yajl_val v, int64_t min, int64_t max, int64_t *out);
int json_val_int(struct json_ctx *c, yajl_val v, int *out);
int json_val_object(struct json_ctx *c, yajl_val v);
int json_val_array(struct json_ctx *c, yajl_val v);

/* json_opt_* look key up in obj: 0 when absent (*out untouched), 1 when
 * read, -EINVAL on a bad value. json_req_* make absence an error. */
int json_opt_string(struct json_ctx *c, yajl_val obj, const char *key, char **out);
int json_opt_strv(struct json_ctx *c, yajl_val obj, const char *key, char ***out);
int json_opt_bool(struct json_ctx *c, yajl_val obj, const char *key, bool *out);
int json_opt_u32(struct json_ctx *c, yajl_val obj, const char *key, uint32_t *out);
int json_opt_u64(struct json_ctx *c, yajl_val obj, const char *key, uint64_t *out);
int json_opt_int(struct json_ctx *c, yajl_val obj, const char *key, int *out);
int json_opt_object(struct json_ctx *c, yajl_val obj, const char *key, yajl_val *out);
int json_opt_array(struct json_ctx *c, yajl_val obj, const char *key, yajl_val *out);
int json_req_string(struct json_ctx *c, yajl_val obj, const char *key, char **out);
int json_req_u32(struct json_ctx *c, yajl_val obj, const char *key, uint32_t *out);
int json_req_u64(struct json_ctx *c, yajl_val obj, const char *key, uint64_t *out);

/* A JSON object of strings ("annotations", "sysctl"). */
int json_opt_string_map(struct json_ctx *c, yajl_val obj, const char *key, struct spec_kv **out,
                        size_t *n_out);

/* Calls parse_item for each element of the array at key, with the path set
 * to key[i]. Items are zeroed structs of item_size in *out. */
typedef int (*json_item_fn)(struct json_ctx *c, yajl_val v, void *item);
/* Calls parse_item on each element of the array at key (each must be an
 * object), with the path set to key[i]. */
int json_opt_items(struct json_ctx *c, yajl_val obj, const char *key, json_item_fn parse_item,
                   size_t item_size, void **out, size_t *n_out);

/* Parses a whole document; on bad JSON says "FILE: invalid JSON at line N:
 * what" (FILE may be NULL) and returns NULL. */
yajl_val json_parse_tree(const char *json, const char *file, nook_error *err);
