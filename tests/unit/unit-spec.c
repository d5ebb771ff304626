/* config.json parsing: fields land where spec.h says, every bad input is
 * one message naming the file and JSON path, and nook's default config
 * parses back. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spec.h"
#include "util.h"

static int failures;
static char bundle[64];
static char current[128];

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      printf("not ok %s - line %d: %s\n", current, __LINE__, #cond);                               \
      failures++;                                                                                  \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

#define CHECK_STR(want, got)                                                                       \
  do {                                                                                             \
    const char *w_ = (want), *g_ = (got);                                                          \
    if (!g_ || strcmp(w_, g_) != 0) {                                                              \
      printf("not ok %s - line %d: want \"%s\", got \"%s\"\n", current, __LINE__, w_,              \
             g_ ? g_ : "(null)");                                                                  \
      failures++;                                                                                  \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

static void run(const char *name, void (*fn)(void)) {
  snprintf(current, sizeof(current), "%s", name);
  int before = failures;
  fn();
  if (failures == before)
    printf("ok %s\n", name);
}

static const char full_config[] =
    "{\n"
    "  \"ociVersion\": \"1.2.0\",\n"
    "  \"futureField\": {\"anything\": [1, 2]},\n"
    "  \"process\": {\n"
    "    \"terminal\": true,\n"
    "    \"consoleSize\": {\"height\": 24, \"width\": 80},\n"
    "    \"user\": {\"uid\": 1000, \"gid\": 4294967295, \"umask\": 18,\n"
    "             \"additionalGids\": [5, 6], \"username\": \"u\"},\n"
    "    \"args\": [\"sh\", \"-c\", \"echo hi\"],\n"
    "    \"env\": [\"PATH=/bin\", \"A=b\"],\n"
    "    \"cwd\": \"/work\",\n"
    "    \"capabilities\": {\"bounding\": [\"CAP_KILL\"], \"ambient\": []},\n"
    "    \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": 1024,\n"
    "                  \"hard\": 18446744073709551615}],\n"
    "    \"noNewPrivileges\": true,\n"
    "    \"apparmorProfile\": \"prof\",\n"
    "    \"selinuxLabel\": \"label\",\n"
    "    \"oomScoreAdj\": -500,\n"
    "    \"ioPriority\": {\"class\": \"IOPRIO_CLASS_BE\", \"priority\": 4},\n"
    "    \"scheduler\": {\"policy\": \"SCHED_BATCH\", \"nice\": -3, \"flags\": "
    "[\"SCHED_FLAG_RESET_ON_FORK\"]},\n"
    "    \"execCPUAffinity\": {\"initial\": \"0\", \"final\": \"0-1\"}\n"
    "  },\n"
    "  \"root\": {\"path\": \"rootfs\", \"readonly\": true},\n"
    "  \"hostname\": \"box\",\n"
    "  \"domainname\": \"example.org\",\n"
    "  \"mounts\": [\n"
    "    {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},\n"
    "    {\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"/srv\",\n"
    "     \"options\": [\"rbind\", \"ro\"],\n"
    "     \"uidMappings\": [{\"containerID\": 0, \"hostID\": 1000, \"size\": 1}],\n"
    "     \"gidMappings\": [{\"containerID\": 0, \"hostID\": 1001, \"size\": 2}]}\n"
    "  ],\n"
    "  \"hooks\": {\n"
    "    \"prestart\": [{\"path\": \"/bin/true\"}],\n"
    "    \"createRuntime\": [{\"path\": \"/bin/a\", \"args\": [\"a\", \"1\"], \"env\": [\"X=1\"],\n"
    "                        \"timeout\": 5}],\n"
    "    \"poststop\": [{\"path\": \"/bin/b\"}, {\"path\": \"/bin/c\"}]\n"
    "  },\n"
    "  \"annotations\": {\"org.example.key\": \"value\", \"other\": \"x\"},\n"
    "  \"linux\": {\n"
    "    \"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\", \"path\": "
    "\"/proc/1/ns/net\"},\n"
    "                   {\"type\": \"user\"}, {\"type\": \"mount\"}, {\"type\": \"time\"}],\n"
    "    \"uidMappings\": [{\"containerID\": 0, \"hostID\": 1001, \"size\": 1},\n"
    "                    {\"containerID\": 1, \"hostID\": 100000, \"size\": 65536}],\n"
    "    \"gidMappings\": [{\"containerID\": 0, \"hostID\": 1001, \"size\": 1}],\n"
    "    \"devices\": [{\"path\": \"/dev/fuse\", \"type\": \"c\", \"major\": 10, \"minor\": 229,\n"
    "                 \"fileMode\": 438, \"uid\": 0},\n"
    "                {\"path\": \"/dev/fifo\", \"type\": \"p\"}],\n"
    "    \"cgroupsPath\": \"user.slice:nook:box\",\n"
    "    \"resources\": {\"pids\": {\"limit\": 64}},\n"
    "    \"sysctl\": {\"net.ipv4.ip_forward\": \"1\"},\n"
    "    \"seccomp\": {\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 1,\n"
    "                \"architectures\": [\"SCMP_ARCH_X86_64\"], \"flags\": "
    "[\"SECCOMP_FILTER_FLAG_LOG\"],\n"
    "                \"listenerPath\": \"/run/l.sock\", \"listenerMetadata\": \"meta\",\n"
    "                \"syscalls\": [{\"names\": [\"read\", \"write\"], \"action\": "
    "\"SCMP_ACT_ALLOW\"},\n"
    "                  {\"names\": [\"personality\"], \"action\": \"SCMP_ACT_ERRNO\", "
    "\"errnoRet\": 38,\n"
    "                   \"args\": [{\"index\": 0, \"value\": 18446744073709551615,\n"
    "                             \"valueTwo\": 9223372036854775808, \"op\": "
    "\"SCMP_CMP_MASKED_EQ\"}]}]},\n"
    "    \"rootfsPropagation\": \"rslave\",\n"
    "    \"maskedPaths\": [\"/proc/kcore\"],\n"
    "    \"readonlyPaths\": [\"/proc/sys\", \"/proc/bus\"],\n"
    "    \"mountLabel\": \"ml\",\n"
    "    \"personality\": {\"domain\": \"LINUX32\", \"flags\": []},\n"
    "    \"timeOffsets\": {\"monotonic\": {\"secs\": -86400, \"nanosecs\": 5},\n"
    "                    \"boottime\": {\"secs\": 7}},\n"
    "    \"intelRdt\": {\"closID\": \"ignored\"}\n"
    "  }\n"
    "}\n";

static void test_full_config(void) {
  nook_error err = {0};
  _cleanup_spec_ struct spec *s = NULL;
  int r = spec_parse(full_config, bundle, &s, &err);
  if (r < 0)
    printf("# %s\n", err.msg);
  CHECK(r == 0);
  char resolved[4096];
  CHECK(realpath(bundle, resolved));
  CHECK_STR(resolved, s->bundle);
  _cleanup_free_ char *root = xasprintf("%s/rootfs", resolved);
  CHECK_STR(root, s->root_path);
  CHECK(s->root_readonly);
  CHECK_STR("1.2.0", s->oci_version);
  CHECK_STR("box", s->hostname);
  CHECK_STR("example.org", s->domainname);

  CHECK(s->has_process);
  struct spec_process *p = &s->process;
  CHECK(p->terminal && p->has_console_size && p->console_height == 24 && p->console_width == 80);
  CHECK(p->user.uid == 1000 && p->user.gid == UINT32_MAX);
  CHECK(p->user.has_umask && p->user.umask == 18);
  CHECK(p->user.n_additional_gids == 2 && p->user.additional_gids[1] == 6);
  CHECK_STR("u", p->user.username);
  CHECK(strv_len(p->args) == 3);
  CHECK_STR("echo hi", p->args[2]);
  CHECK(strv_len(p->env) == 2);
  CHECK_STR("A=b", p->env[1]);
  CHECK_STR("/work", p->cwd);
  CHECK(p->capabilities && strv_len(p->capabilities->bounding) == 1);
  CHECK_STR("CAP_KILL", p->capabilities->bounding[0]);
  CHECK(p->capabilities->ambient && !p->capabilities->ambient[0]);
  CHECK(p->capabilities->effective == NULL);
  CHECK(p->n_rlimits == 1 && p->rlimits[0].soft == 1024 && p->rlimits[0].hard == UINT64_MAX);
  CHECK(p->no_new_privileges);
  CHECK_STR("prof", p->apparmor_profile);
  CHECK_STR("label", p->selinux_label);
  CHECK(p->has_oom_score_adj && p->oom_score_adj == -500);
  CHECK(p->io_priority.set && p->io_priority.priority == 4);
  CHECK_STR("IOPRIO_CLASS_BE", p->io_priority.class_name);
  CHECK(p->scheduler.set && p->scheduler.nice == -3 && strv_len(p->scheduler.flags) == 1);
  CHECK_STR("SCHED_BATCH", p->scheduler.policy);
  CHECK_STR("0-1", p->exec_cpu_affinity_final);

  CHECK(s->n_mounts == 2);
  CHECK_STR("/proc", s->mounts[0].destination);
  CHECK(s->mounts[0].options == NULL);
  CHECK_STR("/srv", s->mounts[1].source);
  CHECK(strv_len(s->mounts[1].options) == 2);
  CHECK(s->mounts[1].n_uid_mappings == 1 && s->mounts[1].uid_mappings[0].host_id == 1000);
  CHECK(s->mounts[1].n_gid_mappings == 1 && s->mounts[1].gid_mappings[0].size == 2);

  CHECK(s->hooks[SPEC_HOOK_PRESTART].n == 1);
  CHECK(s->hooks[SPEC_HOOK_CREATE_RUNTIME].n == 1);
  CHECK(s->hooks[SPEC_HOOK_CREATE_RUNTIME].hooks[0].timeout == 5);
  CHECK_STR("1", s->hooks[SPEC_HOOK_CREATE_RUNTIME].hooks[0].args[1]);
  CHECK(s->hooks[SPEC_HOOK_CREATE_CONTAINER].n == 0);
  CHECK(s->hooks[SPEC_HOOK_POSTSTOP].n == 2);
  CHECK_STR("/bin/c", s->hooks[SPEC_HOOK_POSTSTOP].hooks[1].path);

  CHECK_STR("value", spec_annotation(s, "org.example.key"));
  CHECK(spec_annotation(s, "missing") == NULL);

  CHECK(s->namespaces[SPEC_NS_PID].enabled && !s->namespaces[SPEC_NS_PID].path);
  CHECK(s->namespaces[SPEC_NS_NET].enabled);
  CHECK_STR("/proc/1/ns/net", s->namespaces[SPEC_NS_NET].path);
  CHECK(s->namespaces[SPEC_NS_USER].enabled && s->namespaces[SPEC_NS_TIME].enabled);
  CHECK(!s->namespaces[SPEC_NS_IPC].enabled && !s->namespaces[SPEC_NS_UTS].enabled);
  CHECK(s->n_uid_mappings == 2 && s->uid_mappings[1].container_id == 1 &&
        s->uid_mappings[1].host_id == 100000 && s->uid_mappings[1].size == 65536);
  CHECK(s->n_gid_mappings == 1);
  CHECK(s->n_devices == 2 && s->devices[0].type == 'c' && s->devices[0].major == 10 &&
        s->devices[0].minor == 229 && s->devices[0].has_file_mode &&
        s->devices[0].file_mode == 0666 && s->devices[0].has_uid && !s->devices[0].has_gid);
  CHECK(s->devices[1].type == 'p');
  CHECK_STR("user.slice:nook:box", s->cgroups_path);
  CHECK(YAJL_IS_OBJECT(s->resources));
  const char *pids_limit[] = {"pids", "limit", NULL};
  CHECK(YAJL_IS_INTEGER(yajl_tree_get(s->resources, pids_limit, yajl_t_number)));
  CHECK(s->n_sysctl == 1);
  CHECK_STR("net.ipv4.ip_forward", s->sysctl[0].key);
  CHECK(s->seccomp && s->seccomp->has_default_errno_ret && s->seccomp->default_errno_ret == 1);
  CHECK_STR("SCMP_ACT_ERRNO", s->seccomp->default_action);
  CHECK_STR("meta", s->seccomp->listener_metadata);
  CHECK(s->seccomp->n_syscalls == 2 && !s->seccomp->syscalls[0].has_errno_ret);
  CHECK(s->seccomp->syscalls[1].has_errno_ret && s->seccomp->syscalls[1].errno_ret == 38);
  CHECK(s->seccomp->syscalls[1].n_args == 1);
  CHECK(s->seccomp->syscalls[1].args[0].value == UINT64_MAX);
  CHECK(s->seccomp->syscalls[1].args[0].value_two == 9223372036854775808ull);
  CHECK_STR("rslave", s->rootfs_propagation);
  CHECK(strv_len(s->masked_paths) == 1 && strv_len(s->readonly_paths) == 2);
  CHECK_STR("ml", s->mount_label);
  CHECK_STR("LINUX32", s->personality_domain);
  CHECK(s->time_offset_monotonic.set && s->time_offset_monotonic.secs == -86400 &&
        s->time_offset_monotonic.nanosecs == 5);
  CHECK(s->time_offset_boottime.set && s->time_offset_boottime.secs == 7);
}

static void test_minimal_config(void) {
  nook_error err = {0};
  _cleanup_spec_ struct spec *s = NULL;
  /* nulls are what Go writes for empty optional fields */
  int r = spec_parse("{\"root\": {\"path\": \"/abs/root\"}, \"mounts\": null, \"process\": null}",
                     bundle, &s, &err);
  if (r < 0)
    printf("# %s\n", err.msg);
  CHECK(r == 0);
  CHECK_STR("/abs/root", s->root_path);
  CHECK(!s->has_process && s->n_mounts == 0 && !s->seccomp && !s->resources);
  for (int t = 0; t < SPEC_NS_COUNT; t++)
    CHECK(!s->namespaces[t].enabled);
}

struct bad_case {
  const char *json;
  const char *want;
};

/* Each case is one document; `want` is the whole message. */
static const struct bad_case bad_cases[] = {
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": \"sh\", \"cwd\": \"/\"}}",
     "config.json: process.args: expected an array of strings, not a string"},
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\", 3], \"cwd\": \"/\"}}",
     "config.json: process.args[1]: expected a string, not a number"},
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [], \"cwd\": \"/\"}}",
     "config.json: process.args: must name the program to run (it is empty)"},
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"cwd\": \"/\"}}",
     "config.json: process.args is required"},
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"tmp\"}}",
     "config.json: process.cwd: must be an absolute path, not \"tmp\""},
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"]}}",
     "config.json: process.cwd is required"},
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"terminal\": \"yes\", \"args\": [\"sh\"], "
     "\"cwd\": \"/\"}}",
     "config.json: process.terminal: expected true or false, not a string"},
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", "
     "\"user\": {\"uid\": 4294967296}}}",
     "config.json: process.user.uid: 4294967296 is out of range (0 to 4294967295)"},
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", "
     "\"user\": {\"gid\": 1.5}}}",
     "config.json: process.user.gid: expected a non-negative integer, not 1.5"},
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", "
     "\"rlimits\": [{\"type\": \"RLIMIT_FOO\", \"soft\": 1, \"hard\": 1}]}}",
     "config.json: process.rlimits[0].type: unknown resource limit \"RLIMIT_FOO\" "
     "(RLIMIT_NOFILE, RLIMIT_NPROC, ...)"},
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", "
     "\"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": 1, \"hard\": 1}, "
     "{\"type\": \"RLIMIT_NOFILE\", \"soft\": 2, \"hard\": 2}]}}",
     "config.json: process.rlimits[1]: RLIMIT_NOFILE is listed twice"},
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", "
     "\"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": 1}]}}",
     "config.json: process.rlimits[0].hard is required"},
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", "
     "\"oomScoreAdj\": 1001}}",
     "config.json: process.oomScoreAdj: 1001 is out of range (-1000 to 1000)"},
    {"{\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\"}}", "config.json: root.path is required"},
    {"{\"root\": {}}", "config.json: root.path is required"},
    {"{\"root\": {\"path\": 5}}", "config.json: root.path: expected a string, not a number"},
    {"{\"root\": \"rootfs\"}", "config.json: root: expected an object, not a string"},
    {"[]", "config.json: expected a JSON object at the top level, not an array"},
    {"{\"root\": {\"path\": \"r\"}, \"linux\": {\"namespaces\": [{\"type\": \"pid\"}, "
     "{\"type\": \"ipc\"}, {\"type\": \"foo\"}]}}",
     "config.json: linux.namespaces[2].type: unknown namespace type \"foo\" (user, mount, pid, "
     "network, uts, ipc, cgroup or time)"},
    {"{\"root\": {\"path\": \"r\"}, \"linux\": {\"namespaces\": [{\"type\": \"pid\"}, "
     "{\"type\": \"pid\"}]}}",
     "config.json: linux.namespaces[1].type: namespace \"pid\" is listed twice"},
    {"{\"root\": {\"path\": \"r\"}, \"linux\": {\"namespaces\": [\"pid\"]}}",
     "config.json: linux.namespaces[0]: expected an object, not a string"},
    {"{\"root\": {\"path\": \"r\"}, \"linux\": {\"uidMappings\": [{\"containerID\": 0, "
     "\"hostID\": 1000, \"size\": -1}]}}",
     "config.json: linux.uidMappings[0].size: expected a non-negative integer, not -1"},
    {"{\"root\": {\"path\": \"r\"}, \"linux\": {\"gidMappings\": [{\"containerID\": 0, "
     "\"hostID\": 99999999999, \"size\": 1}]}}",
     "config.json: linux.gidMappings[0].hostID: 99999999999 is out of range (0 to 4294967295)"},
    {"{\"root\": {\"path\": \"r\"}, \"linux\": {\"uidMappings\": [{\"containerID\": 0, "
     "\"size\": 1}]}}",
     "config.json: linux.uidMappings[0].hostID is required"},
    {"{\"root\": {\"path\": \"r\"}, \"linux\": {\"devices\": [{\"path\": \"/dev/x\", "
     "\"type\": \"z\", \"major\": 1, \"minor\": 1}]}}",
     "config.json: linux.devices[0].type: unknown device type \"z\" (c, b, u or p)"},
    {"{\"root\": {\"path\": \"r\"}, \"linux\": {\"devices\": [{\"path\": \"/dev/x\", "
     "\"type\": \"c\", \"minor\": 1}]}}",
     "config.json: linux.devices[0].major is required"},
    {"{\"root\": {\"path\": \"r\"}, \"linux\": {\"seccomp\": {\"defaultAction\": "
     "\"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\", "
     "\"errnoRet\": -1}]}}}",
     "config.json: linux.seccomp.syscalls[0].errnoRet: expected a non-negative integer, not -1"},
    {"{\"root\": {\"path\": \"r\"}, \"linux\": {\"seccomp\": {\"defaultAction\": "
     "\"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\", "
     "\"args\": [{\"index\": 0, \"value\": 18446744073709551616, \"op\": \"SCMP_CMP_EQ\"}]}]}}}",
     "config.json: linux.seccomp.syscalls[0].args[0].value: 18446744073709551616 is out of range "
     "(0 to 18446744073709551615)"},
    {"{\"root\": {\"path\": \"r\"}, \"linux\": {\"seccomp\": {}}}",
     "config.json: linux.seccomp.defaultAction is required"},
    {"{\"root\": {\"path\": \"r\"}, \"linux\": {\"resources\": []}}",
     "config.json: linux.resources: expected an object, not an array"},
    {"{\"root\": {\"path\": \"r\"}, \"linux\": {\"rootfsPropagation\": \"sideways\"}}",
     "config.json: linux.rootfsPropagation: unknown propagation \"sideways\" (private, slave, "
     "shared, unbindable or their r- forms)"},
    {"{\"root\": {\"path\": \"r\"}, \"linux\": {\"sysctl\": {\"a.b\": 1}}}",
     "config.json: linux.sysctl.a.b: expected a string, not a number"},
    {"{\"root\": {\"path\": \"r\"}, \"annotations\": {\"k\": true}}",
     "config.json: annotations.k: expected a string, not a boolean"},
    {"{\"root\": {\"path\": \"r\"}, \"hooks\": {\"poststart\": [{\"path\": \"/bin/x\", "
     "\"timeout\": 0}]}}",
     "config.json: hooks.poststart[0].timeout: must be greater than zero, not 0"},
    {"{\"root\": {\"path\": \"r\"}, \"hooks\": {\"prestart\": [{\"path\": \"x\"}]}}",
     "config.json: hooks.prestart[0].path: must be an absolute path, not \"x\""},
    {"{\"root\": {\"path\": \"r\"}, \"hooks\": {\"createContainer\": {}}}",
     "config.json: hooks.createContainer: expected an array, not an object"},
    {"{\"root\": {\"path\": \"r\"}, \"mounts\": [{\"type\": \"tmpfs\"}]}",
     "config.json: mounts[0].destination is required"},
    {"{\"root\": {\"path\": \"r\"}, \"mounts\": [{\"destination\": \"/x\", \"options\": \"ro\"}]}",
     "config.json: mounts[0].options: expected an array of strings, not a string"},
    {"{\"root\": {\"path\": \"r\"}, \"linux\": {\"timeOffsets\": {\"boottime\": {\"secs\": 1, "
     "\"nanosecs\": 1000000000}}}}",
     "config.json: linux.timeOffsets.boottime.nanosecs: must be below 1000000000"},
    {"{\"root\": {\"path\": \"r\"}, \"linux\": []}",
     "config.json: linux: expected an object, not an array"},
    {"{\"root\": {\"path\": \"r\"}, \"linux\": {\"personality\": {\"domain\": \"LINUX64\"}}}",
     "config.json: linux.personality.domain: unknown domain \"LINUX64\" (LINUX or LINUX32)"},
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", "
     "\"consoleSize\": {\"height\": 1}}}",
     "config.json: process.consoleSize.width is required"},
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", "
     "\"user\": 0}}",
     "config.json: process.user: expected an object, not a number"},
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", "
     "\"user\": {\"additionalGids\": [1, -2]}}}",
     "config.json: process.user.additionalGids[1]: expected a non-negative integer, not -2"},
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\", null], \"cwd\": \"/\"}}",
     "config.json: process.args[1]: expected a string, not null"},
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", "
     "\"ioPriority\": {\"class\": \"IOPRIO_CLASS_FAST\"}}}",
     "config.json: process.ioPriority.class: unknown class \"IOPRIO_CLASS_FAST\" "
     "(IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE)"},
    {"{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", "
     "\"capabilities\": {\"bounding\": \"CAP_KILL\"}}}",
     "config.json: process.capabilities.bounding: expected an array of strings, not a string"},
    {"{\"root\": {\"path\": \"r\"}, \"linux\": {\"namespaces\": [{\"type\": \"network\", "
     "\"path\": \"ns/net\"}]}}",
     "config.json: linux.namespaces[0].path: must be an absolute path, not \"ns/net\""},
    {"{\n  \"root\": {\"path\": \"r\"},\n  \"process\": {\"args\": [\"sh\"],,}\n}",
     "config.json: invalid JSON at line 3: invalid object key (must be a string)"},
    {"{\"root\": {\"path\": \"r\"}", "config.json: invalid JSON at line 1: premature EOF"},
    {"", "config.json: invalid JSON at line 1: premature EOF"},
    {"{\"root\": {\"path\": \"r\"}} trailing",
     "config.json: invalid JSON at line 1: trailing garbage"},
};

static void test_bad_inputs(void) {
  for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
    nook_error err = {0};
    _cleanup_spec_ struct spec *s = NULL;
    int r = spec_parse(bad_cases[i].json, bundle, &s, &err);
    if (r == 0) {
      printf("not ok %s - case %zu parsed: %s\n", current, i, bad_cases[i].json);
      failures++;
      return;
    }
    CHECK(r == -EINVAL && s == NULL);
    if (strcmp(err.msg, bad_cases[i].want) != 0) {
      printf("not ok %s - case %zu:\n#  want %s\n#  got  %s\n", current, i, bad_cases[i].want,
             err.msg);
      failures++;
      return;
    }
  }
}

static void test_duplicate_keys_last_wins(void) {
  nook_error err = {0};
  _cleanup_spec_ struct spec *s = NULL;
  CHECK(spec_parse("{\"root\": {\"path\": \"r\"}, \"hostname\": \"a\", \"hostname\": \"b\"}",
                   bundle, &s, &err) == 0);
  CHECK_STR("b", s->hostname);
}

static void test_load_missing(void) {
  nook_error err = {0};
  struct spec *s = NULL;
  CHECK(spec_load(bundle, &s, &err) == -ENOENT);
  _cleanup_free_ char *want =
      xasprintf("bundle `%s`: no config.json (run 'nook spec' to write one)", bundle);
  CHECK_STR(want, err.msg);
  CHECK(spec_load("/nonexistent-bundle", &s, &err) == -ENOENT);
  CHECK_STR("bundle `/nonexistent-bundle`: No such file or directory", err.msg);

  _cleanup_free_ char *dir = xasprintf("%s/config.json", bundle);
  CHECK(mkdir(dir, 0755) == 0);
  int r = spec_load(bundle, &s, &err);
  rmdir(dir);
  CHECK(r == -EINVAL);
  _cleanup_free_ char *want_dir =
      xasprintf("bundle `%s`: config.json is not a regular file", bundle);
  CHECK_STR(want_dir, err.msg);
}

static void test_load_file(void) {
  nook_error err = {0};
  _cleanup_free_ char *path = xasprintf("%s/config.json", bundle);
  const char json[] = "{\"ociVersion\": \"1.0.0\", \"root\": {\"path\": \"rootfs\"},"
                      " \"process\": {\"args\": [\"true\"], \"cwd\": \"/\"}}";
  CHECK(write_file_at(AT_FDCWD, path, json, strlen(json), 0644, &err) == 0);
  _cleanup_spec_ struct spec *s = NULL;
  int r = spec_load(bundle, &s, &err);
  unlink(path);
  if (r < 0)
    printf("# %s\n", err.msg);
  CHECK(r == 0);
  CHECK(s->has_process);
  CHECK_STR("true", s->process.args[0]);
}

static void test_default_rootful(void) {
  _cleanup_free_ char *json = spec_default_json(false, 1001, 1002);
  nook_error err = {0};
  _cleanup_spec_ struct spec *s = NULL;
  int r = spec_parse(json, bundle, &s, &err);
  if (r < 0)
    printf("# %s\n", err.msg);
  CHECK(r == 0);
  CHECK_STR("1.2.0", s->oci_version);
  CHECK_STR("nook", s->hostname);
  CHECK(s->root_readonly);
  CHECK(s->has_process && s->process.terminal && s->process.no_new_privileges);
  CHECK_STR("sh", s->process.args[0]);
  CHECK_STR("TERM=xterm", s->process.env[1]);
  CHECK(strv_len(s->process.capabilities->bounding) == 3);
  CHECK(s->process.capabilities->ambient == NULL);
  CHECK(s->process.n_rlimits == 1 && s->process.rlimits[0].hard == 1024);
  CHECK(s->namespaces[SPEC_NS_NET].enabled && !s->namespaces[SPEC_NS_USER].enabled);
  CHECK(s->namespaces[SPEC_NS_PID].enabled && s->namespaces[SPEC_NS_IPC].enabled &&
        s->namespaces[SPEC_NS_UTS].enabled && s->namespaces[SPEC_NS_MOUNT].enabled &&
        s->namespaces[SPEC_NS_CGROUP].enabled && !s->namespaces[SPEC_NS_TIME].enabled);
  CHECK(s->n_uid_mappings == 0 && s->n_gid_mappings == 0);
  CHECK(s->resources != NULL);
  CHECK(s->n_mounts == 7);
  CHECK_STR("sysfs", s->mounts[5].type);
  CHECK(strv_contains(s->mounts[2].options, "gid=5"));
  CHECK(strv_len(s->masked_paths) == 11 && strv_len(s->readonly_paths) == 5);
}

static void test_default_rootless(void) {
  _cleanup_free_ char *json = spec_default_json(true, 1001, 1002);
  nook_error err = {0};
  _cleanup_spec_ struct spec *s = NULL;
  int r = spec_parse(json, bundle, &s, &err);
  if (r < 0)
    printf("# %s\n", err.msg);
  CHECK(r == 0);
  CHECK(!s->namespaces[SPEC_NS_NET].enabled && s->namespaces[SPEC_NS_USER].enabled);
  CHECK(s->namespaces[SPEC_NS_PID].enabled && s->namespaces[SPEC_NS_CGROUP].enabled);
  CHECK(s->n_uid_mappings == 1 && s->uid_mappings[0].container_id == 0 &&
        s->uid_mappings[0].host_id == 1001 && s->uid_mappings[0].size == 1);
  CHECK(s->n_gid_mappings == 1 && s->gid_mappings[0].host_id == 1002);
  CHECK(s->resources == NULL);
  CHECK(s->n_mounts == 7);
  CHECK_STR("/sys", s->mounts[5].destination);
  CHECK_STR("none", s->mounts[5].type);
  CHECK_STR("/sys", s->mounts[5].source);
  CHECK(strv_contains(s->mounts[5].options, "rbind"));
  CHECK(!strv_contains(s->mounts[2].options, "gid=5"));
  CHECK_STR("cgroup", s->mounts[6].type);
}

static void test_parse_process(void) {
  nook_error err = {0};
  struct spec_process p = {0};
  int r = spec_parse_process("{\"args\": [\"ls\", \"-l\"], \"cwd\": \"/tmp\", \"env\": [\"A=1\"],"
                             " \"user\": {\"uid\": 5}, \"terminal\": false}",
                             &p, &err);
  if (r < 0)
    printf("# %s\n", err.msg);
  CHECK(r == 0);
  CHECK_STR("-l", p.args[1]);
  CHECK_STR("/tmp", p.cwd);
  CHECK(p.user.uid == 5 && !p.terminal);
  spec_process_clear(&p);
  CHECK(p.args == NULL);

  CHECK(spec_parse_process("{\"args\": {}, \"cwd\": \"/\"}", &p, &err) == -EINVAL);
  CHECK_STR("args: expected an array of strings, not an object", err.msg);
  CHECK(spec_parse_process("{\"args\": [\"sh\"], \"cwd\": \"/\", \"rlimits\": "
                           "[{\"type\": \"RLIMIT_CPU\", \"soft\": 2, \"hard\": 1}]}",
                           &p, &err) == -EINVAL);
  CHECK_STR("rlimits[0]: soft limit 2 is above the hard limit 1", err.msg);
  CHECK(spec_parse_process("{\"args\": [\"sh\"]", &p, &err) == -EINVAL);
  CHECK_STR("invalid JSON at line 1: premature EOF", err.msg);
  CHECK(spec_parse_process("[1]", &p, &err) == -EINVAL);
  CHECK_STR("expected a JSON object, not an array", err.msg);
}

static void test_names(void) {
  CHECK_STR("network", spec_ns_names[SPEC_NS_NET]);
  CHECK_STR("time", spec_ns_names[SPEC_NS_TIME]);
  CHECK_STR("prestart", spec_hook_names[SPEC_HOOK_PRESTART]);
  CHECK_STR("startContainer", spec_hook_names[SPEC_HOOK_START_CONTAINER]);
  CHECK_STR("poststop", spec_hook_names[SPEC_HOOK_POSTSTOP]);
}

int main(void) {
  snprintf(bundle, sizeof(bundle), "/tmp/unit-spec.XXXXXX");
  if (!mkdtemp(bundle)) {
    perror("mkdtemp");
    return 1;
  }
  run("full_config", test_full_config);
  run("minimal_config", test_minimal_config);
  run("bad_inputs", test_bad_inputs);
  run("duplicate_keys_last_wins", test_duplicate_keys_last_wins);
  run("load_missing", test_load_missing);
  run("load_file", test_load_file);
  run("default_rootful", test_default_rootful);
  run("default_rootless", test_default_rootless);
  run("parse_process", test_parse_process);
  run("names", test_names);
  rmdir(bundle);
  return failures ? 1 : 0;
}
