#!/usr/bin/env bash
# Load benchmark: N concurrent uploads of SIZE MiB each to a running `sanduq serve` over
# loopback, while a prober times the landing page. Prints the errors (goal 0), the total
# throughput, the landing page's p50/p99 latency meanwhile, and the server's peak RSS.
# A benchmark, not a test: the figures depend on the machine and its load.
#
#   bash scripts/bench-load.sh [UPLOADS] [SIZE_MIB]      (defaults: 200, 10)
set -euo pipefail
cd "$(dirname "$0")/.."
uploads=${1:-200}
size_mib=${2:-10}

for tool in curl bc; do
  if ! command -v "$tool" >/dev/null; then
    sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$tool" >/dev/null
  fi
done
cargo build --release --quiet
bin=$PWD/target/release/sanduq

work=$PWD/target/bench-load
rm -rf "$work"; mkdir -p "$work"
trap 'kill $server_pid $prober_pid 2>/dev/null || true; rm -rf "$work"' EXIT

head -c $((size_mib * 1024 * 1024)) /dev/urandom > "$work/input.bin"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
"$bin" init --dir "$work/data" 2>/dev/null
src_port=$(port); api_port=$(port)
sed -i "s/127.0.0.1:8080/127.0.0.1:$src_port/; s/127.0.0.1:8081/127.0.0.1:$api_port/" "$work/data/sanduq.toml"
[ -z "${BENCH_CONFIG_SED:-}" ] || sed -i "$BENCH_CONFIG_SED" "$work/data/sanduq.toml"
recipient=$("$bin" keygen -o "$work/editor.key")
"$bin" admin editor add --config "$work/data/sanduq.toml" --name bench --recipient "$recipient" >/dev/null 2>&1
SANDUQ_LOG=warn "$bin" serve --config "$work/data/sanduq.toml" &
server_pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$src_port/" && break; sleep 0.1; done

# One form token serves every upload: it is a double-submit cookie, not a one-time token.
jar="$work/jar"
token=$(curl -s -c "$jar" "http://127.0.0.1:$src_port/" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p')

# The prober: the landing page, every 50 ms, until stopped.
( while :; do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "http://127.0.0.1:$src_port/" >> "$work/probe.txt" || echo "000 0" >> "$work/probe.txt"
    sleep 0.05
  done ) &
prober_pid=$!

echo "== $uploads concurrent uploads of $size_mib MiB"
t0=$(date +%s.%N)
seq "$uploads" | xargs -P "$uploads" -I{} curl -s -o /dev/null -w '%{http_code}\n' --max-time 600 \
  -b "$jar" -F "csrf_token=$token" -F "file=@$work/input.bin;type=application/octet-stream" \
  "http://127.0.0.1:$src_port/submit" > "$work/codes.txt" || true
t1=$(date +%s.%N)
kill $prober_pid 2>/dev/null || true

ok=$(grep -c '^200$' "$work/codes.txt" || true)
errors=$((uploads - ok))
secs=$(echo "$t1 - $t0" | bc -l)
items=$(find "$work/data/blobs/items" -name '*.age' ! -name '*.meta.age' | wc -l)
pct() { sort -g | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p/100); if (i<1) i=1; print a[i]}'; }
probe_ok=$(awk '$1==200' "$work/probe.txt" | wc -l)
probe_all=$(wc -l < "$work/probe.txt")
p50=$(awk '$1==200 {print $2}' "$work/probe.txt" | pct 50)
p99=$(awk '$1==200 {print $2}' "$work/probe.txt" | pct 99)
peak_kib=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")
echo
echo "== results"
printf 'uploads answered 200     : %d of %d (errors: %d, goal 0); items stored: %d\n' "$ok" "$uploads" "$errors" "$items"
printf 'wall time                : %.1f s, %.1f MiB/s in all\n' "$secs" "$(echo "$uploads * $size_mib / $secs" | bc -l)"
printf 'landing page meanwhile   : %d of %d probes 200; p50 %.3f s, p99 %.3f s\n' "$probe_ok" "$probe_all" "$p50" "$p99"
printf 'server peak RSS          : %.1f MiB\n' "$(echo "$peak_kib / 1024" | bc -l)"
