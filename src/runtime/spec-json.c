#include "spec-json.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "util.h"

size_t json_push_key(struct json_ctx *c, const char *key) {
  size_t saved = c->len;
  int n = snprintf(c->path + c->len, sizeof(c->path) - c->len, "%s%s", c->len ? "." : "", key);
  if (n > 0)
    c->len = c->len + (size_t)n < sizeof(c->path) ? c->len + (size_t)n : sizeof(c->path) - 1;
  return saved;
}

size_t json_push_index(struct json_ctx *c, size_t i) {
  size_t saved = c->len;
  int n = snprintf(c->path + c->len, sizeof(c->path) - c->len, "[%zu]", i);
  if (n > 0)
    c->len = c->len + (size_t)n < sizeof(c->path) ? c->len + (size_t)n : sizeof(c->path) - 1;
  return saved;
}

void json_pop(struct json_ctx *c, size_t saved) {
  c->len = saved;
  c->path[saved] = '\0';
}

/* An error about the value at the current path. */
int json_bad(struct json_ctx *c, const char *fmt, ...) {
  char what[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  return nook_errx(c->err, EINVAL, "%s%s%s%s%s", c->file ? c->file : "", c->file ? ": " : "",
                   c->path, c->len ? ": " : "", what);
}

/* An error about a required key missing below the current path. */
int json_missing(struct json_ctx *c, const char *key) {
  return nook_errx(c->err, EINVAL, "%s%s%s%s%s is required", c->file ? c->file : "",
                   c->file ? ": " : "", c->path, c->len ? "." : "", key);
}

/* The last of duplicate keys wins, as in Go's encoding/json, so nook reads
 * such a file the way the tools that wrote it do. */
yajl_val json_get(yajl_val obj, const char *key) {
  if (!YAJL_IS_OBJECT(obj))
    return NULL;
  for (size_t i = obj->u.object.len; i-- > 0;)
    if (strcmp(obj->u.object.keys[i], key) == 0)
      return YAJL_IS_NULL(obj->u.object.values[i]) ? NULL : obj->u.object.values[i];
  return NULL;
}

const char *json_type_name(yajl_val v) {
  switch (v->type) {
  case yajl_t_string:
    return "a string";
  case yajl_t_number:
    return "a number";
  case yajl_t_object:
    return "an object";
  case yajl_t_array:
    return "an array";
  case yajl_t_true:
  case yajl_t_false:
    return "a boolean";
  default:
    return "null";
  }
}

int json_val_string(struct json_ctx *c, yajl_val v, char **out) {
  if (!YAJL_IS_STRING(v))
    return json_bad(c, "expected a string, not %s", json_type_name(v));
  free(*out);
  *out = xstrdup(v->u.string);
  return 0;
}

int json_val_strv(struct json_ctx *c, yajl_val v, char ***out) {
  if (!YAJL_IS_ARRAY(v))
    return json_bad(c, "expected an array of strings, not %s", json_type_name(v));
  for (size_t i = 0; i < v->u.array.len; i++)
    if (!YAJL_IS_STRING(v->u.array.values[i])) {
      size_t saved = json_push_index(c, i);
      int r = json_bad(c, "expected a string, not %s", json_type_name(v->u.array.values[i]));
      json_pop(c, saved);
      return r;
    }
  char **strv = xcalloc(v->u.array.len + 1, sizeof(char *));
  for (size_t i = 0; i < v->u.array.len; i++)
    strv[i] = xstrdup(v->u.array.values[i]->u.string);
  strv_free(*out);
  *out = strv;
  return 0;
}

int json_val_bool(struct json_ctx *c, yajl_val v, bool *out) {
  if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
    return json_bad(c, "expected true or false, not %s", json_type_name(v));
  *out = YAJL_IS_TRUE(v);
  return 0;
}

/* Numbers are read from yajl's raw text: values above INT64_MAX (seccomp
 * argument masks, RLIM_INFINITY) do not fit its integer field. */
int json_val_u64(struct json_ctx *c, yajl_val v, uint64_t max, uint64_t *out) {
  if (!YAJL_IS_NUMBER(v))
    return json_bad(c, "expected a non-negative integer, not %s", json_type_name(v));
  const char *raw = v->u.number.r;
  unsigned long long n;
  if (raw[0] == '-')
    return json_bad(c, "expected a non-negative integer, not %s", raw);
  if (!parse_u64(raw, &n)) {
    if (strspn(raw, "0123456789") == strlen(raw))
      return json_bad(c, "%s is out of range (0 to %llu)", raw, (unsigned long long)max);
    return json_bad(c, "expected a non-negative integer, not %s", raw);
  }
  if (n > max)
    return json_bad(c, "%s is out of range (0 to %llu)", raw, (unsigned long long)max);
  *out = n;
  return 0;
}

int json_val_u32(struct json_ctx *c, yajl_val v, uint32_t *out) {
  uint64_t n;
  int r = json_val_u64(c, v, UINT32_MAX, &n);
  if (r < 0)
    return r;
  *out = (uint32_t)n;
  return 0;
}

int json_val_i64(struct json_ctx *c, yajl_val v, int64_t min, int64_t max, int64_t *out) {
  if (!YAJL_IS_NUMBER(v))
    return json_bad(c, "expected an integer, not %s", json_type_name(v));
  const char *raw = v->u.number.r;
  long long n;
  if (!parse_i64(raw, &n)) {
    if (strspn(raw + (raw[0] == '-'), "0123456789") == strlen(raw + (raw[0] == '-')))
      return json_bad(c, "%s is out of range (%lld to %lld)", raw, (long long)min, (long long)max);
    return json_bad(c, "expected an integer, not %s", raw);
  }
  if (n < min || n > max)
    return json_bad(c, "%s is out of range (%lld to %lld)", raw, (long long)min, (long long)max);
  *out = n;
  return 0;
}

int json_val_int(struct json_ctx *c, yajl_val v, int *out) {
  int64_t n;
  int r = json_val_i64(c, v, INT_MIN, INT_MAX, &n);
  if (r < 0)
    return r;
  *out = (int)n;
  return 0;
}

int json_val_object(struct json_ctx *c, yajl_val v) {
  if (!YAJL_IS_OBJECT(v))
    return json_bad(c, "expected an object, not %s", json_type_name(v));
  return 0;
}

int json_val_array(struct json_ctx *c, yajl_val v) {
  if (!YAJL_IS_ARRAY(v))
    return json_bad(c, "expected an array, not %s", json_type_name(v));
  return 0;
}

#define DEFINE_OPT(name, ctype, call)                                                              \
  int json_opt_##name(struct json_ctx *c, yajl_val obj, const char *key, ctype out) {              \
    yajl_val v = json_get(obj, key);                                                               \
    if (!v)                                                                                        \
      return 0;                                                                                    \
    size_t saved = json_push_key(c, key);                                                          \
    int r = call;                                                                                  \
    json_pop(c, saved);                                                                            \
    return r < 0 ? r : 1;                                                                          \
  }
DEFINE_OPT(string, char **, json_val_string(c, v, out))
DEFINE_OPT(strv, char ***, json_val_strv(c, v, out))
DEFINE_OPT(bool, bool *, json_val_bool(c, v, out))
DEFINE_OPT(u32, uint32_t *, json_val_u32(c, v, out))
DEFINE_OPT(u64, uint64_t *, json_val_u64(c, v, UINT64_MAX, out))
DEFINE_OPT(int, int *, json_val_int(c, v, out))
#undef DEFINE_OPT

/* Required variants: absent is an error naming the key. */
int json_req_string(struct json_ctx *c, yajl_val obj, const char *key, char **out) {
  int r = json_opt_string(c, obj, key, out);
  return r == 0 ? json_missing(c, key) : r;
}
int json_req_u32(struct json_ctx *c, yajl_val obj, const char *key, uint32_t *out) {
  int r = json_opt_u32(c, obj, key, out);
  return r == 0 ? json_missing(c, key) : r;
}
int json_req_u64(struct json_ctx *c, yajl_val obj, const char *key, uint64_t *out) {
  int r = json_opt_u64(c, obj, key, out);
  return r == 0 ? json_missing(c, key) : r;
}

/* Looks up an object-valued key; NULL when absent, error on another type. */
int json_opt_object(struct json_ctx *c, yajl_val obj, const char *key, yajl_val *out) {
  *out = json_get(obj, key);
  if (!*out)
    return 0;
  size_t saved = json_push_key(c, key);
  int r = json_val_object(c, *out);
  json_pop(c, saved);
  return r < 0 ? r : 1;
}

int json_opt_array(struct json_ctx *c, yajl_val obj, const char *key, yajl_val *out) {
  *out = json_get(obj, key);
  if (!*out)
    return 0;
  size_t saved = json_push_key(c, key);
  int r = json_val_array(c, *out);
  json_pop(c, saved);
  return r < 0 ? r : 1;
}

/* A JSON object of strings ("annotations", "sysctl"). */
int json_opt_string_map(struct json_ctx *c, yajl_val obj, const char *key, struct spec_kv **out,
                        size_t *n_out) {
  yajl_val map;
  int r = json_opt_object(c, obj, key, &map);
  if (r <= 0)
    return r;
  size_t saved = json_push_key(c, key);
  size_t n = map->u.object.len;
  struct spec_kv *kv = xcalloc(n, sizeof(*kv));
  for (size_t i = 0; i < n; i++) {
    yajl_val v = map->u.object.values[i];
    kv[i].key = xstrdup(map->u.object.keys[i]);
    if (YAJL_IS_NULL(v)) {
      kv[i].value = xstrdup("");
      continue;
    }
    size_t s2 = json_push_key(c, map->u.object.keys[i]);
    r = json_val_string(c, v, &kv[i].value);
    json_pop(c, s2);
    if (r < 0) {
      for (size_t j = 0; j <= i; j++) {
        free(kv[j].key);
        free(kv[j].value);
      }
      free(kv);
      json_pop(c, saved);
      return r;
    }
  }
  json_pop(c, saved);
  *out = kv;
  *n_out = n;
  return 1;
}

/* Items are zeroed structs of item_size; the array is handed out before
 * they are parsed so the caller's free routine sees any item filled before a
 * failure. */

int json_opt_items(struct json_ctx *c, yajl_val obj, const char *key, json_item_fn parse_item,
                   size_t item_size, void **out, size_t *n_out) {
  yajl_val arr;
  int r = json_opt_array(c, obj, key, &arr);
  if (r <= 0)
    return r;
  size_t saved = json_push_key(c, key);
  size_t n = arr->u.array.len;
  char *items = xcalloc(n, item_size);
  /* Hand the array out first so the caller's free routine sees any item
   * filled before a failure. */
  *out = items;
  *n_out = n;
  for (size_t i = 0; i < n; i++) {
    size_t s2 = json_push_index(c, i);
    r = json_val_object(c, arr->u.array.values[i]);
    if (r >= 0)
      r = parse_item(c, arr->u.array.values[i], items + i * item_size);
    json_pop(c, s2);
    if (r < 0) {
      json_pop(c, saved);
      return r;
    }
  }
  json_pop(c, saved);
  return 1;
}

/* yajl's tree error spans several lines and has no line number; a second,
 * validating pass finds where the text went wrong. */
int json_error(nook_error *err, const char *file, const char *json, const char *tree_msg) {
  size_t len = strlen(json);
  yajl_handle h = yajl_alloc(NULL, NULL, NULL);
  yajl_config(h, yajl_allow_comments, 1);
  yajl_status st = yajl_parse(h, (const unsigned char *)json, len);
  size_t offset = len;
  if (st == yajl_status_ok)
    st = yajl_complete_parse(h);
  else
    offset = yajl_get_bytes_consumed(h);
  char msg[512];
  if (st != yajl_status_ok) {
    unsigned char *e = yajl_get_error(h, 0, (const unsigned char *)json, len);
    snprintf(msg, sizeof(msg), "%s", (const char *)e);
    yajl_free_error(h, e);
  } else {
    snprintf(msg, sizeof(msg), "%s", tree_msg && tree_msg[0] ? tree_msg : "parse error");
  }
  yajl_free(h);
  msg[strcspn(msg, "\n")] = '\0';
  const char *text = str_has_prefix(msg, "parse error: ") ? msg + strlen("parse error: ") : msg;
  if (offset > len)
    offset = len;
  size_t line = 1;
  for (size_t i = 0; i < offset; i++)
    line += json[i] == '\n';
  return nook_errx(err, EINVAL, "%s%sinvalid JSON at line %zu: %s", file ? file : "",
                   file ? ": " : "", line, text);
}

yajl_val json_parse_tree(const char *json, const char *file, nook_error *err) {
  char tree_msg[1024] = "";
  yajl_val doc = yajl_tree_parse(json, tree_msg, sizeof(tree_msg));
  if (!doc)
    json_error(err, file, json, tree_msg);
  return doc;
}
