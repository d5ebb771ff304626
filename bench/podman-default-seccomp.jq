# podman's default seccomp profile (containers-common seccomp.json) resolved
# to the OCI form podman hands a runtime for an x86_64 container with
# podman's default capabilities: includes/excludes applied, archMap turned
# into architectures.
def caps: ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
  "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
  "CAP_SYS_CHROOT"];
def has_cap: . as $c | caps | index($c) != null;
{
  defaultAction: .defaultAction,
  defaultErrnoRet: .defaultErrnoRet,
  architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  syscalls: [
    .syscalls[]
    | select(((.includes.caps // []) | all(has_cap))
        and ((.includes.arches // []) | (length == 0 or index("amd64") != null))
        and ((.excludes.caps // []) | any(has_cap) | not))
    | del(.includes, .excludes, .comment)
  ]
}
