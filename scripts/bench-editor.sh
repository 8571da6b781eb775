#!/usr/bin/env bash
# Editor-side benchmarks against a running `sanduq serve` on loopback:
#   1. `sanduq fetch` of ITEMS small items (goal: 10,000 in at most 10 s);
#   2. `sanduq decrypt` of a bundle of 1,000 items totalling 1 GiB, against the reference
#      `age -d` decrypting the same 1,000 content files (goal: at most 1.2x its time);
#   3. `sanduq fetch` of ITEMS items of 1 KiB through a Tor-like link (300 ms round trip,
#      1 MB/s each way), before and after batches, and with nothing new (goals: at most 60 s
#      and 2 s): scripts/bench-sync.sh, run here after the two above. SLOW_LINK=0 skips it.
# A benchmark, not a test: the figures depend on the machine and its load.
#
#   bash scripts/bench-editor.sh [ITEMS] [DECRYPT_ITEMS] [DECRYPT_ITEM_KIB]
#   (defaults: 10000, 1000, 1024; DECRYPT_ITEMS 0 skips the decrypt benchmark)
#   BLOBS=s3 bash scripts/bench-editor.sh …   the ciphertext is in a single-node Garage on
#   loopback instead of the install's folder.
set -euo pipefail
cd "$(dirname "$0")/.."
items=${1:-10000}
dec_items=${2:-1000}
dec_kib=${3:-1024}

for tool in age curl bc; do
  if ! command -v "$tool" >/dev/null; then
    sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$tool" >/dev/null
  fi
done
cargo build --release --quiet
bin=$PWD/target/release/sanduq

work=$PWD/target/bench-editor
rm -rf "$work"; mkdir -p "$work"
. scripts/bench-store.sh
trap 'kill $server_pid 2>/dev/null || true; store_stop "$work"; rm -rf "$work"' EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
start_server() {  # $1: data dir name, $2: max_files
  "$bin" init --dir "$work/$1" 2>/dev/null
  src_port=$(port); api_port=$(port)
  sed -i "s/127.0.0.1:8080/127.0.0.1:$src_port/; s/127.0.0.1:8081/127.0.0.1:$api_port/; s/^max_files = 100$/max_files = $2/" "$work/$1/sanduq.toml"
  store_init "$work" "$work/$1/sanduq.toml"
  "$bin" admin editor add --config "$work/$1/sanduq.toml" --name bench --recipient "$recipient" > "$work/$1.token" 2>/dev/null
  SANDUQ_LOG=warn "$bin" serve --config "$work/$1/sanduq.toml" &
  server_pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$src_port/" && break; sleep 0.1; done
  jar="$work/$1.jar"
  token=$(curl -s -c "$jar" "http://127.0.0.1:$src_port/" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p')
}
# One multipart request carrying $1 files of $2 bytes each (random), from a new source.
post_files() {
  python3 - "$1" "$2" "$token" > "$work/body.bin" <<'PY'
import os, sys
n, size, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
b = b"benchBOUNDARY"
out = sys.stdout.buffer
out.write(b"--" + b + b'\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n' + token.encode() + b"\r\n")
for i in range(n):
    out.write(b"--" + b + b'\r\nContent-Disposition: form-data; name="file"; filename="f%d.bin"\r\nContent-Type: application/octet-stream\r\n\r\n' % i)
    out.write(os.urandom(size) + b"\r\n")
out.write(b"--" + b + b"--\r\n")
PY
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" -H 'Content-Type: multipart/form-data; boundary=benchBOUNDARY' \
    --data-binary "@$work/body.bin" "http://127.0.0.1:$src_port/submit")
  [ "$code" = 200 ] || { echo "upload failed: HTTP $code" >&2; exit 1; }
}

recipient=$("$bin" keygen -o "$work/editor.key")

echo "== fetch: $items small items"
start_server fetchdata 100
# In submissions of 100 files (the default limit), as sources send them: each item's encrypted
# metadata lists the items of its submission, so one 10,000-file submission would make every
# metadata file 330 KiB.
left=$items
while [ "$left" -gt 0 ]; do
  n=$(( left > 100 ? 100 : left ))
  post_files "$n" 100
  left=$((left - n))
done
t0=$(now)
"$bin" fetch --server "http://127.0.0.1:$api_port" --token-file "$work/fetchdata.token" --bundle "$work/fetch-bundle" >/dev/null
t1=$(now)
fetched=$(find "$work/fetch-bundle/items" -name '*.meta.age' | wc -l)
t_fetch=$(echo "$t1 - $t0" | bc -l)
t0=$(now)
"$bin" fetch --server "http://127.0.0.1:$api_port" --token-file "$work/fetchdata.token" --bundle "$work/fetch-bundle" >/dev/null
t1=$(now)
t_refetch=$(echo "$t1 - $t0" | bc -l)
kill $server_pid; wait $server_pid 2>/dev/null || true

echo
printf 'fetch of %d items (blobs: %s): %.2f s (goal <= 10 s for 10,000); a second fetch with nothing new: %.2f s\n' \
  "$fetched" "${BLOBS:-fs}" "$t_fetch" "$t_refetch"
[ "$dec_items" -gt 0 ] || exit 0

echo "== decrypt: $dec_items items of $dec_kib KiB"
start_server decdata 100
left=$dec_items
while [ "$left" -gt 0 ]; do
  n=$(( left > 100 ? 100 : left ))
  post_files "$n" $((dec_kib * 1024))
  left=$((left - n))
done
"$bin" fetch --server "http://127.0.0.1:$api_port" --token-file "$work/decdata.token" --bundle "$work/dec-bundle" >/dev/null
kill $server_pid; wait $server_pid 2>/dev/null || true
sync
t0=$(now)
"$bin" decrypt -i "$work/editor.key" --bundle "$work/dec-bundle" --out "$work/dec-out" >/dev/null
sync; t1=$(now)
t_sdq=$(echo "$t1 - $t0" | bc -l)
mkdir -p "$work/age-out"
t0=$(now)
for f in "$work"/dec-bundle/items/*.age; do
  case "$f" in *.meta.age) continue ;; esac
  age -d -i "$work/editor.key" -o "$work/age-out/$(basename "$f" .age)" "$f"
done
sync; t1=$(now)
t_age=$(echo "$t1 - $t0" | bc -l)
decrypted=$(find "$work/dec-out" -name 'f*.bin' | wc -l)

echo
echo "== results"
printf 'decrypt of %d items      : sanduq %.2f s, age -d %.2f s, ratio %.2f (goal <= 1.2); %d files written\n' \
  "$dec_items" "$t_sdq" "$t_age" "$(echo "$t_sdq / $t_age" | bc -l)" "$decrypted"

if [ "${SLOW_LINK:-1}" != 0 ]; then
  echo
  echo "== fetch through a Tor-like link (scripts/bench-sync.sh $items)"
  bash scripts/bench-sync.sh "$items"
fi
