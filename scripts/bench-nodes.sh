#!/usr/bin/env bash
# Load benchmark for several nodes: N concurrent uploads of SIZE MiB through HAProxy
# (deploy/haproxy.cfg, addresses replaced), first with 1 node behind it, then with 3 nodes,
# all on the same PostgreSQL and Garage. Each run prints the errors (goal 0), the throughput,
# the uploads' p50/p99 latency, and the landing page's p50/p99 latency meanwhile.
# A benchmark, not a test: the figures depend on the machine and its load.
#
#   bash scripts/bench-nodes.sh [UPLOADS] [SIZE_MIB]      (defaults: 200, 2)
set -euo pipefail
cd "$(dirname "$0")/.."
uploads=${1:-200}
size_mib=${2:-2}

for tool in curl bc haproxy; do
  if ! command -v "$tool" >/dev/null; then
    sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$tool" >/dev/null
  fi
done
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/sanduq
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

work=$(mktemp -d /tmp/bench-nodes.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  $as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
  bash scripts/garage.sh stop "$work/garage" || true
  rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# PostgreSQL: a throwaway cluster with default durability (fsync on), as in production.
as_pg=""
mkdir -p "$work/pg/sock"
if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$work/pg"; chmod 755 "$work"; as_pg="runuser -u postgres --"; fi
pg_port=$(port)
$as_pg "$pgbin/initdb" -D "$work/pg/data" -A trust -U sanduq -E UTF8 --locale=C >/dev/null
printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\n" \
  "$pg_port" "$work/pg/sock" | $as_pg tee -a "$work/pg/data/postgresql.conf" >/dev/null
$as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w start >/dev/null
"$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U sanduq sanduq
eval "$(bash scripts/garage.sh start "$work/garage")"

# Three nodes: own data directories and addresses, the same stores and pepper.
head -c $((size_mib * 1024 * 1024)) /dev/urandom > "$work/input.bin"
declare -a src api health
for i in 1 2 3; do
  "$bin" init --dir "$work/node$i" 2>/dev/null
  src[$i]=$(port); api[$i]=$(port); health[$i]=$(port)
  cfg=$work/node$i/sanduq.toml
  [ "$i" -eq 1 ] || sed -i "s|^pepper = .*|$(grep '^pepper = ' "$work/node1/sanduq.toml")|" "$cfg"
  sed -i -e "s/127.0.0.1:8080/127.0.0.1:${src[$i]}/; s/127.0.0.1:8081/127.0.0.1:${api[$i]}/" \
    -e "s|^\[store\]$|[store]\nmetadata = \"postgres://sanduq@127.0.0.1:$pg_port/sanduq\"\nblobs = \"s3://sanduq\"\ns3_endpoint = \"$SANDUQ_S3_ENDPOINT\"\ns3_region = \"garage\"|" \
    -e "s|^\[node\]$|[node]\nhealth = \"127.0.0.1:${health[$i]}\"|" "$cfg"
done
recipient=$("$bin" keygen -o "$work/editor.key")
"$bin" admin editor add --config "$work/node1/sanduq.toml" --name bench --recipient "$recipient" >/dev/null 2>&1
for i in 1 2 3; do
  SANDUQ_LOG=warn "$bin" serve --config "$work/node$i/sanduq.toml" &
  pids+=($!)
done

lb_src=$(port); lb_api=$(port)
sub="s|127.0.0.1:8080|127.0.0.1:$lb_src|; s|127.0.0.1:8081|127.0.0.1:$lb_api|; s|/run/haproxy/admin.sock|$work/admin.sock|"
for i in 1 2 3; do
  sub="$sub; s|127.0.0.1:8${i}80 |127.0.0.1:${src[$i]} |; s|127.0.0.1:8${i}81 |127.0.0.1:${api[$i]} |; s|port 8${i}82|port ${health[$i]}|"
done
# Only root can chroot and change user; the rest is the shipped file.
[ "$(id -u)" -eq 0 ] || sub="$sub; /^ *\(chroot\|user\|group\) /d"
sed "$sub" deploy/haproxy.cfg > "$work/haproxy-3.cfg"
grep -v 'server node[23] ' "$work/haproxy-3.cfg" > "$work/haproxy-1.cfg"

# Waits until the given number of nodes is UP in the source backend.
wait_up() {
  for _ in $(seq 150); do
    n=$(echo "show stat" | python3 -c "
import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect('$work/admin.sock'); s.sendall(b'show stat\n')
d=b''
while True:
    c=s.recv(65536)
    if not c: break
    d+=c
print(sum(1 for l in d.decode().splitlines() if l.startswith('sanduq_source_nodes,node') and ',UP,' in l))" 2>/dev/null || echo 0)
    [ "$n" = "$1" ] && return 0
    sleep 0.2
  done
  echo "haproxy: $1 nodes not UP" >&2; exit 1
}

pct() { sort -g | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p/100); if (i<1) i=1; print a[i]}'; }

# One run: the load through HAProxy with the given config; prints one result line.
run() {
  local nodes=$1 dir=$work/run-$1
  mkdir -p "$dir"
  haproxy -db -f "$work/haproxy-$nodes.cfg" >"$dir/haproxy.log" 2>&1 &
  local hp=$!
  pids+=($hp)
  wait_up "$nodes"
  local jar=$dir/jar token
  token=$(curl -s -c "$jar" "http://127.0.0.1:$lb_src/" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p')
  ( while :; do
      curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "http://127.0.0.1:$lb_src/" >> "$dir/probe.txt" || echo "000 0" >> "$dir/probe.txt"
      sleep 0.05
    done ) &
  local prober=$!
  local t0 t1
  t0=$(date +%s.%N)
  seq "$uploads" | xargs -P "$uploads" -I{} curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 600 \
    -b "$jar" -F "csrf_token=$token" -F "file=@$work/input.bin;type=application/octet-stream" \
    "http://127.0.0.1:$lb_src/submit" > "$dir/codes.txt" || true
  t1=$(date +%s.%N)
  kill "$prober" 2>/dev/null || true
  kill "$hp" 2>/dev/null || true
  wait "$hp" 2>/dev/null || true
  local ok secs up50 up99 p50 p99
  ok=$(awk '$1==200' "$dir/codes.txt" | wc -l)
  secs=$(echo "$t1 - $t0" | bc -l)
  up50=$(awk '$1==200 {print $2}' "$dir/codes.txt" | pct 50)
  up99=$(awk '$1==200 {print $2}' "$dir/codes.txt" | pct 99)
  p50=$(awk '$1==200 {print $2}' "$dir/probe.txt" | pct 50)
  p99=$(awk '$1==200 {print $2}' "$dir/probe.txt" | pct 99)
  printf '| %d | %d of %d | %.1f s | %.1f MiB/s | %.2f s / %.2f s | %.3f s / %.3f s |\n' \
    "$nodes" "$ok" "$uploads" "$secs" "$(echo "$uploads * $size_mib / $secs" | bc -l)" \
    "$up50" "$up99" "$p50" "$p99"
}

echo "== $uploads concurrent uploads of $size_mib MiB through HAProxy, PostgreSQL + Garage"
echo
echo "| nodes | answered 200 | wall time | throughput | upload p50 / p99 | landing page p50 / p99 |"
echo "|---|---|---|---|---|---|"
run 1
run 3
