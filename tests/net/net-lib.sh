# What the network tests share (sourced by tests/net/test-*.sh).

# net_bundle DIR: a bundle with its own network namespace and nook.network=slirp.
net_bundle() {
  make_bundle "$1"
  cfg "$1" '.linux.namespaces += [{"type": "network"}] | .annotations["nook.network"] = "slirp"'
}


# nsx PID CMD...: runs a host command in PID's user and network namespaces.
nsx() { local p=$1; shift; nsenter --preserve-credentials -U -n -t "$p" "$@"; }

init_pid() { "$NOOK" state "$1" | jq -r .pid; }

# The nook-net processes serving a container whose init is PID (the helper
# and its child inside the container's namespaces).
helper_of() { pgrep -u "$(id -u)" -f "nook-net .* $1 tap0\$" | tr '\n' ' ' || true; }
all_gone() { for p in "$@"; do ! kill -0 "$p" 2>/dev/null || return 1; done; }

# start_detached ID BUNDLE: runs the container in the background (its init
# keeps running) and cleans it up when the test ends.
start_detached() {
  "$NOOK" run -d --bundle "$2" "$1" </dev/null >/dev/null
  trap "\"$NOOK\" delete -f $1 >/dev/null 2>&1 || true; kill \$(jobs -p) 2>/dev/null || true" EXIT
}

# peer_bundle DIR PORTS: a container whose httpd answers /cgi-bin/peer with
# the address its client connected from (CGI's REMOTE_ADDR).
peer_bundle() {
  net_bundle "$1"
  mkdir -p "$1/rootfs/www/cgi-bin"
  printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "$REMOTE_ADDR"\n' \
    >"$1/rootfs/www/cgi-bin/peer"
  chmod +x "$1/rootfs/www/cgi-bin/peer"
  cfg "$1" --arg p "$2" '.annotations["nook.ports"] = $p |
      .process.args = ["httpd", "-f", "-p", "8080", "-h", "/www"]'
}

# peer_seen URL CURL-ARGS...: the client address the container's httpd saw
# (it listens on IPv6 too, so an IPv4 client comes as [::ffff:A.B.C.D]).
peer_seen() {
  local url=$1
  shift
  curl -sf "$@" "$url" | sed 's/^\[::ffff:\(.*\)\]$/\1/'
}
