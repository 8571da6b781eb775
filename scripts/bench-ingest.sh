#!/usr/bin/env bash
# Ingest benchmark: one 1 GiB upload through a running `sanduq serve` over loopback, against
# the reference `age` CLI encrypting the same file to the same disk followed by `sync`.
# Prints both times, the throughput ratio and the server's peak RSS. A benchmark, not a test:
# the figures depend on the machine and its load.
#
#   bash scripts/bench-ingest.sh [SIZE_MIB] [ROUNDS]      (defaults: 1024, 3)
#   PQ=1 bash scripts/bench-ingest.sh …   the desk's editor has a post-quantum key (age1pq1);
#   the reference age CLI (1.1.1 cannot use those) keeps a classical one.
#   BLOBS=s3 bash scripts/bench-ingest.sh …   the ciphertext goes to a single-node Garage on
#   loopback (S3 multipart uploads), whose data folder is on the same disk.
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
. scripts/bench-store.sh
trap 'kill $server_pid 2>/dev/null || true; store_stop "$work"; rm -rf "$work"' EXIT

echo "== preparing a ${size_mib} MiB file of random bytes"
head -c $((size_mib * 1024 * 1024)) /dev/urandom > "$work/input.bin"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
"$bin" init --dir "$work/data" 2>/dev/null
src_port=$(port); api_port=$(port)
sed -i "s/127.0.0.1:8080/127.0.0.1:$src_port/; s/127.0.0.1:8081/127.0.0.1:$api_port/" "$work/data/sanduq.toml"
store_init "$work" "$work/data/sanduq.toml"
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
start_kib=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$server_pid/status")

now() { date +%s.%N; }
# One upload of the input file. With a session cookie (a returning source, logged in with its
# codename) the submission joins that source's record; without one it makes a new source,
# which costs one codename derivation (argon2id, 64 MiB), run while the file arrives.
upload() {
  local jar=$1 token code
  token=$(curl -s -b "$jar" -c "$jar" "http://127.0.0.1:$src_port/" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
  code=$(curl -s -o "$jar.page" -w '%{http_code}' -b "$jar" -F "csrf_token=$token" \
    -F "file=@$work/input.bin;type=application/octet-stream" "http://127.0.0.1:$src_port/submit")
  [ "$code" = 200 ] || { echo "upload failed: HTTP $code" >&2; exit 1; }
  # A returning source's upload must not have made a new source (a lost session would).
  if [ "$jar" = "$ret" ] && grep -q 'id="codename"' "$jar.page"; then
    echo "the returning source's session is gone: its upload made a new source" >&2; exit 1
  fi
}
status_kib() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$server_pid/status"; }
# Resets the server's peak RSS (VmHWM) so the next reading covers one upload only.
reset_peak() { echo 5 > "/proc/$server_pid/clear_refs"; }

echo "== a returning source: one small submission makes it, its codename logs it in"
ret="$work/returning"
csrf() { curl -s -b "$ret" -c "$ret" "http://127.0.0.1:$src_port/${1:-}" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1; }
codename=$(curl -s -b "$ret" -F "csrf_token=$(csrf)" -F "message=bench" "http://127.0.0.1:$src_port/submit" \
  | sed -n 's/.*id="codename">\([^<]*\)<.*/\1/p')
[ -n "$codename" ] || { echo "no codename on the confirmation page" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -b "$ret" -c "$ret" --data-urlencode "csrf_token=$(csrf login)" \
  --data-urlencode "codename=$codename" "http://127.0.0.1:$src_port/login")
[ "$code" = 303 ] || { echo "login failed: HTTP $code" >&2; exit 1; }

echo "== warm-up (not counted): one age run and one upload"
sync; age -r "$recipient" -o "$work/ref.age" "$work/input.bin"; rm -f "$work/ref.age"; upload "$work/new"
find "$work/data/blobs/items" -name '*.age' -delete; sync

echo "== $rounds rounds, each: age CLI file->file + sync, one upload from a new source, one from the returning source"
declare -a t_age t_new t_ret
peak_new=0; peak_ret=0
for r in $(seq "$rounds"); do
  sync
  t0=$(now); age -r "$recipient" -o "$work/ref.age" "$work/input.bin"; sync; t1=$(now)
  rm -f "$work/ref.age"; sync
  reset_peak
  rm -f "$work/new"; t2=$(now); upload "$work/new"; t3=$(now)
  p=$(status_kib VmHWM); [ "$p" -gt "$peak_new" ] && peak_new=$p
  find "$work/data/blobs/items" -name '*.age' -delete; sync
  reset_peak
  t4=$(now); upload "$ret"; t5=$(now)
  p=$(status_kib VmHWM); [ "$p" -gt "$peak_ret" ] && peak_ret=$p
  t_age+=("$(echo "$t1 - $t0" | bc -l)")
  t_new+=("$(echo "$t3 - $t2" | bc -l)")
  t_ret+=("$(echo "$t5 - $t4" | bc -l)")
  printf 'round %d: age %.2f s, sanduq new source %.2f s, returning source %.2f s\n' \
    "$r" "${t_age[-1]}" "${t_new[-1]}" "${t_ret[-1]}"
  # Keep the disk from filling: drop this round's stored ciphertext.
  find "$work/data/blobs/items" -name '*.age' -delete
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ma=$(median "${t_age[@]}"); mn=$(median "${t_new[@]}"); mr=$(median "${t_ret[@]}")
sleep 1
rest_kib=$(status_kib VmRSS)
echo
echo "== results (median of $rounds, ${size_mib} MiB, blobs: ${BLOBS:-fs})"
printf 'age CLI, file->file + sync             : %6.2f s  %7.1f MiB/s\n' "$ma" "$(echo "$size_mib / $ma" | bc -l)"
printf 'sanduq upload, new source              : %6.2f s  %7.1f MiB/s  ratio %.2f\n' "$mn" "$(echo "$size_mib / $mn" | bc -l)" "$(echo "$ma / $mn" | bc -l)"
printf 'sanduq upload, returning source        : %6.2f s  %7.1f MiB/s  ratio %.2f\n' "$mr" "$(echo "$size_mib / $mr" | bc -l)" "$(echo "$ma / $mr" | bc -l)"
echo   '(ratio = sanduq throughput / age CLI throughput; goal >= 0.90)'
printf 'server peak RSS, new-source upload     : %6.1f MiB (includes the codename derivation: argon2id, 64 MiB)\n' "$(echo "$peak_new / 1024" | bc -l)"
printf 'server peak RSS, returning-source upload: %6.1f MiB (goal <= 64 MiB)\n' "$(echo "$peak_ret / 1024" | bc -l)"
printf 'server RSS at start                    : %6.1f MiB\n' "$(echo "$start_kib / 1024" | bc -l)"
printf 'server RSS at rest afterwards          : %6.1f MiB (%s)\n' "$(echo "$rest_kib / 1024" | bc -l)" \
  "$(awk '$1 ~ /^Rss(Anon|File):$/ {printf "%s%s %.1f MiB", (n++ ? ", " : ""), $1, $2 / 1024}' "/proc/$server_pid/status")"
