/* The image store, read side: what the runtime core needs to find an image
 * and its layers at container start. Layout under the store root
 * ($NOOK_STORAGE, else $XDG_DATA_HOME/nook/storage, else
 * ~/.local/share/nook/storage):
 *
 *   lock                   flock: shared for readers, exclusive for commits
 *   blobs/sha256/HEX       content-addressed blobs, verified before renamed in
 *   layers/DIFFID/diff     an unpacked layer; the dir appears by rename only
 *                          once complete, so its presence means trusted
 *   images/ID.json         one image: names, manifest, config, layer list
 *   names.json             name -> image id
 *   containers/ID/         per-container upper and work dirs
 *   tmp/W/ + tmp/W.lock    a writer's scratch; W.lock is flocked while it
 *                          lives, so a later writer removes dead ones
 *
 * Files inside layers are owned by the user's subordinate ids, so removing
 * them happens inside a user namespace (store_rm_rf_in_userns). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct store_image {
  char *id;              /* hex of the config digest */
  char **names;          /* NULL-terminated, may be empty */
  char *manifest_digest; /* "sha256:..." */
  char *config_digest;
  char **layers;         /* diff ids (hex), bottom layer first */
  char *created;         /* from the config, may be NULL */
  uint64_t size;         /* bytes of the compressed layers */
};

struct image_config {
  char **env;        /* "K=V" */
  char **cmd;
  char **entrypoint;
  char *working_dir;
  char *user;
  char **exposed_ports; /* "80/tcp" */
  char **volumes;
  char *os;
  char *architecture;
};

/* malloc'd store root; override first (NULL for none), then $NOOK_STORAGE,
 * $XDG_DATA_HOME, $HOME. */
char *store_root(const char *override);

/* Takes the store-wide lock (creating the store's dirs); *fd holds it until
 * closed. */
int store_lock(const char *root, bool exclusive, int *fd, nook_error *err);

void store_image_free(struct store_image *img);
void image_config_free(struct image_config *cfg);

int store_image_load(const char *root, const char *id, struct store_image *img, nook_error *err);
/* Finds an image by name ("name:tag", or short forms: a missing tag means
 * latest, and "test:1" finds "host:5000/test:1"), by id or by an id prefix of
 * at least 4 hex digits. -ENOENT with a one-line error when none matches. */
int store_find_image(const char *root, const char *ref, struct store_image *img, nook_error *err);
/* Lists the ids of every image (NULL-terminated). */
int store_list_images(const char *root, char ***ids, nook_error *err);

/* Reads and parses the image's config blob. */
int store_image_config(const char *root, const struct store_image *img, struct image_config *cfg,
                       nook_error *err);
int image_config_parse(const char *json, size_t len, struct image_config *cfg, nook_error *err);

/* Removes dir/name recursively from inside a user namespace with the user's
 * subordinate ids mapped, where files unpacked for other ids are ours to
 * delete. Missing is fine. */
int store_rm_rf_in_userns(const char *dir, const char *name, nook_error *err);

/* Forks a child in a new user namespace (the rootless maps written by the
 * parent) that runs fn(arg) and exits with its result; the child's error
 * message comes back to the parent's err. extra_flags may add CLONE_NEWNS. */
int store_run_in_userns(int (*fn)(void *arg, nook_error *err), void *arg, int extra_flags,
                        nook_error *err);

/* The same in two steps, so that several children can run at once. */
struct store_userns_child {
  pid_t pid;
  int msg_fd;
};
int store_userns_start(int (*fn)(void *arg, nook_error *err), void *arg, int extra_flags,
                       struct store_userns_child *child, nook_error *err);
int store_userns_wait(struct store_userns_child *child, nook_error *err);

/* Normalizes a user-given reference to the stored form: a tag defaults to
 * latest. Returns malloc'd. */
char *store_normalize_name(const char *ref);
/* The name of img that ref means (an exact name, else one ending in /ref),
 * or NULL when ref does not name it (an id). */
const char *store_image_name_of(const struct store_image *img, const char *ref);
