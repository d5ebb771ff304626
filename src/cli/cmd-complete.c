/* nook __complete: what the shell completion scripts ask nook, so that they
 * follow the commands and options of the binary they complete instead of a
 * copy that goes stale.
 *
 *   nook __complete commands              command names, one a line
 *   nook __complete flags [COMMAND]       options of COMMAND (global options
 *                                         without one): "FLAG" or "FLAG ARG"
 *   nook __complete containers [STATUS...] container ids, only those in one
 *                                         of the STATUSes when any are given
 *                                         (honours the global --root)
 *   nook __complete signals               signal names without SIG
 *   nook __complete words -- WORD... CUR  candidates for CUR on a command line
 *                                         (what the shell scripts call)
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <yajl/yajl_tree.h>

#include "cli.h"
#include "container.h"
#include "signals.h"
#include "util.h"
#include "workflow/workflow.h"

/* Runs nook itself with args and returns what it printed on stdout; stderr is
 * dropped, as a failing command must not scribble over the user's prompt. */
static int capture_self(char *const *args, char **out, nook_error *err) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0)
    return nook_err(err, errno, "pipe");
  _cleanup_close_ int rd = pipefd[0];
  pid_t pid = fork();
  if (pid < 0) {
    close(pipefd[1]);
    return nook_err(err, errno, "fork");
  }
  if (pid == 0) {
    dup2(pipefd[1], STDOUT_FILENO);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull >= 0)
      dup2(devnull, STDERR_FILENO);
    execv("/proc/self/exe", args);
    _exit(127);
  }
  close(pipefd[1]);
  size_t len;
  int ret = read_all(rd, out, &len);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (ret < 0)
    return nook_err(err, -ret, "read the output of nook %s", args[1]);
  return 0;
}

static int complete_commands(void) {
  for (const struct nook_command *c = nook_commands; c->name; c++) {
    if (c->hidden)
      continue;
    for (const char *p = c->name; *p; p++)
      putchar(*p == '_' ? '-' : *p);
    putchar('\n');
  }
  return 0;
}

/* An argument name is written in capitals (DIR, UID[:GID], with literal
 * parts in brackets: SRC:DST[:ro]) or as choices (table|json); a lower-case
 * word after an option is its description. */
static bool is_metavar(const char *word, size_t len) {
  if (memchr(word, '|', len))
    return true;
  int depth = 0;
  for (size_t i = 0; i < len; i++) {
    depth += word[i] == '[' ? 1 : word[i] == ']' ? -1 : 0;
    if (!isupper((unsigned char)word[i]) && !isdigit((unsigned char)word[i]) &&
        !strchr("_[]:<>.=-", word[i]) && !(depth > 0 && islower((unsigned char)word[i])))
      return false;
  }
  return true;
}

/* The one value an option takes, in lower case ("--userns keep-id"): a
 * single word with the description column after it. */
static bool is_single_choice(const char *word, size_t len, const char *end) {
  for (size_t i = 0; i < len; i++)
    if (!islower((unsigned char)word[i]) && !isdigit((unsigned char)word[i]) &&
        !strchr("-_.", word[i]))
      return false;
  const char *after = word + len;
  return after == end || (after + 1 < end && after[0] == ' ' && after[1] == ' ');
}

struct help_flag {
  char *flag; /* "-b" or "--bundle" */
  char *arg;  /* "DIR", "table|json", "[=BOOL]" (a value only after '=') or NULL when
               * the option takes none */
};

/* Whether the word after the flag is its value ("--name NAME", not
 * "--sig-proxy[=BOOL]"). */
static bool takes_next_word(const struct help_flag *f) {
  return f->arg && !str_has_prefix(f->arg, "[=");
}

static void help_flags_free(struct help_flag *flags) {
  for (struct help_flag *f = flags; f && f->flag; f++) {
    free(f->flag);
    free(f->arg);
  }
  free(flags);
}
static void help_flags_freep(struct help_flag **flags) { help_flags_free(*flags); }
#define _cleanup_help_flags_ _cleanup_(help_flags_freep)

/* Records flag (with its argument name, may be NULL) once; a second
 * mention keeps the more telling argument name ("table|json" over FORMAT). */
static size_t add_flag(struct help_flag **flags, size_t *n, const char *flag, size_t flag_len,
                       const char *arg, size_t arg_len) {
  for (size_t i = 0; i < *n; i++) {
    struct help_flag *f = &(*flags)[i];
    if (strlen(f->flag) != flag_len || strncmp(f->flag, flag, flag_len) != 0)
      continue;
    if (arg && (!f->arg || (!strchr(f->arg, '|') && memchr(arg, '|', arg_len)))) {
      free(f->arg);
      f->arg = xstrndup(arg, arg_len);
    }
    return i;
  }
  *flags = xrealloc(*flags, (*n + 2) * sizeof(**flags));
  (*flags)[*n].flag = xstrndup(flag, flag_len);
  (*flags)[*n].arg = arg ? xstrndup(arg, arg_len) : NULL;
  (*flags)[++*n] = (struct help_flag){0};
  return *n - 1;
}

/* Parses "-x", "--name", "--name ARG" or "--name=ARG" at *pp (before end);
 * moves *pp past it. Returns false when there is no option there. */
static bool parse_one_flag(const char **pp, const char *end, const char **flag, size_t *flag_len,
                           const char **arg, size_t *arg_len) {
  const char *p = *pp;
  if (!(p + 1 < end && p[0] == '-' && p[1] != ' '))
    return false;
  *flag = p;
  while (p < end && (isalnum((unsigned char)*p) || *p == '-' || *p == '_'))
    p++;
  *flag_len = (size_t)(p - *flag);
  *arg = NULL;
  *arg_len = 0;
  /* "--sig-proxy[=BOOL]": a value that only comes after '=' */
  if (p + 2 < end && p[0] == '[' && p[1] == '=') {
    const char *close = memchr(p, ']', (size_t)(end - p));
    if (close && is_metavar(p + 2, (size_t)(close - p - 2))) {
      *arg = p;
      *arg_len = (size_t)(close - p + 1);
      *pp = close + 1;
      return true;
    }
  }
  if (p < end && (*p == '=' || (*p == ' ' && p + 1 < end && p[1] != ' ' && p[1] != '-'))) {
    const char *a = p + 1;
    const char *q = a;
    /* "[--all]" of a usage line ends at its bracket, "[:ro]" of an
     * argument does not */
    for (int depth = 0; q < end && *q != ' ' && *q != ',' && !(*q == ']' && depth == 0); q++)
      depth += *q == '[' ? 1 : *q == ']' ? -1 : 0;
    if (q > a && (is_metavar(a, (size_t)(q - a)) || is_single_choice(a, (size_t)(q - a), end))) {
      *arg = a;
      *arg_len = (size_t)(q - a);
      p = q;
    }
  }
  *pp = p;
  return *flag_len > 1 && !(*flag_len == 2 && (*flag)[1] == '-');
}

/* Reads the options of a --help text: the option lines
 * ("  -b, --bundle DIR   text", every -x/--name before the description
 * column, with the argument name that follows it) and the bracketed options
 * of the usage line ("Usage: nook kill [--all] ID"). Returns a
 * {NULL}-terminated array. */
static struct help_flag *parse_help_flags(const char *help) {
  size_t n = 0;
  struct help_flag *flags = xcalloc(1, sizeof(*flags));
  const char *flag, *arg;
  size_t flag_len, arg_len;
  for (const char *line = help; line && *line;) {
    const char *end = strchrnul(line, '\n');
    const char *p = line;
    while (p < end && *p == ' ')
      p++;
    if (str_has_prefix(p, "Usage:")) {
      for (const char *b = p; (b = memchr(b, '[', (size_t)(end - b))) != NULL;) {
        b++;
        const char *q = b;
        if (parse_one_flag(&q, end, &flag, &flag_len, &arg, &arg_len))
          add_flag(&flags, &n, flag, flag_len, arg, arg_len);
      }
    }
    /* One option line names the option once or twice ("-b, --bundle DIR"). */
    size_t on_line[8];
    size_t n_on_line = 0;
    while (p + 1 < end && p[0] == '-' && p[1] != ' ') {
      if (parse_one_flag(&p, end, &flag, &flag_len, &arg, &arg_len)) {
        size_t i = add_flag(&flags, &n, flag, flag_len, arg, arg_len);
        if (n_on_line < ARRAY_SIZE(on_line))
          on_line[n_on_line++] = i;
      }
      if (p < end && (*p == ',' || *p == '|'))
        p++;
      while (p + 1 < end && *p == ' ' && p[1] == '-')
        p++;
    }
    /* "-b, --bundle DIR": the short form takes the argument written once. */
    const char *line_arg = NULL;
    for (size_t i = 0; i < n_on_line; i++)
      if (flags[on_line[i]].arg)
        line_arg = flags[on_line[i]].arg;
    for (size_t i = 0; line_arg && i < n_on_line; i++)
      if (!flags[on_line[i]].arg)
        flags[on_line[i]].arg = xstrdup(line_arg);
    line = *end ? end + 1 : end;
  }
  return flags;
}

/* The options of command, or the global options when command is NULL, as
 * its --help shows them. A command that cannot show help has none. */
static struct help_flag *flags_of(const char *command) {
  char *cmd_args[] = {"nook", (char *)command, "--help", NULL};
  char *global_args[] = {"nook", "--help", NULL};
  _cleanup_free_ char *help = NULL;
  nook_error ignored;
  if (capture_self(command ? cmd_args : global_args, &help, &ignored) < 0)
    return xcalloc(1, sizeof(struct help_flag));
  return parse_help_flags(help);
}

static const struct help_flag *find_flag(const struct help_flag *flags, const char *word) {
  size_t len = strcspn(word, "=");
  for (const struct help_flag *f = flags; f->flag; f++)
    if (strlen(f->flag) == len && strncmp(f->flag, word, len) == 0)
      return f;
  return NULL;
}

static int complete_flags(const char *command) {
  _cleanup_help_flags_ struct help_flag *flags = flags_of(command);
  for (const struct help_flag *f = flags; f->flag; f++)
    printf("%s%s%s\n", f->flag, takes_next_word(f) ? " " : "", f->arg ? f->arg : "");
  return 0;
}

/* Ids of the state root, only those in one of statuses when any are given.
 * A root that does not exist yet has nothing to offer. */
static int complete_containers(struct nook_globals *g, char **statuses, nook_error *err) {
  _cleanup_free_ char *root = NULL;
  nook_error ignored;
  if (cli_state_root(g, &root, &ignored) < 0)
    return 0;
  _cleanup_strv_ char **ids = NULL;
  if (state_list_ids(root, &ids, &ignored) < 0)
    return 0;
  for (size_t i = 0; ids && ids[i]; i++) {
    if (statuses[0]) {
      _cleanup_container_ struct container c = {.dirfd = -1};
      if (container_load(root, ids[i], &c, &ignored) < 0 ||
          !strv_contains(statuses, state_status_name(c.status)))
        continue;
    }
    printf("%s\n", ids[i]);
  }
  return 0;
}

/* data: what goes before the name ("--stop-signal=" of a word given whole) */
static void print_name(const char *name, void *data) {
  printf("%s%s\n", data ? (const char *)data : "", name);
}

static void print_ulimit(const char *name, void *data) {
  printf("%s%s=\n", data ? (const char *)data : "", name);
}

static int complete_signals(const char *prefix) {
  signal_list_names(print_name, (void *)prefix);
  return 0;
}

/* The states in which a command makes sense for a container, NULL-ended;
 * an empty list means any state. Commands not listed take no container. */
static const struct {
  const char *command;
  const char *statuses[4];
} container_commands[] = {
    {"start", {"created"}},
    {"pause", {"running"}},
    {"resume", {"paused"}},
    {"kill", {"running"}},
    {"exec", {"running"}},
    {"checkpoint", {"running"}},
    {"ps", {"running", "paused"}},
    {"events", {"running", "paused", "created"}},
    {"update", {"running", "paused", "created"}},
    {"delete", {NULL}},
    {"state", {NULL}},
    {"logs", {NULL}},
    {"wait", {NULL}},
    {"stop", {"running"}},
    {"rm", {NULL}},
    {"port", {"running"}},
    {"attach", {"running"}},
};

static bool flag_wants_dir(const struct help_flag *f) {
  return strcmp(f->arg, "DIR") == 0 || strcmp(f->flag, "--bundle") == 0 ||
         strcmp(f->flag, "-b") == 0 || strcmp(f->flag, "--root") == 0;
}

/* Prints the values of f's argument, each after prefix (the "--flag=" of a
 * word that zsh and fish give whole; "" otherwise). */
static void complete_flag_value(const struct help_flag *f, const char *prefix) {
  if (strcmp(f->arg, "BOOL") == 0 || strcmp(f->arg, "[=BOOL]") == 0) {
    printf("%strue\n%sfalse\n", prefix, prefix);
  } else if ((strchr(f->arg, '|') && !strchr(f->arg, '[')) ||
             is_single_choice(f->arg, strlen(f->arg), f->arg + strlen(f->arg))) {
    _cleanup_free_ char *choices = xstrdup(f->arg);
    char *save = NULL;
    /* "type=bind|tmpfs|volume": each choice with the key of the first */
    const char *eq = strchr(choices, '=');
    int key_len = eq ? (int)(eq - choices + 1) : 0;
    for (char *c = strtok_r(choices, "|", &save); c; c = strtok_r(NULL, "|", &save)) {
      /* "seccomp=FILE|unconfined": FILE names a value, it is not one */
      const char *value = strchr(c, '=') ? strchr(c, '=') + 1 : c;
      if (is_metavar(value, strlen(value)))
        continue;
      printf("%s%.*s%s\n", prefix, strchr(c, '=') ? 0 : key_len, f->arg, c);
    }
  } else if (strcmp(f->arg, "SIG") == 0) {
    complete_signals(prefix);
  } else if (strcmp(f->flag, "--ulimit") == 0) {
    launch_ulimit_names(print_ulimit, (void *)prefix);
  } else if (flag_wants_dir(f)) {
    printf(":dirs\n");
  } else if (strstr(f->arg, "FILE") || strstr(f->arg, "PATH") || strstr(f->arg, "SOCK") ||
             str_has_prefix(f->arg, "SRC")) {
    printf(":files\n");
  }
}

/* A "--flag=VALUE" word being completed (zsh and fish give it whole, bash
 * apart): the values of the flag, as whole words. False when cur is not
 * such a word of a flag that takes a value. */
static bool complete_inline_value(const struct help_flag *flags, const char *cur) {
  const char *eq = strchr(cur, '=');
  if (cur[0] != '-' || !eq)
    return false;
  const struct help_flag *f = find_flag(flags, cur);
  if (!f || !f->arg)
    return false;
  _cleanup_free_ char *prefix = xstrndup(cur, (size_t)(eq - cur) + 1);
  complete_flag_value(f, prefix);
  return true;
}

/* The options of `nook image SUB`, from its entry in the "Commands:" list
 * of `nook image --help`: the bracketed options of its line and of the
 * lines that continue it ("  save [-q|--quiet] [--format a|b]",
 * "       [-o|--output FILE] NAME"). Returns a {NULL}-terminated array. */
static struct help_flag *image_sub_flags(const char *help, const char *sub) {
  size_t n = 0;
  struct help_flag *flags = xcalloc(1, sizeof(*flags));
  const char *list = strstr(help, "\nCommands:\n");
  bool in_sub = false;
  for (const char *line = list ? list + 1 : NULL; line && *line;) {
    const char *end = strchrnul(line, '\n');
    size_t indent = strspn(line, " ");
    if (indent == 2)
      in_sub = str_has_prefix(line + 2, sub) && line[2 + strlen(sub)] == ' ';
    else if (line[indent] != '[')
      in_sub = false; /* a description: the next entry's options are not its */
    for (const char *b = line; in_sub && (b = memchr(b, '[', (size_t)(end - b))) != NULL;) {
      const char *q = ++b, *flag, *arg = NULL;
      size_t flag_len, arg_len, first = n;
      /* "[-o|--output FILE]": both spellings take FILE */
      while (parse_one_flag(&q, end, &flag, &flag_len, &arg, &arg_len)) {
        add_flag(&flags, &n, flag, flag_len, arg, arg_len);
        if (!(q + 1 < end && q[0] == '|' && q[1] == '-'))
          break;
        q++;
      }
      for (size_t i = first; arg && i < n; i++)
        if (!flags[i].arg)
          flags[i].arg = xstrndup(arg, arg_len);
    }
    line = *end ? end + 1 : end;
  }
  return flags;
}

/* `nook image`: its subcommands (from the "Commands:" list of its help),
 * their options and the options' values, files to import, and the names
 * of stored images for rm and inspect. */
static int complete_image(int positional, const char *sub, const char *prev, const char *cur,
                          const char *storage_root) {
  nook_error ignored;
  char *help_args[] = {"nook", "image", "--help", NULL};
  _cleanup_free_ char *help = NULL;
  if (capture_self(help_args, &help, &ignored) < 0)
    return 0;
  if (positional == 0) {
    const char *list = strstr(help, "\nCommands:\n");
    for (const char *line = list ? strchr(list + 1, '\n') + 1 : NULL; line && *line;) {
      const char *end = strchrnul(line, '\n');
      if (end == line)
        break; /* the blank line after the list */
      if (line[0] == ' ' && line[1] == ' ' && islower((unsigned char)line[2])) {
        size_t len = strcspn(line + 2, " \n");
        printf("%.*s\n", (int)len, line + 2);
      }
      line = *end ? end + 1 : end;
    }
    return 0;
  }
  _cleanup_help_flags_ struct help_flag *flags = sub ? image_sub_flags(help, sub) : NULL;
  const struct help_flag *f = flags && prev && prev[0] == '-' && !strchr(prev, '=')
                                  ? find_flag(flags, prev) : NULL;
  if (f && takes_next_word(f)) {
    complete_flag_value(f, "");
    return 0;
  }
  if (flags && cur[0] == '-') {
    if (!complete_inline_value(flags, cur))
      for (f = flags; f->flag; f++)
        printf("%s\n", f->flag);
    return 0;
  }
  if (positional == 1 && sub && strcmp(sub, "import") == 0) {
    printf(":files\n");
    return 0;
  }
  /* Image names: every argument of rm and inspect, the image to tag or save
   * (not the new name), list's filter. */
  bool wants_name = sub && (strcmp(sub, "rm") == 0 || strcmp(sub, "inspect") == 0 ||
                            strcmp(sub, "save") == 0 ||
                            (positional == 1 && (strcmp(sub, "tag") == 0 ||
                                                 strcmp(sub, "list") == 0)));
  if (!wants_name)
    return 0;
  char *args[] = {"nook", "image", "--storage-root", (char *)storage_root, "list", "--format",
                  "json", NULL};
  _cleanup_free_ char *json = NULL;
  if (capture_self(storage_root ? args : (char *[]){"nook", "image", "list", "--format", "json",
                                                    NULL},
                   &json, &ignored) < 0)
    return 0;
  char errbuf[128];
  yajl_val tree = yajl_tree_parse(json, errbuf, sizeof(errbuf));
  static const char *names_path[] = {"Names", NULL};
  for (size_t i = 0; tree && YAJL_IS_ARRAY(tree) && i < YAJL_GET_ARRAY(tree)->len; i++) {
    yajl_val names = yajl_tree_get(YAJL_GET_ARRAY(tree)->values[i], names_path, yajl_t_array);
    for (size_t j = 0; names && j < YAJL_GET_ARRAY(names)->len; j++)
      if (YAJL_IS_STRING(YAJL_GET_ARRAY(names)->values[j]))
        printf("%s\n", YAJL_GET_STRING(YAJL_GET_ARRAY(names)->values[j]));
  }
  yajl_tree_free(tree);
  return 0;
}

/* What to offer for the last word of a command line, the words before it
 * given whole (without the program name). Prints candidates one a line, or
 * the single line ":files" / ":dirs" when the shell should complete paths,
 * so every shell's script is a thin wrapper around this. */
static int complete_words(struct nook_globals *g, int n, char **words, nook_error *err) {
  if (n < 1)
    return 0;
  const char *cur = words[n - 1];
  _cleanup_help_flags_ struct help_flag *globals = flags_of(NULL);
  int i = 0;
  for (; i < n - 1 && words[i][0] == '-'; i++) {
    const struct help_flag *f = find_flag(globals, words[i]);
    if (f && takes_next_word(f) && !strchr(words[i], '=')) {
      if (i + 1 == n - 1) {
        complete_flag_value(f, "");
        return 0;
      }
      if (strcmp(f->flag, "--root") == 0)
        g->root = words[i + 1];
      i++;
    } else if (str_has_prefix(words[i], "--root=")) {
      g->root = words[i] + strlen("--root=");
    }
  }
  if (i == n - 1) {
    if (complete_inline_value(globals, cur))
      return 0;
    if (cur[0] == '-') {
      for (const struct help_flag *f = globals; f->flag; f++)
        printf("%s\n", f->flag);
      return 0;
    }
    return complete_commands();
  }

  const char *command = words[i++];
  _cleanup_help_flags_ struct help_flag *flags = flags_of(command);
  /* Options come before the arguments (getopt's "+"), so the first
   * argument ends them. */
  int positional = 0;
  int first_arg = -1;          /* index of the first argument */
  const char *storage_root = NULL; /* image's --storage-root */
  for (; i < n - 1; i++) {
    if (positional == 0 && strcmp(words[i], "--") == 0) {
      positional = -1;
      continue;
    }
    if (positional == 0 && words[i][0] == '-' && words[i][1]) {
      const struct help_flag *f = find_flag(flags, words[i]);
      if (f && takes_next_word(f) && !strchr(words[i], '=')) {
        if (i + 1 == n - 1) {
          complete_flag_value(f, "");
          return 0;
        }
        if (strcmp(f->flag, "--storage-root") == 0)
          storage_root = words[i + 1];
        i++;
      } else if (str_has_prefix(words[i], "--storage-root=")) {
        storage_root = words[i] + strlen("--storage-root=");
      }
      continue;
    }
    if (first_arg < 0)
      first_arg = i;
    positional = positional < 0 ? 1 : positional + 1;
  }
  if (positional == -1)
    positional = 0;
  if (positional == 0 && complete_inline_value(flags, cur))
    return 0;
  if (positional == 0 && cur[0] == '-') {
    for (const struct help_flag *f = flags; f->flag; f++)
      printf("%s\n", f->flag);
    return 0;
  }
  if (positional == 0 && strcmp(command, "help") == 0)
    return complete_commands();
  if (strcmp(command, "image") == 0)
    return complete_image(positional, first_arg >= 0 ? words[first_arg] : NULL,
                          n >= 2 ? words[n - 2] : NULL, cur, storage_root);
  if (positional == 0 && strcmp(command, "launch") == 0)
    return workflow_complete_images();
  for (size_t c = 0; c < ARRAY_SIZE(container_commands); c++) {
    if (strcmp(container_commands[c].command, command) != 0)
      continue;
    if (positional == 0)
      return complete_containers(g, (char **)container_commands[c].statuses, err);
    if (positional == 1 && strcmp(command, "kill") == 0)
      return complete_signals(NULL);
  }
  return 0;
}

int cmd___complete(struct nook_globals *g, int argc, char **argv, nook_error *err) {
  if (argc < 2)
    return cli_bad_usage(err, "__complete", "say what to complete: commands, flags, "
                                            "containers or signals");
  const char *what = argv[1];
  if (strcmp(what, "commands") == 0)
    return complete_commands();
  if (strcmp(what, "flags") == 0)
    return complete_flags(argc > 2 ? argv[2] : NULL);
  if (strcmp(what, "containers") == 0)
    return complete_containers(g, argv + 2, err);
  if (strcmp(what, "signals") == 0)
    return complete_signals(NULL);
  if (strcmp(what, "words") == 0) {
    int first = argc > 2 && strcmp(argv[2], "--") == 0 ? 3 : 2;
    return complete_words(g, argc - first, argv + first, err);
  }
  return cli_bad_usage(err, "__complete", "unknown completion `%s`", what);
}
