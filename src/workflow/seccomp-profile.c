/* podman's default seccomp profile ships in containers-common's form: rules
 * carry includes/excludes on capabilities and architectures, and archMap
 * lists architectures with their sub-architectures. A runtime takes the OCI
 * form, so launch resolves it as podman does before handing it over (the
 * same as bench/podman-default-seccomp.jq). An OCI profile passes through
 * with only its comments dropped. */
#include <fcntl.h>
#include <string.h>
#include <sys/utsname.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "spec-json.h"
#include "util.h"
#include "workflow.h"

static void gen_str(yajl_gen g, const char *s) {
  yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_value(yajl_gen g, yajl_val v) {
  if (YAJL_IS_STRING(v)) {
    gen_str(g, YAJL_GET_STRING(v));
  } else if (YAJL_IS_NUMBER(v)) {
    const char *t = YAJL_GET_NUMBER(v);
    yajl_gen_number(g, t, strlen(t));
  } else if (YAJL_IS_TRUE(v)) {
    yajl_gen_bool(g, 1);
  } else if (YAJL_IS_FALSE(v)) {
    yajl_gen_bool(g, 0);
  } else if (YAJL_IS_OBJECT(v)) {
    yajl_gen_map_open(g);
    for (size_t i = 0; i < v->u.object.len; i++) {
      gen_str(g, v->u.object.keys[i]);
      gen_value(g, v->u.object.values[i]);
    }
    yajl_gen_map_close(g);
  } else if (YAJL_IS_ARRAY(v)) {
    yajl_gen_array_open(g);
    for (size_t i = 0; i < v->u.array.len; i++)
      gen_value(g, v->u.array.values[i]);
    yajl_gen_array_close(g);
  } else {
    yajl_gen_null(g);
  }
}

static yajl_val get(yajl_val obj, const char *key, yajl_type t) {
  const char *path[] = {key, NULL};
  return obj ? yajl_tree_get(obj, path, t) : NULL;
}

static const char *str_of(yajl_val v) {
  const char *s = YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
  return s ? s : "";
}

static bool has_cap(char *const *caps, const char *cap) {
  return strv_contains(caps, cap);
}

/* Go's name for this machine's architecture, as includes.arches uses. */
static const char *go_arch(void) {
  static struct utsname u;
  uname(&u);
  if (!strcmp(u.machine, "x86_64"))
    return "amd64";
  if (!strcmp(u.machine, "aarch64"))
    return "arm64";
  if (str_has_prefix(u.machine, "arm"))
    return "arm";
  if (!strcmp(u.machine, "i686") || !strcmp(u.machine, "i386"))
    return "386";
  return u.machine;
}

static const char *seccomp_arch(void) {
  struct utsname u;
  uname(&u);
  if (!strcmp(u.machine, "x86_64"))
    return "SCMP_ARCH_X86_64";
  if (!strcmp(u.machine, "aarch64"))
    return "SCMP_ARCH_AARCH64";
  return NULL;
}

static bool rule_applies(yajl_val rule, char *const *caps) {
  yajl_val inc = get(rule, "includes", yajl_t_object);
  yajl_val exc = get(rule, "excludes", yajl_t_object);
  yajl_val v;
  if ((v = get(inc, "caps", yajl_t_array)))
    for (size_t i = 0; i < v->u.array.len; i++)
      if (!YAJL_IS_STRING(v->u.array.values[i]) ||
          !has_cap(caps, str_of(v->u.array.values[i])))
        return false;
  if ((v = get(inc, "arches", yajl_t_array)) && v->u.array.len) {
    bool found = false;
    for (size_t i = 0; i < v->u.array.len; i++)
      if (YAJL_IS_STRING(v->u.array.values[i]) &&
          !strcmp(str_of(v->u.array.values[i]), go_arch()))
        found = true;
    if (!found)
      return false;
  }
  if ((v = get(exc, "caps", yajl_t_array)))
    for (size_t i = 0; i < v->u.array.len; i++)
      if (YAJL_IS_STRING(v->u.array.values[i]) &&
          has_cap(caps, str_of(v->u.array.values[i])))
        return false;
  if ((v = get(exc, "arches", yajl_t_array)))
    for (size_t i = 0; i < v->u.array.len; i++)
      if (YAJL_IS_STRING(v->u.array.values[i]) &&
          !strcmp(str_of(v->u.array.values[i]), go_arch()))
        return false;
  return true;
}

static void gen_architectures(yajl_gen g, yajl_val profile) {
  yajl_val archs = get(profile, "architectures", yajl_t_array);
  gen_str(g, "architectures");
  if (archs) {
    gen_value(g, archs);
    return;
  }
  yajl_gen_array_open(g);
  const char *mine = seccomp_arch();
  yajl_val map = get(profile, "archMap", yajl_t_array);
  for (size_t i = 0; mine && map && i < map->u.array.len; i++) {
    yajl_val entry = map->u.array.values[i];
    yajl_val a = get(entry, "architecture", yajl_t_string);
    if (!a || strcmp(str_of(a), mine))
      continue;
    gen_str(g, mine);
    yajl_val subs = get(entry, "subArchitectures", yajl_t_array);
    for (size_t j = 0; subs && j < subs->u.array.len; j++)
      gen_value(g, subs->u.array.values[j]);
  }
  yajl_gen_array_close(g);
}

int seccomp_profile_gen(struct yajl_gen_t *g, const char *path, char *const *caps,
                        nook_error *err) {
  _cleanup_free_ char *text = NULL;
  int r = read_file_at(AT_FDCWD, path, &text, NULL, err);
  if (r < 0)
    return nook_err_prefix(err, r, "seccomp profile");
  _cleanup_free_ char *what = xasprintf("seccomp profile `%s`", path);
  yajl_val profile = json_parse_tree(text, what, err);
  if (!profile)
    return -EINVAL;
  if (!YAJL_IS_OBJECT(profile)) {
    yajl_tree_free(profile);
    return nook_errx(err, EINVAL, "%s is not a JSON object", what);
  }
  yajl_gen_map_open(g);
  for (size_t i = 0; i < profile->u.object.len; i++) {
    const char *key = profile->u.object.keys[i];
    yajl_val v = profile->u.object.values[i];
    if (!strcmp(key, "archMap") || !strcmp(key, "architectures") || !strcmp(key, "comment") || !strcmp(key, "defaultErrno") ||
        !strcmp(key, "syscalls"))
      continue;
    gen_str(g, key);
    gen_value(g, v);
  }
  gen_architectures(g, profile);
  gen_str(g, "syscalls");
  yajl_gen_array_open(g);
  yajl_val rules = get(profile, "syscalls", yajl_t_array);
  for (size_t i = 0; rules && i < rules->u.array.len; i++) {
    yajl_val rule = rules->u.array.values[i];
    if (!YAJL_IS_OBJECT(rule) || !rule_applies(rule, caps))
      continue;
    yajl_gen_map_open(g);
    for (size_t k = 0; k < rule->u.object.len; k++) {
      const char *key = rule->u.object.keys[k];
      if (!strcmp(key, "includes") || !strcmp(key, "excludes") || !strcmp(key, "comment"))
        continue;
      gen_str(g, key);
      gen_value(g, rule->u.object.values[k]);
    }
    yajl_gen_map_close(g);
  }
  yajl_gen_array_close(g);
  yajl_gen_map_close(g);
  yajl_tree_free(profile);
  return 0;
}
