# What an image's config asks of launch beyond its command: a non-root
# User, Volumes, ExposedPorts.
TEST_TIMEOUT=120

source "$NOOK_SRC/tests/workflow/launch-lib.sh"

test_image_user_owns_its_files() {
  make_launch_image
  layer_with_files layer.tar /home/app:1000:1000 /home/app/notes:1000:1000:mine \
    /opt:0:0 /opt/rootfile:0:0:root
  derived_image usr layer.tar -- --config.user 1000:1000
  local out
  out=$("$NOOK" launch --rm usr:1 sh -c 'id -u; id -g; stat -c %u:%g /home/app/notes /opt/rootfile;
    echo more >>/home/app/notes && echo wrote; touch /home/app/new && stat -c %u:%g /home/app/new;
    echo x >>/opt/rootfile 2>/dev/null || echo denied')
  assert_eq "1000 1000 1000:1000 0:0 wrote 1000:1000 denied" "$(echo $out)" "the image's user"
  # -u over the image's: another id of the subordinate range
  out=$("$NOOK" launch --rm -u 2000:3000 usr:1 sh -c 'id -u; id -g; touch /tmp/f; stat -c %u:%g /tmp/f')
  assert_eq "2000 3000 2000:3000" "$(echo $out)" "-u with ids"
  out=$("$NOOK" launch --rm -u app usr:1 sh -c 'echo more >>/home/app/notes && echo wrote')
  assert_eq wrote "$out" "-u by name"
  assert_fails "$NOOK" launch --rm -u 1000:nogroup usr:1 true
  assert_contains "$assert_output" "nogroup"
  assert_fails "$NOOK" launch --rm -u 70000 usr:1 true
  assert_eq 1 "$(wc -l <<<"$assert_output")" "one error line"
  assert_contains "$assert_output" "uid 70000 is not mapped into the container"
}

test_image_volumes_get_anonymous_volumes() {
  make_launch_image
  layer_with_files layer.tar /data:1000:1000 /data/seed:1000:1000:from-image /data/sub:0:0 \
    /data/sub/deep:0:0:deep /logs:0:0
  derived_image vol layer.tar -- --config.volume /data --config.volume /logs/ --config.volume /new
  local id out
  id=$(unique_id vol)
  out=$("$NOOK" launch --name "$id" vol:1 sh -c 'cat /data/seed /data/sub/deep; stat -c %u:%g /data /data/seed;
    echo written >/data/out; echo more >>/data/seed; echo log >/logs/l; ls -A /new; grep -c " /data " /proc/mounts')
  assert_eq "from-image deep 1000:1000 1000:1000 1" "$(echo $out)" "seeded from the image"
  local vols=$NOOK_STORAGE/containers/$id/volumes upper=$NOOK_STORAGE/containers/$id/upper
  assert_eq written "$(cat "$vols/0/out")" "the write is in the volume"
  assert_eq "from-image more" "$(echo $(cat "$vols/0/seed"))" "the changed seed file"
  assert_eq log "$(cat "$vols/1/l")" "second volume"
  [ -d "$vols/2" ] || fail "no volume for a path the image does not have"
  [ ! -e "$upper/data" ] && [ ! -e "$upper/logs" ] || fail "volume writes reached the upper dir"
  "$NOOK" rm "$id" >/dev/null
  assert_nothing_left "$id"
  # a -v on the same path replaces the volume; --rm takes the volumes too
  mkdir host
  id=$(unique_id vol2)
  "$NOOK" launch --rm --name "$id" -v "$TEST_TMP/host:/data" vol:1 sh -c 'ls -A /data; echo h >/data/h'
  assert_eq h "$(cat host/h)" "-v over an image volume"
  assert_nothing_left "$id"
  # a -v inside an image volume goes over it; an image volume inside a -v
  # over that
  mkdir inner outer
  echo in >inner/i
  out=$("$NOOK" launch --rm -v "$TEST_TMP/inner:/data/sub" vol:1 sh -c 'cat /data/seed /data/sub/i')
  assert_eq "from-image in" "$(echo $out)" "-v inside an image volume"
  derived_image nested -- --config.volume /srv/cache
  id=$(unique_id vol4)
  "$NOOK" launch --name "$id" -v "$TEST_TMP/outer:/srv" nested:1 sh -c 'echo c >/srv/cache/x'
  assert_eq c "$(cat "$NOOK_STORAGE/containers/$id/volumes/0/x")" "image volume inside a -v"
  [ ! -e outer/cache/x ] || fail "the image volume inside a -v was hidden by it"
  "$NOOK" rm "$id" >/dev/null
  id=$(unique_id vol3)
  "$NOOK" launch -d --rm --name "$id" vol:1 sh -c 'echo x >/data/x' >/dev/null
  wait_for "[ ! -e \"\${XDG_RUNTIME_DIR}/nook/$id\" ]"
  assert_nothing_left "$id"
  # seeded the same through the FUSE overlay
  out=$(NOOK_OVERLAY_DRIVER=fuse "$NOOK" launch --rm vol:1 sh -c 'cat /data/seed; stat -c %u /data/seed; ls /')
  assert_eq "from-image 1000" "$(head -2 <<<"$out" | tr '\n' ' ' | sed 's/ $//')" "with the FUSE overlay"
}

# A volume is seeded with what the image has there as it is: hard links
# stay links, user xattrs, modes, owners and times are kept, and symlinks
# are copied as links, never followed out of the image. Checked inside the
# container, with a static probe for the xattr (busybox has no getfattr).
test_image_volume_seed_keeps_links_xattrs_symlinks() {
  make_launch_image
  printf '%s\n' '#include <stdio.h>' '#include <sys/xattr.h>' \
    'int main(int c, char **v) { char b[256]; ssize_t n = getxattr(v[1], v[2], b, 255);' \
    '  if (n < 0) { perror(v[1]); return 1; } b[n] = 0; puts(b); return 0; }' >getx.c
  gcc -static -O1 -o getx getx.c 2>gcc.err || skip "cannot link a static probe: $(tail -1 gcc.err)"
  python3 - <<'PY'
import tarfile
def entry(path, kind=tarfile.REGTYPE, mode=0o644, uid=0, gid=0, link="", xattrs=None):
    ti = tarfile.TarInfo(path)
    ti.type, ti.mode, ti.uid, ti.gid, ti.linkname, ti.mtime = kind, mode, uid, gid, link, 1700000000
    ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in (xattrs or {}).items()}
    return ti
with tarfile.open("layer.tar", "w", format=tarfile.PAX_FORMAT) as t:
    for d in ("usr", "usr/bin"):
        t.addfile(entry(d, tarfile.DIRTYPE, 0o755))
    probe = entry("usr/bin/getx", mode=0o755)
    data = open("getx", "rb").read()
    probe.size = len(data)
    import io
    t.addfile(probe, io.BytesIO(data))
    t.addfile(entry("data", tarfile.DIRTYPE, 0o755, 1000, 1000))
    t.addfile(entry("data/sub", tarfile.DIRTYPE, 0o755, 1000, 1000))
    a = entry("data/a", mode=0o640, uid=1000, gid=1000, xattrs={"user.note": "kept"})
    a.size = 7
    t.addfile(a, io.BytesIO(b"linked\n"))
    t.addfile(entry("data/sub/b", tarfile.LNKTYPE, link="data/a"))
    t.addfile(entry("data/escape", tarfile.SYMTYPE, 0o777, 1000, 1000, link="../../../../../../../etc"))
    t.addfile(entry("data/sub/abs", tarfile.SYMTYPE, 0o777, link="/etc/passwd"))
PY
  derived_image seed layer.tar -- --config.volume /data
  local id out driver vols
  for driver in native fuse; do
    if [ $driver = fuse ] && [ ! -x "$NOOK_BUILD/nook-fuse-overlayfs" ]; then
      continue
    fi
    id=$(unique_id seed-$driver)
    out=$(NOOK_OVERLAY_DRIVER=$driver "$NOOK" launch --name "$id" seed:1 sh -c '
      stat -c "%i" /data/a /data/sub/b | uniq | wc -l; stat -c "%h %a %u:%g %Y" /data/a
      stat -c "%a %u:%g %Y" /data /data/sub; getx /data/sub/b user.note
      readlink /data/escape; readlink /data/sub/abs; stat -c "%u:%g" /data/escape
      echo more >>/data/sub/b; cat /data/a; grep -c " /data " /proc/mounts')
    assert_eq "1|2 640 1000:1000 1700000000|755 1000:1000 1700000000|755 1000:1000 1700000000|kept|../../../../../../../etc|/etc/passwd|1000:1000|linked|more|1" \
      "$(paste -sd'|' <<<"$out")" "the seeded volume inside the container ($driver overlay)"
    echo "$driver overlay: $out" | paste -sd" "
    vols=$NOOK_STORAGE/containers/$id/volumes
    [ -L "$vols/0/escape" ] || fail "$driver: the link out of the image was not copied as a link"
    assert_eq "a abs b escape sub" "$(cd "$vols/0" && find . -mindepth 1 -printf '%f\n' | sort | paste -sd' ')" \
      "$driver: what the volume holds (nothing from outside the image)"
    "$NOOK" rm "$id" >/dev/null
  done
}

test_publish_all_exposed_ports() {
  make_launch_image
  net_available
  derived_image web -- --config.exposedports 80/tcp --config.exposedports 53/udp \
    --config.exposedports 8125/udp --config.cmd httpd --config.cmd -f --config.cmd -p \
    --config.cmd 80 --config.cmd -h --config.cmd /srv
  local id fixed host_port out
  fixed=$(free_port udp)
  id=$("$NOOK" launch -d -P -p "127.0.0.1:$fixed:8125/udp" web:1)
  out=$("$NOOK" port "$id")
  assert_eq 3 "$(wc -l <<<"$out")" "one line per port: $out"
  assert_contains "$out" "8125/udp -> 127.0.0.1:$fixed" "the -p one kept"
  [[ $out =~ 80/tcp\ -\>\ 0\.0\.0\.0:([0-9]+) ]] || fail "no 80/tcp mapping in: $out"
  host_port=${BASH_REMATCH[1]}
  [[ $out =~ 53/udp\ -\>\ 0\.0\.0\.0:[0-9]+ ]] || fail "no 53/udp mapping in: $out"
  assert_eq "0.0.0.0:$host_port" "$("$NOOK" port "$id" 80)" "port ID 80"
  assert_eq "0.0.0.0:$host_port" "$("$NOOK" port "$id" 80/tcp)" "port ID 80/tcp"
  wait_for "python3 -c 'import urllib.request,sys; sys.exit(0 if b\"hello-web\" in urllib.request.urlopen(\"http://127.0.0.1:$host_port/\", timeout=2).read() else 1)' 2>/dev/null" 15
  assert_contains "$("$NOOK" containers)" "0.0.0.0:$host_port->80/tcp" "ports column"
  assert_fails "$NOOK" port "$id" 81
  assert_contains "$assert_output" "does not publish 81/tcp"
  assert_fails "$NOOK" port "$id" http
  assert_contains "$assert_output" "is not a container port"
  assert_fails "$NOOK" port
  assert_eq 1 "$(wc -l <<<"$assert_output")" "one error line"
  "$NOOK" rm -f "$id" >/dev/null
  assert_nothing_left "$id"
  # -p without a host port: a free one, on the address given
  id=$("$NOOK" launch -d -p 80 -p 127.0.0.1::53/udp web:1)
  out=$("$NOOK" port "$id")
  [[ $out =~ 80/tcp\ -\>\ 0\.0\.0\.0:([0-9]+) ]] || fail "no 80/tcp mapping in: $out"
  host_port=${BASH_REMATCH[1]}
  [[ $out =~ 53/udp\ -\>\ 127\.0\.0\.1:[0-9]+ ]] || fail "no 53/udp mapping in: $out"
  wait_for "python3 -c 'import urllib.request,sys; sys.exit(0 if b\"hello-web\" in urllib.request.urlopen(\"http://127.0.0.1:$host_port/\", timeout=2).read() else 1)' 2>/dev/null" 15
  "$NOOK" rm -f "$id" >/dev/null
  assert_fails "$NOOK" launch --rm -p 127.0.0.1:x:80 web:1 true
  assert_contains "$assert_output" "-p: \`127.0.0.1:x:80\` is not"
  assert_fails "$NOOK" launch --rm -P --net none web:1 true
  assert_contains "$assert_output" "-P: publishing ports needs --net slirp"
  # an image without exposed ports: nothing published
  id=$("$NOOK" launch -d -P bb:1 sleep 30)
  assert_eq "" "$("$NOOK" port "$id")" "nothing exposed"
  "$NOOK" rm -f "$id" >/dev/null
}
