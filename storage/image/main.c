/* nook-image: the image store's helper executable, run by `nook image`.
 * It links libarchive, libcurl and libcrypto so that nook itself does not. */
#include <ctype.h>
#include <fnmatch.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "image.h"
#include "log.h"
#include "util.h"

static const char usage[] =
    "Usage: nook image [--storage-root DIR] COMMAND [ARGS]\n\n"
    "Commands:\n"
    "  import PATH|- [NAME[:TAG]]\n"
    "                   import an OCI layout dir (DIR or DIR:REF), an oci-archive or\n"
    "                   a docker-archive (-: the archive from stdin)\n"
    "  pull [-q|--quiet] [--tls-verify=false] REF\n"
    "                   pull an image from a registry\n"
    "  list [-q|--quiet] [--format table|json] [NAME]\n"
    "                   list the images (NAME: a name, glob or id prefix)\n"
    "  inspect NAME...  print images' records and configs as JSON\n"
    "  tag NAME TARGET...\n"
    "                   give an image more names\n"
    "  save [-q|--quiet] [--format oci-archive|docker-archive]\n"
    "       [-o|--output FILE] NAME\n"
    "                   write an image to an archive (stdout without -o)\n"
    "  rm [-f|--force] NAME...\n"
    "                   remove images (and the layers no other image uses);\n"
    "                   with -f the containers using them too\n"
    "  prune [-a|--all] remove images without a name (-a: every image no container\n"
    "                   uses) and the layers and blobs no image uses\n\n"
    "The store is $NOOK_STORAGE, else $XDG_DATA_HOME/nook/storage.\n";

static int open_ctx(struct image_ctx *ctx, const char *root, bool exclusive, nook_error *err) {
  int r = image_ctx_open(ctx, root, exclusive, err);
  if (r == 0)
    image_ctx_clean_stale(ctx);
  return r;
}

/* [HOST[:PORT]/]PATH[:TAG] as docker writes it: PATH in lowercase (what
 * launch and completion take as one word), a TAG of up to 128 characters. */
static bool valid_image_name(const char *name) {
  static const char path_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789._-/";
  static const char tag_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789._-";
  const char *slash = strchr(name, '/');
  const char *path = name;
  if (slash && (memchr(name, '.', (size_t)(slash - name)) ||
                memchr(name, ':', (size_t)(slash - name)) || str_has_prefix(name, "localhost/"))) {
    size_t host_len = (size_t)(slash - name);
    for (size_t i = 0; i < host_len; i++)
      if (!isalnum((unsigned char)name[i]) && !strchr(".-:", name[i]))
        return false;
    path = slash + 1;
  }
  const char *colon = strrchr(path, ':');
  size_t path_len = colon ? (size_t)(colon - path) : strlen(path);
  if (colon) {
    const char *tag = colon + 1;
    size_t tag_len = strlen(tag);
    if (tag_len == 0 || tag_len > 128 || tag[0] == '.' || tag[0] == '-' ||
        strspn(tag, tag_chars) != tag_len)
      return false;
  }
  if (path_len == 0 || path[0] == '/' || path[path_len - 1] == '/' ||
      !isalnum((unsigned char)path[0]))
    return false;
  for (size_t i = 0; i < path_len; i++)
    if (!strchr(path_chars, path[i]) || (path[i] == '/' && path[i + 1] == '/'))
      return false;
  return true;
}

static int check_image_name(const char *cmd, const char *name, nook_error *err) {
  if (valid_image_name(name))
    return 0;
  return nook_errx(err, EINVAL, "image %s: `%s` is not an image name: write [HOST/]NAME[:TAG], "
                                "NAME in lowercase letters, digits and . _ - /", cmd, name);
}

static int cmd_import(const char *root, int argc, char **argv, nook_error *err) {
  if (argc >= 2 && argv[1][0] == '-' && argv[1][1])
    return nook_errx(err, EINVAL, "image import: unknown option `%s` (see 'nook image --help')",
                     argv[1]);
  if (argc < 2 || argc > 3)
    return nook_errx(err, EINVAL, "image import: expected PATH [NAME[:TAG]] (see 'nook image "
                                  "--help')");
  if (argc > 2 && check_image_name("import", argv[2], err) < 0)
    return -EINVAL;
  if (!strcmp(argv[1], "-") && isatty(STDIN_FILENO))
    return nook_errx(err, EINVAL, "image import -: stdin is a terminal: pipe an archive in "
                                  "(docker save IMAGE | nook image import -)");
  struct image_ctx ctx;
  int r = open_ctx(&ctx, root, false, err);
  if (r == 0)
    r = image_import(&ctx, argv[1], argc > 2 ? argv[2] : NULL, err);
  image_ctx_close(&ctx);
  return r;
}

static int cmd_pull(const char *root, int argc, char **argv, nook_error *err) {
  bool tls_verify = true;
  static const struct option opts[] = {{"tls-verify", optional_argument, NULL, 't'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {0}};
  bool quiet = false;
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+q", opts, NULL)) != -1) {
    if (c == 't') {
      if (!optarg || !strcmp(optarg, "true"))
        tls_verify = true;
      else if (!strcmp(optarg, "false"))
        tls_verify = false;
      else
        return nook_errx(err, EINVAL, "image pull: --tls-verify takes true or false");
    } else if (c == 'q') {
      quiet = true;
    } else {
      return nook_errx(err, EINVAL, "image pull: unknown option `%s`", argv[optind - 1]);
    }
  }
  if (argc - optind != 1)
    return nook_errx(err, EINVAL, "image pull: expected one image reference");
  struct image_ctx ctx;
  int r = open_ctx(&ctx, root, false, err);
  ctx.quiet = quiet;
  if (r == 0)
    r = image_pull(&ctx, argv[optind], tls_verify, err);
  image_ctx_close(&ctx);
  return r;
}

static void gen_tree(yajl_gen g, yajl_val v) {
  if (YAJL_IS_OBJECT(v)) {
    yajl_gen_map_open(g);
    for (size_t i = 0; i < v->u.object.len; i++) {
      gen_str(g, v->u.object.keys[i]);
      gen_tree(g, v->u.object.values[i]);
    }
    yajl_gen_map_close(g);
  } else if (YAJL_IS_ARRAY(v)) {
    yajl_gen_array_open(g);
    for (size_t i = 0; i < v->u.array.len; i++)
      gen_tree(g, v->u.array.values[i]);
    yajl_gen_array_close(g);
  } else if (YAJL_IS_STRING(v)) {
    gen_str(g, YAJL_GET_STRING(v));
  } else if (YAJL_IS_NUMBER(v)) {
    yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
  } else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
    yajl_gen_bool(g, YAJL_IS_TRUE(v));
  } else {
    yajl_gen_null(g);
  }
}

static void gen_image(yajl_gen g, const char *root, const struct store_image *img,
                      bool with_config) {
  yajl_gen_map_open(g);
  gen_str(g, "Id");
  gen_str(g, img->id);
  gen_str(g, "Names");
  yajl_gen_array_open(g);
  for (size_t i = 0; img->names[i]; i++)
    gen_str(g, img->names[i]);
  yajl_gen_array_close(g);
  gen_str(g, "Digest");
  gen_str(g, img->manifest_digest ? img->manifest_digest : "");
  gen_str(g, "ConfigDigest");
  gen_str(g, img->config_digest);
  if (img->created) {
    gen_str(g, "Created");
    gen_str(g, img->created);
  }
  gen_str(g, "Size");
  yajl_gen_integer(g, (long long)img->size);
  gen_str(g, "Layers");
  yajl_gen_array_open(g);
  for (size_t i = 0; img->layers[i]; i++) {
    _cleanup_free_ char *d = xasprintf("sha256:%s", img->layers[i]);
    gen_str(g, d);
  }
  yajl_gen_array_close(g);
  if (with_config) {
    gen_str(g, "LayerDirs");
    yajl_gen_array_open(g);
    for (size_t i = 0; img->layers[i]; i++) {
      _cleanup_free_ char *d = xasprintf("%s/layers/%s/diff", root, img->layers[i]);
      gen_str(g, d);
    }
    yajl_gen_array_close(g);
    _cleanup_free_ char *cpath = xasprintf("%s/blobs/sha256/%s", root, img->config_digest + 7);
    _cleanup_free_ char *text = NULL;
    nook_error ignore;
    _cleanup_yajl_ yajl_val cfg = NULL;
    if (read_file_at(AT_FDCWD, cpath, &text, NULL, &ignore) == 0 &&
        jparse(cpath, text, &cfg, &ignore) == 0) {
      gen_str(g, "Config");
      gen_tree(g, cfg);
    }
  }
  yajl_gen_map_close(g);
}

static void print_gen(yajl_gen g) {
  const unsigned char *buf;
  size_t len;
  yajl_gen_get_buf(g, &buf, &len);
  fwrite(buf, 1, len, stdout);
  if (len && buf[len - 1] != '\n')
    putchar('\n');
}

static void human_size(uint64_t n, char *out, size_t cap) {
  const char *units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = (double)n;
  size_t u = 0;
  while (v >= 1000 && u + 1 < ARRAY_SIZE(units)) {
    v /= 1000;
    u++;
  }
  snprintf(out, cap, u == 0 ? "%.0f %s" : "%.3g %s", v, units[u]);
}

/* The names of img that list shows for filter (all of them without one),
 * or NULL when the image does not match. A filter matches a name as inspect
 * finds it (test:1, or test for test:latest), as a glob over the name with or
 * without its tag, or the image by an id prefix. */
static char **list_matching_names(const struct store_image *img, const char *filter) {
  char **out = xcalloc(1, sizeof(char *));
  const char *id = filter && str_has_prefix(filter, "sha256:") ? filter + 7 : filter;
  bool by_id = id && strlen(id) >= 4 && strspn(id, "0123456789abcdef") == strlen(id) &&
               str_has_prefix(img->id, id);
  if (!filter || by_id) {
    for (size_t i = 0; img->names[i]; i++)
      strv_push(&out, img->names[i]);
    return out;
  }
  const char *exact = store_image_name_of(img, filter);
  for (size_t i = 0; img->names[i]; i++) {
    const char *n = img->names[i];
    _cleanup_free_ char *repo = xstrdup(n);
    char *colon = strrchr(repo, ':');
    if (colon && !strchr(colon, '/'))
      *colon = '\0';
    const char *short_repo = strrchr(repo, '/') ? strrchr(repo, '/') + 1 : repo;
    if (n == exact || fnmatch(filter, n, 0) == 0 || fnmatch(filter, repo, 0) == 0 ||
        !strcmp(filter, short_repo) || (strchr(filter, '/') && !strcmp(filter, repo)))
      strv_push(&out, n);
  }
  if (!out[0]) {
    strv_free(out);
    return NULL;
  }
  return out;
}

static int cmd_list(const char *root, int argc, char **argv, nook_error *err) {
  bool json = false;
  static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {0}};
  bool quiet = false;
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+:q", opts, NULL)) != -1) {
    if (c == ':')
      return nook_errx(err, EINVAL, "image list: `%s` needs a value (json or table)",
                       argv[optind - 1]);
    if (c == 'f' && !strcmp(optarg, "json"))
      json = true;
    else if (c == 'f' && !strcmp(optarg, "table"))
      json = false;
    else if (c == 'f')
      return nook_errx(err, EINVAL, "image list: --format: `%s` is not table or json", optarg);
    else if (c == 'q')
      quiet = true;
    else
      return nook_errx(err, EINVAL, "image list: unknown option `%s` (--format json|table, -q)",
                       argv[optind - 1]);
  }
  if (argc - optind > 1)
    return nook_errx(err, EINVAL, "image list: unexpected argument `%s`: give one NAME to list "
                                  "(see 'nook image --help')", argv[optind + 1]);
  const char *filter = optind < argc ? argv[optind] : NULL;
  int lock = -1;
  int r = store_lock(root, false, &lock, err);
  if (r < 0)
    return r;
  _cleanup_close_ int lockfd = lock;
  _cleanup_strv_ char **ids = NULL;
  r = store_list_images(root, &ids, err);
  if (r < 0)
    return r;
  yajl_gen g = yajl_gen_alloc(NULL);
  yajl_gen_config(g, yajl_gen_beautify, 1);
  yajl_gen_array_open(g);
  if (!json && !quiet)
    printf("%-48s %-14s %-22s %s\n", "NAME", "IMAGE ID", "CREATED", "SIZE");
  for (size_t i = 0; ids[i]; i++) {
    struct store_image img;
    nook_error e2;
    if (store_image_load(root, ids[i], &img, &e2) < 0) {
      nook_warn("%s", e2.msg);
      continue;
    }
    _cleanup_strv_ char **shown = list_matching_names(&img, filter);
    if (!shown) {
      store_image_free(&img);
      continue;
    }
    if (json) {
      gen_image(g, root, &img, false);
    } else if (quiet) {
      printf("%.12s\n", img.id);
    } else {
      char size[32];
      human_size(img.size, size, sizeof(size));
      char created[32] = "";
      if (img.created)
        snprintf(created, sizeof(created), "%.19s", img.created);
      /* a line per name; one <none> line for an image without a name */
      size_t rows = strv_len(shown);
      for (size_t j = 0; j < (rows ? rows : 1); j++)
        printf("%-48s %-14.12s %-22s %s\n", rows ? shown[j] : "<none>", img.id, created, size);
    }
    store_image_free(&img);
  }
  yajl_gen_array_close(g);
  if (json)
    print_gen(g);
  yajl_gen_free(g);
  return 0;
}

/* Subcommands without options: "-f" is not an image name. */
static int refuse_options(int argc, char **argv, nook_error *err) {
  for (int i = 1; i < argc; i++)
    if (argv[i][0] == '-' && argv[i][1])
      return nook_errx(err, EINVAL, "image %s: unknown option `%s` (see 'nook image --help')",
                       argv[0], argv[i]);
  return 0;
}

static int cmd_inspect(const char *root, int argc, char **argv, nook_error *err) {
  if (refuse_options(argc, argv, err) < 0)
    return -EINVAL;
  if (argc < 2)
    return nook_errx(err, EINVAL, "image inspect: expected an image name or id");
  int lock = -1;
  int r = store_lock(root, false, &lock, err);
  if (r < 0)
    return r;
  _cleanup_close_ int lockfd = lock;
  yajl_gen g = yajl_gen_alloc(NULL);
  yajl_gen_config(g, yajl_gen_beautify, 1);
  yajl_gen_array_open(g);
  for (int i = 1; i < argc && r == 0; i++) {
    struct store_image img;
    r = store_find_image(root, argv[i], &img, err);
    if (r == 0) {
      gen_image(g, root, &img, true);
      store_image_free(&img);
    }
  }
  yajl_gen_array_close(g);
  if (r == 0)
    print_gen(g);
  yajl_gen_free(g);
  return r;
}

/* Parses the subcommand's single flag (-f or -a as podman has them) and
 * refuses any other option; optind is then the first argument. */
static int parse_flag(int argc, char **argv, char letter, const char *long_name, bool *set,
                      nook_error *err) {
  const struct option opts[] = {{long_name, no_argument, NULL, letter}, {0}};
  /* no "+": podman takes `rmi NAME -f` too */
  char short_opts[2] = {letter, '\0'};
  int c;
  *set = false;
  optind = 0; /* a fresh start: the first parse was "+" */
  opterr = 0;
  while ((c = getopt_long(argc, argv, short_opts, opts, NULL)) != -1) {
    if (c != letter)
      return nook_errx(err, EINVAL, "image %s: unknown option `%s` (see 'nook image --help')",
                       argv[0], argv[optind - 1]);
    *set = true;
  }
  return 0;
}

/* nook rm -f of a container, as the nook that ran us (its --root too), on
 * this store. */
static int remove_container(const char *root, const char *id, nook_error *err) {
  const char *nook = getenv("NOOK_IMAGE_CALLER");
  _cleanup_free_ char *beside = nook && *nook ? NULL : nook_helper_path("nook");
  if (!nook || !*nook)
    nook = beside;
  if (!nook)
    return nook_errx(err, ENOENT, "image rm -f: cannot find nook to remove container `%s`: "
                                  "remove it with nook rm -f %s", id, id);
  const char *state_root = getenv("NOOK_IMAGE_CALLER_ROOT");
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    return nook_err(err, errno, "fork");
  if (pid == 0) {
    setenv("NOOK_STORAGE", root, 1);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0)
      dup2(null, STDOUT_FILENO);
    if (state_root && *state_root)
      execl(nook, "nook", "--root", state_root, "rm", "-f", id, (char *)NULL);
    else
      execl(nook, "nook", "rm", "-f", id, (char *)NULL);
    fprintf(stderr, "nook: image rm -f: run `%s`: %s\n", nook, strerror(errno));
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return nook_err(err, errno, "wait for nook rm");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return nook_errx(err, EBUSY, "image rm -f: container `%s` could not be removed (see above)",
                     id);
  fprintf(stderr, "Removed container %s\n", id);
  return 0;
}

/* rm -f: first the containers made from the images that go (not from a
 * name that only goes from its image), without the store's lock, which
 * their removal takes itself. */
static int remove_users(const char *root, int n, char **refs, nook_error *err) {
  _cleanup_strv_ char **users = xcalloc(1, sizeof(char *));
  int lockfd = -1;
  int r = store_lock(root, false, &lockfd, err);
  if (r < 0)
    return r;
  for (int i = 0; i < n && r == 0; i++) {
    struct store_image img;
    r = store_find_image(root, refs[i], &img, err);
    if (r < 0)
      break;
    if (!store_image_name_of(&img, refs[i]) || strv_len(img.names) < 2) {
      _cleanup_strv_ char **u = image_users(root, img.id);
      for (size_t j = 0; u[j]; j++)
        if (!strv_contains(users, u[j]))
          strv_push(&users, u[j]);
    }
    store_image_free(&img);
  }
  close(lockfd);
  for (size_t j = 0; r == 0 && users[j]; j++)
    r = remove_container(root, users[j], err);
  return r;
}

static int cmd_rm(const char *root, int argc, char **argv, nook_error *err) {
  bool force;
  if (parse_flag(argc, argv, 'f', "force", &force, err) < 0)
    return -EINVAL;
  int first = optind;
  if (first >= argc)
    return nook_errx(err, EINVAL, "image rm: expected image names or ids");
  int r = force ? remove_users(root, argc - first, argv + first, err) : 0;
  if (r < 0)
    return r;
  struct image_ctx ctx;
  r = open_ctx(&ctx, root, true, err);
  for (int i = first; i < argc && r == 0; i++) {
    struct store_image img;
    r = store_find_image(root, argv[i], &img, err);
    if (r < 0)
      break;
    /* One name of several goes alone: the image stays for its others. By
     * id, such an image goes with all its names only with -f, as podman
     * has it. */
    _cleanup_free_ char *untagged = NULL;
    if (!force && !store_image_name_of(&img, argv[i]) && strv_len(img.names) > 1) {
      _cleanup_free_ char *names = xstrdup(img.names[0]);
      for (size_t j = 1; img.names[j]; j++) {
        char *more = xasprintf("%s, %s", names, img.names[j]);
        free(names);
        names = more;
      }
      r = nook_errx(err, EBUSY, "image %.12s has several names (%s): remove them by name, or "
                                "use nook image rm -f %s to remove the image with all of them",
                    img.id, names, argv[i]);
    }
    if (r == 0)
      r = image_untag(&ctx, &img, argv[i], &untagged, err);
    if (r == 0 && untagged)
      printf("Untagged: %s\n", untagged);
    else if (r == 0 && (r = image_remove(&ctx, img.id, err)) == 0)
      printf("%s\n", img.id);
    store_image_free(&img);
  }
  struct gc_stats stats;
  if (r == 0)
    r = image_gc(&ctx, &stats, err);
  image_ctx_close(&ctx);
  return r;
}

static int cmd_prune(const char *root, int argc, char **argv, nook_error *err) {
  bool all;
  if (parse_flag(argc, argv, 'a', "all", &all, err) < 0)
    return -EINVAL;
  if (optind < argc)
    return nook_errx(err, EINVAL, "image prune: takes no arguments (nook image rm NAME removes "
                                  "an image)");
  struct image_ctx ctx;
  int r = open_ctx(&ctx, root, true, err);
  _cleanup_strv_ char **ids = NULL;
  if (r == 0)
    r = store_list_images(root, &ids, err);
  size_t images = 0, kept = 0;
  for (size_t i = 0; r == 0 && ids[i]; i++) {
    struct store_image img;
    nook_error e2;
    if (store_image_load(root, ids[i], &img, &e2) < 0) {
      nook_warn("%s", e2.msg);
      continue;
    }
    if (all || !img.names[0]) {
      _cleanup_strv_ char **users = image_users(root, img.id);
      if (users[0])
        kept++;
      else if ((r = image_remove(&ctx, img.id, err)) == 0) {
        printf("%s\n", img.id);
        images++;
      }
    }
    store_image_free(&img);
  }
  struct gc_stats stats;
  if (r == 0)
    r = image_gc(&ctx, &stats, err);
  image_ctx_close(&ctx);
  if (r < 0)
    return r;
  char freed[32];
  human_size(stats.bytes, freed, sizeof(freed));
  if (images || stats.layers || stats.blobs)
    fprintf(stderr, "Removed %zu image%s, %zu layer%s and %zu blob%s: %s freed\n", images,
            images == 1 ? "" : "s", stats.layers, stats.layers == 1 ? "" : "s", stats.blobs,
            stats.blobs == 1 ? "" : "s", freed);
  else
    fprintf(stderr, "Nothing to prune: every layer and blob belongs to an image%s\n",
            all ? "" : " (-a also removes the named images no container uses)");
  if (kept)
    fprintf(stderr, "Kept %zu image%s used by containers\n", kept, kept == 1 ? "" : "s");
  return 0;
}

static int cmd_tag(const char *root, int argc, char **argv, nook_error *err) {
  if (refuse_options(argc, argv, err) < 0)
    return -EINVAL;
  if (argc < 3)
    return nook_errx(err, EINVAL, "image tag: expected an image and a new name: nook image tag "
                                  "NAME TARGET[:TAG]...");
  _cleanup_strv_ char **names = xcalloc(1, sizeof(char *));
  for (int i = 2; i < argc; i++) {
    if (check_image_name("tag", argv[i], err) < 0)
      return -EINVAL;
    _cleanup_free_ char *n = store_normalize_name(argv[i]);
    strv_push(&names, n);
  }
  struct image_ctx ctx;
  int r = open_ctx(&ctx, root, false, err);
  struct store_image img = {0};
  if (r == 0)
    r = store_find_image(root, argv[1], &img, err);
  if (r == 0)
    r = image_add_names(&ctx, img.id, names, err);
  store_image_free(&img);
  image_ctx_close(&ctx);
  return r;
}

int main(int argc, char **argv) {
  nook_error err;
  nook_err_clear(&err);
  const char *root_opt = NULL;
  bool debug = getenv("NOOK_DEBUG") != NULL;
  static const struct option opts[] = {{"storage-root", required_argument, NULL, 's'},
                                       {"debug", no_argument, NULL, 'd'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
    switch (c) {
    case 's':
      root_opt = optarg;
      break;
    case 'd':
      debug = true;
      break;
    case 'h':
      fputs(usage, stdout);
      return 0;
    default:
      fprintf(stderr, "nook: image: unknown option `%s` (see 'nook image --help')\n",
              argv[optind - 1]);
      return 1;
    }
  }
  nook_log_init(NULL, false, debug);
  if (optind >= argc) {
    fputs(usage, stderr);
    return 1;
  }
  _cleanup_free_ char *root = store_root(root_opt);
  const char *cmd = argv[optind];
  int sub_argc = argc - optind;
  char **sub_argv = argv + optind;
  for (int i = 1; i < sub_argc; i++) {
    if (!strcmp(sub_argv[i], "-h") || !strcmp(sub_argv[i], "--help")) {
      fputs(usage, stdout);
      return 0;
    }
  }
  int r;
  if (!strcmp(cmd, "import"))
    r = cmd_import(root, sub_argc, sub_argv, &err);
  else if (!strcmp(cmd, "pull"))
    r = cmd_pull(root, sub_argc, sub_argv, &err);
  else if (!strcmp(cmd, "list") || !strcmp(cmd, "ls"))
    r = cmd_list(root, sub_argc, sub_argv, &err);
  else if (!strcmp(cmd, "inspect"))
    r = cmd_inspect(root, sub_argc, sub_argv, &err);
  else if (!strcmp(cmd, "tag"))
    r = cmd_tag(root, sub_argc, sub_argv, &err);
  else if (!strcmp(cmd, "save"))
    r = cmd_save(root, sub_argc, sub_argv, &err);
  else if (!strcmp(cmd, "rm"))
    r = cmd_rm(root, sub_argc, sub_argv, &err);
  else if (!strcmp(cmd, "prune"))
    r = cmd_prune(root, sub_argc, sub_argv, &err);
  else if (!strcmp(cmd, "help") || !strcmp(cmd, "--help")) {
    fputs(usage, stdout);
    return 0;
  } else
    r = nook_errx(&err, EINVAL, "image: unknown command `%s` (see 'nook image --help')", cmd);
  fflush(stdout);
  if (r < 0) {
    /* nook launch, pulling, says the error itself, as its one line */
    const char *error_fd = getenv("NOOK_IMAGE_ERROR_FD");
    int fd = error_fd ? atoi(error_fd) : -1;
    if (fd <= STDERR_FILENO || write_all(fd, err.msg, strlen(err.msg)) < 0)
      fprintf(stderr, "nook: %s\n", err.msg);
    return 1;
  }
  return 0;
}
