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
