#!/usr/bin/env bash
# Ingest benchmark: one 1 GiB upload through a running `sanduq serve` over loopback, against
# the reference `age` CLI encrypting the same file to the same disk followed by `sync`.
# Prints both times, the throughput ratio and the server's peak RSS. A benchmark, not a test:
# the figures depend on the machine and its load.
#
#   bash scripts/bench-ingest.sh [SIZE_MIB] [ROUNDS]      (defaults: 1024, 3)
#   PQ=1 bash scripts/bench-ingest.sh …   the desk's editor has a post-quantum key (age1pq1);
#   the reference age CLI (1.1.1 cannot use those) keeps a classical one.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
rounds=${2:-3}

for tool in age curl bc; do
  if ! command -v "$tool" >/dev/null; then
    sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$tool" >/dev/null
  fi
done
cargo build --release --quiet
bin=$PWD/target/release/sanduq

work=$PWD/target/bench-ingest
rm -rf "$work"; mkdir -p "$work"
trap 'kill $server_pid 2>/dev/null || true; rm -rf "$work"' EXIT

echo "== preparing a ${size_mib} MiB file of random bytes"
head -c $((size_mib * 1024 * 1024)) /dev/urandom > "$work/input.bin"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
"$bin" init --dir "$work/data" 2>/dev/null
src_port=$(port); api_port=$(port)
sed -i "s/127.0.0.1:8080/127.0.0.1:$src_port/; s/127.0.0.1:8081/127.0.0.1:$api_port/" "$work/data/sanduq.toml"
[ -z "${BENCH_CONFIG_SED:-}" ] || sed -i "$BENCH_CONFIG_SED" "$work/data/sanduq.toml"  # for experiments
recipient=$("$bin" keygen -o "$work/editor.key")
desk_recipient=$recipient
if [ "${PQ:-0}" = 1 ]; then
  desk_recipient=$("$bin" keygen --pq -o "$work/editor-pq.key")
  echo "== the desk's editor key is post-quantum (age1pq1…)"
fi
"$bin" admin editor add --config "$work/data/sanduq.toml" --name bench --recipient "$desk_recipient" >/dev/null 2>&1
SANDUQ_LOG=warn "$bin" serve --config "$work/data/sanduq.toml" &
server_pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$src_port/" && break; sleep 0.1; done

now() { date +%s.%N; }
upload() {
  local jar="$work/jar" token
  token=$(curl -s -c "$jar" "http://127.0.0.1:$src_port/" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p')
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" -F "csrf_token=$token" \
    -F "file=@$work/input.bin;type=application/octet-stream" "http://127.0.0.1:$src_port/submit")
  [ "$code" = 200 ] || { echo "upload failed: HTTP $code" >&2; exit 1; }
}

echo "== warm-up (not counted): one age run and one upload"
sync; age -r "$recipient" -o "$work/ref.age" "$work/input.bin"; rm -f "$work/ref.age"; upload
find "$work/data/blobs/items" -name '*.age' -delete; sync

echo "== $rounds rounds, each: age CLI file->file + sync, then one upload to sanduq"
declare -a t_age t_sdq
for r in $(seq "$rounds"); do
  sync
  t0=$(now); age -r "$recipient" -o "$work/ref.age" "$work/input.bin"; sync; t1=$(now)
  rm -f "$work/ref.age"; sync
  t2=$(now); upload; t3=$(now)
  t_age+=("$(echo "$t1 - $t0" | bc -l)")
  t_sdq+=("$(echo "$t3 - $t2" | bc -l)")
  printf 'round %d: age %.2f s, sanduq %.2f s\n' "$r" "${t_age[-1]}" "${t_sdq[-1]}"
  # Keep the disk from filling: drop this round's stored ciphertext.
  find "$work/data/blobs/items" -name '*.age' -delete
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ma=$(median "${t_age[@]}"); ms=$(median "${t_sdq[@]}")
peak_kib=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")
echo
echo "== results (median of $rounds, ${size_mib} MiB)"
printf 'age CLI, file->file + sync : %6.2f s  %7.1f MiB/s\n' "$ma" "$(echo "$size_mib / $ma" | bc -l)"
printf 'sanduq, upload over loopback: %6.2f s  %7.1f MiB/s\n' "$ms" "$(echo "$size_mib / $ms" | bc -l)"
printf 'throughput ratio sanduq/age : %6.2f   (goal >= 0.90)\n' "$(echo "$ma / $ms" | bc -l)"
printf 'server peak RSS             : %6.1f MiB (goal <= 64 MiB)\n' "$(echo "$peak_kib / 1024" | bc -l)"
