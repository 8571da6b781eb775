#!/usr/bin/env bash
# Soak test (by hand, not in CI): MINUTES of mixed submit, login, follow-up, fetch, reply and
# delete against one `sanduq serve` (release build, default config). Prints the counts, the
# server's RSS over time, and whether every count matches at the end (exit 1 if not).
#
#   bash scripts/soak.sh [MINUTES]      (default 30)
#   SOAK_CONFIG_SED='s/…/…/' applies a sed expression to the server's config first.
#   SOAK_WRAP=heaptrack runs the server under heaptrack (or another tool that runs it as a child).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-30}
cargo build --release --quiet
bin=$PWD/target/release/sanduq
work=$PWD/target/soak
rm -rf "$work"; mkdir -p "$work"
trap 'kill $server_pid 2>/dev/null || true' EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
"$bin" init --dir "$work/data" 2>/dev/null
src=$(port); api=$(port)
sed -i "s/127.0.0.1:8080/127.0.0.1:$src/; s/127.0.0.1:8081/127.0.0.1:$api/" "$work/data/sanduq.toml"
[ -z "${SOAK_CONFIG_SED:-}" ] || sed -i "$SOAK_CONFIG_SED" "$work/data/sanduq.toml"  # for experiments
recipient=$("$bin" keygen -o "$work/editor.key")
"$bin" admin editor add --config "$work/data/sanduq.toml" --name soak --recipient "$recipient" \
  > "$work/token" 2>/dev/null
[ -s "$work/token" ] || { echo "could not read the editor's token" >&2; exit 1; }
# SOAK_WRAP runs the server under a tool, e.g. SOAK_WRAP=heaptrack; RSS is then read from the
# server process itself, not the tool's.
SANDUQ_LOG=warn ${SOAK_WRAP:-} "$bin" serve --config "$work/data/sanduq.toml" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 300); do python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$src/')" 2>/dev/null && break; sleep 0.1; done
[ -z "${SOAK_WRAP:-}" ] || server_pid=$(pgrep -n -f "^$bin serve --config $work/data/sanduq.toml")
python3 scripts/soak.py "$bin" "$work/data/sanduq.toml" "http://127.0.0.1:$src" "http://127.0.0.1:$api" \
  "$work/token" "$work/editor.key" "$work" "$server_pid" "$minutes"
