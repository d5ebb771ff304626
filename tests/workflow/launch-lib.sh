# What the launch tests share (sourced by tests/workflow/test-*.sh).

# A busybox image in the test's own store: a user `app` (1000), /srv with an
# index page, a file that is not executable, and an image config with an
# env, a working dir and a command.
make_launch_image() {
  export NOOK_STORAGE=$TEST_TMP/store
  umoci init --layout oci >/dev/null
  umoci new --image oci:bb >/dev/null
  umoci unpack --rootless --image oci:bb ub >/dev/null
  cp -a "$BUSYBOX_ROOTFS/." ub/rootfs/
  chmod -R u+w ub/rootfs
  echo 'app:x:1000:1000:app:/home/app:/bin/sh' >>ub/rootfs/etc/passwd
  echo 'app:x:1000:' >>ub/rootfs/etc/group
  mkdir -p ub/rootfs/srv ub/rootfs/home/app
  echo hello-web >ub/rootfs/srv/index.html
  printf '#!/bin/sh\necho never\n' >ub/rootfs/srv/noexec
  chmod 644 ub/rootfs/srv/noexec
  umoci repack --image oci:bb ub >/dev/null
  rm -rf ub
  umoci config --image oci:bb --config.cmd sh --config.cmd -c --config.cmd 'echo from-image-cmd' \
    --config.env FOO=from-image --config.workingdir /srv >/dev/null
  "$NOOK" image import oci:bb bb:1 >/dev/null 2>&1 || "$NOOK" image import oci:bb bb:1
}

# What launch leaves for id: state, bundle, rootfs.
assert_nothing_left() { # ID
  local root=${XDG_RUNTIME_DIR:-/tmp/nook-$(id -u)}/nook
  [ ! -e "$root/$1" ] || fail "state of $1 is left"
  [ ! -e "$root/.launch/$1" ] || fail "bundle of $1 is left"
  [ ! -e "$root/.launch/$1.lock" ] || fail "the name lock of $1 is left"
  [ ! -e "$NOOK_STORAGE/containers/$1" ] || fail "rootfs (upper dir) of $1 is left"
}

launch_status() { # ID: the container's status as state says
  "$NOOK" state "$1" | jq -r .status
}

net_available() {
  [ -x "$NOOK_BUILD/nook-net" ] || skip "the network module (nook-net) is not in this build yet"
}

# layer_with_files TAR PATH:UID:GID[:CONTENT]...: an uncompressed layer
# whose entries have the given owners (a file when CONTENT is given, else a
# directory; a file gets a newline after CONTENT), as a rootless user cannot make them with tar.
layer_with_files() {
  python3 - "$@" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    for spec in sys.argv[2:]:
        path, uid, gid, *content = spec.split(":", 3)
        info = tarfile.TarInfo(path.lstrip("/"))
        info.uid, info.gid = int(uid), int(gid)
        if content:
            data = (content[0] + "\n").encode()
            info.size, info.mode = len(data), 0o644
            t.addfile(info, io.BytesIO(data))
        else:
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            t.addfile(info)
PY
}

# derived_image NAME [LAYER.tar] -- UMOCI-CONFIG-ARGS...: bb:1's layout
# (make_launch_image first) with one more layer and a changed config,
# imported as NAME:1.
derived_image() {
  local name=$1 layer=
  shift
  [ "$1" = -- ] || { layer=$1; shift; }
  shift
  umoci tag --image oci:bb "$name" >/dev/null
  [ -z "$layer" ] || umoci raw add-layer --image "oci:$name" "$layer" >/dev/null
  [ $# = 0 ] || umoci config --image "oci:$name" "$@" >/dev/null
  "$NOOK" image import "oci:$name" "$name:1" >/dev/null 2>&1 ||
    "$NOOK" image import "oci:$name" "$name:1"
}
