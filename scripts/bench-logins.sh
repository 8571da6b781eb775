#!/usr/bin/env bash
# Login benchmark: 100 codename logins (half known, half unknown) against `sanduq serve` at
# the default argon2id cost (m = 64 MiB, t = 3, p = 1, at most 2 at once), 8 clients at a time.
# Prints the time per login for known and unknown codenames and the server's RSS after the
# run and at its peak. Goal: RSS <= 64 MiB + cap x m (= 192 MiB with the defaults).
#
#   bash scripts/bench-logins.sh [LOGINS]      (default 100)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100}
for tool in curl bc; do
  if ! command -v "$tool" >/dev/null; then
    sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$tool" >/dev/null
  fi
done
cargo build --release --quiet
bin=$PWD/target/release/sanduq
work=$PWD/target/bench-logins
rm -rf "$work"; mkdir -p "$work"
trap 'kill $server_pid 2>/dev/null || true; rm -rf "$work"' EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
"$bin" init --dir "$work/data" 2>/dev/null
src=$(port); api=$(port)
sed -i "s/127.0.0.1:8080/127.0.0.1:$src/; s/127.0.0.1:8081/127.0.0.1:$api/" "$work/data/sanduq.toml"
recipient=$("$bin" keygen -o "$work/editor.key")
"$bin" admin editor add --config "$work/data/sanduq.toml" --name bench --recipient "$recipient" >/dev/null 2>&1
SANDUQ_LOG=warn "$bin" serve --config "$work/data/sanduq.toml" &
server_pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$src/" && break; sleep 0.1; done

jar="$work/jar"
token=$(curl -s -c "$jar" "http://127.0.0.1:$src/" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p')
codename=$(curl -s -b "$jar" -F "csrf_token=$token" -F "message=benchmark" "http://127.0.0.1:$src/submit" \
  | sed -n 's/.*id="codename">\([^<]*\)<.*/\1/p')
[ -n "$codename" ] || { echo "no codename received" >&2; exit 1; }
rss() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$server_pid/status"; }
echo "== server RSS before logins: $(( $(rss VmRSS) / 1024 )) MiB"

login() { # $1: codename; prints status and seconds
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -b "$jar" \
    --data-urlencode "csrf_token=$token" --data-urlencode "codename=$1" "http://127.0.0.1:$src/login"
}
export -f login; export jar token src
unknown="abacus zoom drop-down yo-yo t-shirt felt-tip abdomen"
start=$(date +%s.%N)
{ for i in $(seq "$n"); do if [ $((i % 2)) = 0 ]; then echo "K"; else echo "U"; fi; done; } \
  | xargs -P 8 -I{} bash -c 'if [ {} = K ]; then r=$(login "$0"); echo "known $r"; else r=$(login "$1"); echo "unknown $r"; fi' "$codename" "$unknown" \
  > "$work/results"
end=$(date +%s.%N)
echo "== $n logins, 8 clients at a time, in $(printf '%.1f' "$(echo "$end - $start" | bc)") s"
awk '$1 == "known" { k++; kt += $3; ks[$2]++ } $1 == "unknown" { u++; ut += $3; us[$2]++ }
     END { printf "known codenames:   %d, mean %.3f s per login (HTTP", k, kt/k; for (s in ks) printf " %s x%d", s, ks[s]; print ")";
           printf "unknown codenames: %d, mean %.3f s per login (HTTP", u, ut/u; for (s in us) printf " %s x%d", s, us[s]; print ")" }' "$work/results"
after=$(rss VmRSS); peak=$(rss VmHWM)
echo "server RSS after: $((after / 1024)) MiB; peak: $((peak / 1024)) MiB; goal <= 192 MiB (64 + 2 x 64)"
