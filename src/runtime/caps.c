#include "caps.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "log.h"
#include "util.h"

int caps_parse_name(const char *name, cap_value_t *out) {
  if (!name || !*name)
    return -EINVAL;
  /* cap_from_name also takes numbers; config files use names only. */
  const char *bare = strncasecmp(name, "CAP_", 4) == 0 ? name + 4 : name;
  if (!*bare || isdigit((unsigned char)*bare))
    return -EINVAL;
  char full[64];
  if (snprintf(full, sizeof(full), "CAP_%s", bare) >= (int)sizeof(full))
    return -EINVAL;
  cap_value_t v;
  if (cap_from_name(full, &v) < 0 || v < 0 || v > 63)
    return -EINVAL;
  *out = v;
  return 0;
}

int caps_last_cap(void) {
  static int last = -1;
  if (last >= 0)
    return last;
  char buf[16] = "";
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
  }
  unsigned long long v;
  char *nl = strchr(buf, '\n');
  if (nl)
    *nl = '\0';
  if (parse_u64(buf, &v) && v < 64) {
    last = (int)v;
  } else {
    /* No /proc (early in a new mount namespace): ask the kernel bit by bit. */
    last = 0;
    while (last < 63 && prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0)
      last++;
  }
  return last;
}

static int parse_list(char *const *names, const char *field, uint64_t *mask, nook_error *err) {
  int last = caps_last_cap();
  *mask = 0;
  for (size_t i = 0; names && names[i]; i++) {
    cap_value_t v;
    if (caps_parse_name(names[i], &v) < 0)
      return nook_errx(err, EINVAL, "%s: unknown capability `%s` (names such as CAP_CHOWN)",
                       field, names[i]);
    if (v > last) {
      nook_debug("%s: skipping %s, unknown to this kernel", field, names[i]);
      continue;
    }
    *mask |= 1ULL << v;
  }
  return 0;
}

static const char *cap_name_of(int cap, char *buf, size_t size) {
  char *n = cap_to_name(cap);
  snprintf(buf, size, "%s", n ? n : "?");
  cap_free(n);
  for (char *p = buf; *p; p++)
    *p = toupper((unsigned char)*p);
  return buf;
}

/* The name of the lowest capability in `extra`, for messages. */
static const char *first_cap_name(uint64_t extra, char *buf, size_t size) {
  return cap_name_of(__builtin_ctzll(extra), buf, size);
}

int caps_parse(const struct spec_capabilities *c, struct caps_masks *out, nook_error *err) {
  int r;
  *out = (struct caps_masks){0};
  if ((r = parse_list(c->bounding, "process.capabilities.bounding", &out->bounding, err)) < 0 ||
      (r = parse_list(c->effective, "process.capabilities.effective", &out->effective, err)) < 0 ||
      (r = parse_list(c->inheritable, "process.capabilities.inheritable", &out->inheritable,
                      err)) < 0 ||
      (r = parse_list(c->permitted, "process.capabilities.permitted", &out->permitted, err)) < 0 ||
      (r = parse_list(c->ambient, "process.capabilities.ambient", &out->ambient, err)) < 0)
    return r;

  char name[64];
  uint64_t extra = out->effective & ~out->permitted;
  if (extra)
    return nook_errx(err, EINVAL,
                     "process.capabilities.effective: %s is not in permitted (add it there too)",
                     first_cap_name(extra, name, sizeof(name)));
  extra = out->ambient & ~(out->permitted & out->inheritable);
  if (extra)
    return nook_errx(err, EINVAL,
                     "process.capabilities.ambient: %s must also be in permitted and inheritable",
                     first_cap_name(extra, name, sizeof(name)));
  return 0;
}

int caps_apply_bounding(const struct caps_masks *m, nook_error *err) {
  int last = caps_last_cap();
  for (int cap = 0; cap <= last; cap++) {
    if (m->bounding & (1ULL << cap))
      continue;
    int in_set = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (in_set <= 0)
      continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      char name[64];
      return nook_err(err, errno, "drop %s from the bounding set (needs CAP_SETPCAP)",
                      cap_name_of(cap, name, sizeof(name)));
    }
  }
  return 0;
}

static void cap_freep(cap_t *c) {
  if (*c)
    cap_free(*c);
}

static int set_flag_mask(cap_t c, cap_flag_t flag, uint64_t mask) {
  for (int cap = 0; cap < 64; cap++) {
    if (!(mask & (1ULL << cap)))
      continue;
    cap_value_t v = cap;
    if (cap_set_flag(c, flag, 1, &v, CAP_SET) < 0)
      return -errno;
  }
  return 0;
}

int caps_raise_effective(nook_error *err) {
  __attribute__((cleanup(cap_freep))) cap_t cur = cap_get_proc();
  if (!cur)
    return nook_err(err, errno, "read the process capabilities");
  if (cap_fill(cur, CAP_EFFECTIVE, CAP_PERMITTED) < 0 || cap_set_proc(cur) < 0)
    return nook_err(err, errno, "make the permitted capabilities effective");
  return 0;
}

int caps_apply_sets(const struct caps_masks *m, nook_error *err) {
  /* Raising inheritable beyond the permitted set needs CAP_SETPCAP in the
   * effective set, which a change of uid has cleared: make the permitted set
   * effective first, then set the wanted sets in one capset. */
  int r = caps_raise_effective(err);
  if (r < 0)
    return r;

  __attribute__((cleanup(cap_freep))) cap_t want = cap_init();
  if (!want)
    return nook_err(err, errno, "allocate a capability set");
  if ((r = set_flag_mask(want, CAP_INHERITABLE, m->inheritable)) < 0 ||
      (r = set_flag_mask(want, CAP_PERMITTED, m->permitted)) < 0 ||
      (r = set_flag_mask(want, CAP_EFFECTIVE, m->effective)) < 0)
    return nook_err(err, -r, "build the capability sets");
  if (cap_set_proc(want) < 0)
    return nook_err(err, errno,
                    "set the inheritable, permitted and effective capabilities (permitted "
                    "can only keep capabilities the runtime has)");

  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
    if (m->ambient)
      return nook_err(err, errno, "clear the ambient capabilities");
    return 0; /* a kernel without ambient capabilities, and none wanted */
  }
  for (int cap = 0; cap < 64; cap++) {
    if (!(m->ambient & (1ULL << cap)))
      continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) {
      char name[64];
      return nook_err(err, errno, "raise ambient capability %s",
                      cap_name_of(cap, name, sizeof(name)));
    }
  }
  return 0;
}

int caps_apply(const struct spec_capabilities *c, nook_error *err) {
  struct caps_masks m;
  int r;
  if ((r = caps_parse(c, &m, err)) < 0 || (r = caps_apply_bounding(&m, err)) < 0)
    return r;
  return caps_apply_sets(&m, err);
}

int caps_keep_for_setuid(bool keep, nook_error *err) {
  if (prctl(PR_SET_KEEPCAPS, keep ? 1 : 0, 0, 0, 0) < 0)
    return nook_err(err, errno, "prctl(PR_SET_KEEPCAPS, %d)", keep ? 1 : 0);
  return 0;
}
