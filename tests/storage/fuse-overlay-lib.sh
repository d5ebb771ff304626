# Helpers for the FUSE overlay tests: layer trees, mounting nook's FUSE
# overlay and the kernel's overlay inside a user namespace, and a listing of
# a tree that two overlays can be compared by.

fuse_bin() {
  local b="$NOOK_BUILD/nook-fuse-overlayfs"
  [ -x "$b" ] || fail "no $b: build nook first"
  echo "$b"
}

# native_overlay_works: whether this kernel mounts overlay with userxattr in
# a user namespace.
native_overlay_works() {
  mkdir -p "$TEST_TMP/probe"/{l,u,w,m}
  unshare -Urm sh -c "mount -t overlay overlay -o lowerdir=$TEST_TMP/probe/l,upperdir=$TEST_TMP/probe/u,workdir=$TEST_TMP/probe/w,userxattr $TEST_TMP/probe/m" 2>/dev/null
  local r=$?
  rm -rf "$TEST_TMP/probe"
  return $r
}

setxattr() { python3 -c 'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode(), follow_symlinks=False)' "$@"; }

# make_lowers DIR: two lower layers, DIR/l1 on top of DIR/l2, with every
# kind of entry, whiteouts and an opaque directory in the kernel's form.
make_lowers() {
  local d=$1
  mkdir -p "$d"/l1 "$d"/l2
  (
    cd "$d/l2"
    echo "lower a" > a
    echo "lower b content" > b
    echo c > c
    mkdir -p d/sub/deeper e rmd od emptydir emptylower keep
    echo dx > d/x; echo dy > d/y; echo z > d/sub/z; echo deep > d/sub/deeper/w
    echo ef > e/f; echo q > rmd/q; echo p > od/p; echo gone > gone
    ln -s a s
    ln -s /etc/passwd abs_link
    echo linked > hl1; ln hl1 hl2
    echo xa > xa; setxattr xa user.test hello; setxattr xa user.other 1
    chmod 640 c; chmod 711 keep
    echo s > suid_lower; chmod 4755 suid_lower
    mkfifo lowerfifo
    head -c 300000 /dev/urandom > big
  )
  (
    cd "$d/l1"
    echo "upper-lower a" > a
    mknod gone c 0 0
    mkdir od; setxattr od user.overlay.opaque y; echo newp > od/p2
    mkdir d; echo l1x > d/x
    echo only1 > only1
  )
}

# fuse_mount LOWER UPPER WORK MNT [OPTS]: nook's FUSE overlay, in the
# current namespace.
fuse_mount() {
  "$(fuse_bin)" -o "lowerdir=$1,upperdir=$2,workdir=$3${5:+,$5}" "$4"
}

# list_tree DIR [LOWERS]: one line per entry: path, type, mode, nlink (non
# directories), size and sha256 (files), link target, user xattrs. With
# LOWERS (colon list), DIR is an upper layer: whiteouts of either form read
# as "whiteout", and the opaque mark is listed only where a lower layer has
# a directory it hides.
list_tree() {
  python3 - "$@" <<'PY'
import hashlib, os, stat, sys
root = sys.argv[1]
lowers = sys.argv[2].split(":") if len(sys.argv) > 2 and sys.argv[2] else None
def xattrs(p):
    try:
        names = os.listxattr(p, follow_symlinks=False)
    except OSError:
        return []
    out = []
    for n in sorted(names):
        if not n.startswith("user.") or n.startswith("user.overlay."):
            continue
        out.append("%s=%s" % (n, os.getxattr(p, n, follow_symlinks=False).decode(errors="replace")))
    return out
def opaque(p, rel):
    o = False
    try:
        o = os.getxattr(p, "user.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        pass
    o = o or os.path.lexists(os.path.join(p, ".wh..wh..opq"))
    return o and any(os.path.isdir(os.path.join(l, rel)) and not os.path.islink(os.path.join(l, rel)) for l in lowers)
lines = []
for dirpath, dirs, files in os.walk(root):
    dirs.sort()
    for name in sorted(dirs + files):
        p = os.path.join(dirpath, name)
        rel = os.path.relpath(p, root)
        st = os.lstat(p)
        m = st.st_mode
        if lowers is not None:
            if name == ".wh..wh..opq":
                continue
            if name.startswith(".wh."):
                lines.append("%s whiteout" % os.path.join(os.path.dirname(rel), name[4:]).lstrip("./"))
                continue
            if stat.S_ISCHR(m) and st.st_rdev == 0:
                lines.append("%s whiteout" % rel)
                continue
        f = [rel, stat.filemode(m)]
        if stat.S_ISDIR(m):
            if lowers is not None and opaque(p, rel):
                f.append("opaque")
        else:
            f.append("nlink=%d" % st.st_nlink)
        if stat.S_ISREG(m):
            f.append("size=%d" % st.st_size)
            with open(p, "rb") as fh:
                f.append(hashlib.sha256(fh.read()).hexdigest()[:16])
        if stat.S_ISLNK(m):
            f.append("-> " + os.readlink(p))
        if stat.S_ISCHR(m) or stat.S_ISBLK(m):
            f.append("dev=%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))
        f += xattrs(p)
        lines.append(" ".join(f))
print("\n".join(sorted(lines)))
PY
}
