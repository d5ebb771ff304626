/* `nook check`: what this host gives a rootless runtime, one item at a time,
 * each found by trying it for real where that is possible (a user namespace
 * is created, an overlay mounted, the user bus spoken to), with the fix for
 * whatever is missing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum hostcheck_status { HOSTCHECK_OK, HOSTCHECK_WARNING, HOSTCHECK_MISSING };

struct hostcheck_item {
  char *item;   /* what was examined: "user namespaces", "/dev/fuse", ... */
  enum hostcheck_status status;
  char *detail; /* what was found */
  char *fix;    /* what to do about it; NULL when ok */
};

struct hostcheck_report {
  struct hostcheck_item *items;
  size_t n;
  /* Containers can run: user namespaces work, ids can be mapped (subordinate
   * ranges through the helpers, or the single-id fallback), and there is a
   * writable directory for the state (XDG_RUNTIME_DIR or /tmp). */
  bool can_run;
};

const char *hostcheck_status_name(enum hostcheck_status s);

/* Examines the host. Never fails: what cannot be examined is an item too. */
void hostcheck_run(struct hostcheck_report *rep);
void hostcheck_report_free(struct hostcheck_report *rep);

/* Probes that need a child process (hostcheck-probe.c). Each returns 0 when
 * it worked, else a negative errno with a one-line reason in why. */
int hostcheck_probe_userns(const char *dir, char *why, size_t whylen);
int hostcheck_probe_overlay(const char *dir, char *why, size_t whylen);
/* Maps a child's user namespace as nook does (idmap_setup_rootless) and
 * reports how many uids were mapped. */
int hostcheck_probe_idmap(unsigned long *uids, bool *single_id, char *why, size_t whylen);
/* Connects to the D-Bus user bus and authenticates (SASL EXTERNAL); *where
 * is the socket tried (malloc'd). */
int hostcheck_probe_user_bus(char **where, char *why, size_t whylen);
/* Runs argv (found on PATH) with stdout captured and a time limit; returns
 * its exit status, or a negative errno when it could not run. */
int hostcheck_run_capture(char *const argv[], char **out, int timeout_ms);
