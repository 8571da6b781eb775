#!/usr/bin/env bash
# `sanduq fetch` over a Tor-like link: 300 ms round trip (150 ms each way, per chunk, as a
# delay line) and 1 MB/s (10^6 bytes/s) each way, put between fetch and the editor API by
# examples/slowlink.rs (the proxy of tests/common/slowlink.rs).
# A benchmark, not a test: it prints figures; the goals are in docs/performance.md.
#
#   bash scripts/bench-sync.sh [ITEMS] [BEFORE_ITEMS] [PER_SUBMISSION]
#   (defaults: 10000, 1000, 10)
#
# "before" is fetch with SANDUQ_FETCH_PER_OBJECT=1: the code path sanduq used before batches
# (two requests per item, eight in flight, the whole listing every time). It takes minutes
# over the link, so it fetches BEFORE_ITEMS items and the figure for ITEMS is extrapolated
# (linearly: it is round-trip bound); BEFORE_ITEMS=ITEMS measures it whole.
# "after" is today's fetch: batches of small items, and a conditional listing.
# Items are 1 KiB files, PER_SUBMISSION to a submission (each item's encrypted metadata lists
# its submission's files, so larger submissions make larger items).
set -euo pipefail
cd "$(dirname "$0")/.."
items=${1:-10000}
before_items=${2:-1000}
per=${3:-10}

for tool in curl bc python3; do
  command -v "$tool" >/dev/null || { echo "bench-sync needs $tool" >&2; exit 1; }
done
# PROFILE=debug runs the debug build (to try the script quickly; figures are from release).
profile=${PROFILE:-release}
if [ "$profile" = release ]; then
  cargo build --release --quiet --bin sanduq --example slowlink
else
  cargo build --quiet --bin sanduq --example slowlink
fi
target=${CARGO_TARGET_DIR:-$PWD/target}
bin=$target/$profile/sanduq
slowlink=$target/$profile/examples/slowlink

work=$target/bench-sync
rm -rf "$work"; mkdir -p "$work"
server_pid=""; link_pid=""
stop() { for p in $link_pid $server_pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; server_pid=""; link_pid=""; }
trap 'stop; rm -rf "$work"' EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l; }
recipient=$("$bin" keygen -o "$work/editor.key")

# A server holding $2 items of 1 KiB, and a slow link in front of its editor API.
start() {  # $1: name, $2: items
  "$bin" init --dir "$work/$1" 2>/dev/null
  local src_port api_port
  src_port=$(port); api_port=$(port)
  # Every submission makes a new source, whose codename costs an argon2 derivation: at test
  # cost here (as the integration tests do), since only fetch is measured.
  sed -i "s/127.0.0.1:8080/127.0.0.1:$src_port/; s/127.0.0.1:8081/127.0.0.1:$api_port/; s/^memory_kib = 65536$/memory_kib = 1024\nweak_cost_for_tests = true/" "$work/$1/sanduq.toml"
  "$bin" admin editor add --config "$work/$1/sanduq.toml" --name bench --recipient "$recipient" > "$work/$1.token" 2>/dev/null
  SANDUQ_LOG=warn "$bin" serve --config "$work/$1/sanduq.toml" &
  server_pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$src_port/" && break; sleep 0.1; done
  python3 - "$2" "$per" "http://127.0.0.1:$src_port" <<'PY'
import http.cookiejar, os, re, sys, urllib.request
n, per, base = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
b = b"benchBOUNDARY"
while n > 0:
    k = min(per, n); n -= k
    # A new visitor (cookie jar) per submission: a new source each time.
    op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    token = re.search(rb'name="csrf_token" value="([^"]*)"', op.open(base + "/").read()).group(1)
    body = b"--" + b + b'\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n' + token + b"\r\n"
    for i in range(k):
        body += b"--" + b + b'\r\nContent-Disposition: form-data; name="file"; filename="f%d.bin"\r\nContent-Type: application/octet-stream\r\n\r\n' % i
        body += os.urandom(1024) + b"\r\n"
    body += b"--" + b + b"--\r\n"
    req = urllib.request.Request(base + "/submit", data=body, headers={"Content-Type": "multipart/form-data; boundary=benchBOUNDARY"})
    assert op.open(req).status == 200
PY
  rm -f "$work/link.addr"
  "$slowlink" "127.0.0.1:$api_port" > "$work/link.addr" &
  link_pid=$!
  for _ in $(seq 100); do [ -s "$work/link.addr" ] && break; sleep 0.1; done
  link="http://$(cat "$work/link.addr")"
}
# Times one fetch of server $1 through the link into bundle $2; extra env in $3.
timed_fetch() {
  local t0
  t0=$(now)
  env $3 "$bin" fetch --server "$link" --token-file "$work/$1.token" --bundle "$work/$2" 2>"$work/fetch.err" \
    || { cat "$work/fetch.err" >&2; exit 1; }
  since "$t0"
}
count() { find "$work/$1/items" -name '*.meta.age' | wc -l; }

echo "== before: per-object fetch of $before_items items through the link"
start small "$before_items"
t_before=$(timed_fetch small before-small SANDUQ_FETCH_PER_OBJECT=1)
n_before=$(count before-small)
t_after_small=$(timed_fetch small after-small "")
stop

echo "== after: fetch of $items items through the link"
start big "$items"
t_after=$(timed_fetch big after-big "")
n_after=$(count after-big)
t_after_nothing=$(timed_fetch big after-big "")
t_before_nothing=$(timed_fetch big after-big SANDUQ_FETCH_PER_OBJECT=1)
bytes=$(du -sb "$work/after-big/items" | cut -f1)
stop

echo
row() { printf '%-46s %8.2f s  %s\n' "$1" "$2" "${3:-}"; }
echo "== results (300 ms RTT, 1 MB/s each way; 1 KiB files, $per per submission; $profile build)"
row "fetch of $n_before items, before (per object)" "$t_before"
if [ "$before_items" -ne "$items" ]; then
  row "fetch of $items items, before (per object)" "$(echo "$t_before * $items / $n_before" | bc -l)" \
    "(extrapolated from $n_before items)"
fi
row "fetch of $n_before items, after (batches)" "$t_after_small"
row "fetch of $n_after items, after (batches)" "$t_after" \
  "(goal <= 60 s; $(echo "scale=1; $bytes / 1000000" | bc) MB in the bundle)"
row "fetch with nothing new, $n_after items, before" "$t_before_nothing"
row "fetch with nothing new, $n_after items, after" "$t_after_nothing" "(goal <= 2 s)"
