#!/usr/bin/env bash
# A throwaway single-node Garage (S3-compatible object store) on loopback, for benchmarks and
# by hand: `start DIR` prints the environment and [store] lines to use it; `stop DIR` ends it.
# Installs garage with `cargo install --locked garage` when it is missing (about 8 minutes).
#
#   eval "$(bash scripts/garage.sh start /tmp/g)"   # sets AWS_* and SANDUQ_S3_ENDPOINT
#   bash scripts/garage.sh stop /tmp/g
set -euo pipefail
cmd=${1:?start DIR or stop DIR}
dir=${2:?start DIR or stop DIR}
PATH=$PATH:$HOME/.cargo/bin
if ! command -v garage >/dev/null; then
  echo "== installing garage (cargo install --locked garage, about 8 minutes)" >&2
  cargo install --locked garage >&2
fi
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

case $cmd in
start)
  mkdir -p "$dir/meta" "$dir/data"
  s3=$(port); rpc=$(port)
  cat > "$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
# age ciphertext is random: compressing it only costs CPU.
compression_level = "none"
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"
TOML
  chmod 600 "$dir/garage.toml"
  key="GK$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  GARAGE_DEFAULT_ACCESS_KEY=$key GARAGE_DEFAULT_SECRET_KEY=$secret GARAGE_DEFAULT_BUCKET=sanduq \
    setsid garage -c "$dir/garage.toml" server --single-node --default-bucket \
    >"$dir/garage.log" 2>&1 </dev/null &
  echo $! > "$dir/garage.pid"
  for _ in $(seq 100); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $s3), 0.2)" 2>/dev/null \
      && garage -c "$dir/garage.toml" bucket info sanduq >/dev/null 2>&1; then
      echo "export AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret SANDUQ_S3_ENDPOINT=http://127.0.0.1:$s3"
      exit 0
    fi
    sleep 0.2
  done
  echo "garage did not start; its log:" >&2; cat "$dir/garage.log" >&2; exit 1
  ;;
stop)
  [ -f "$dir/garage.pid" ] && kill "$(cat "$dir/garage.pid")" 2>/dev/null || true
  ;;
*) echo "usage: garage.sh start|stop DIR" >&2; exit 2 ;;
esac
