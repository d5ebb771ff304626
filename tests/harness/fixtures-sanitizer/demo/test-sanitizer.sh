# Fixture for test-harness.sh: a sanitizer error in a command that a test
# expects to fail still fails the test. Not part of the suite.
test_overflow_in_an_expected_failure() {
  assert_fails "$FAULTY" overflow
}

test_leak_in_an_expected_failure() {
  assert_fails "$FAULTY" leak
}

test_clean_failure() {
  assert_fails "$FAULTY" clean
}
