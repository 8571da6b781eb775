#!/usr/bin/env bash
# `sanduq admin backup` and `restore` of an install holding N uploads of M MiB (random bytes,
# one new source each): wall time and peak RSS of each command, printed. The backup runs
# while the server serves. Run from the repository root:
#
#   bash scripts/bench-backup.sh [N=5] [M=100]
#
# Needs curl and GNU time (/usr/bin/time); builds the release binary.
set -euo pipefail

N=${1:-5}
M=${2:-100}
cargo build --release --quiet
BIN=$(realpath "${CARGO_TARGET_DIR:-target}/release/sanduq")
work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SRC=127.0.0.1:$(port)
"$BIN" init --dir "$work/old" >/dev/null 2>&1
"$BIN" init --dir "$work/new" >/dev/null 2>&1
sed -i -e "s/127.0.0.1:8080/$SRC/" -e "s/127.0.0.1:8081/127.0.0.1:$(port)/" \
    "$work/old/sanduq.toml"
"$BIN" admin editor add --config "$work/old/sanduq.toml" --name bench \
    --recipient "$("$BIN" keygen -o "$work/key.txt" 2>/dev/null)" >/dev/null 2>&1
SANDUQ_LOG=warn "$BIN" serve --config "$work/old/sanduq.toml" >"$work/log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -fs "http://$SRC/" >/dev/null 2>&1 && break; sleep 0.1; done

head -c "$((M * 1024 * 1024))" /dev/urandom >"$work/file.bin"
for i in $(seq "$N"); do
    page=$(curl -fs -c "$work/jar" "http://$SRC/")
    token=$(printf '%s' "$page" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -n1)
    curl -fs -b "$work/jar" -F "csrf_token=$token" -F "message=upload $i" \
        -F "file=@$work/file.bin;filename=file.bin" "http://$SRC/submit" -o /dev/null
done
rm "$work/file.bin"

echo "install: $N uploads of $M MiB; $(du -sh "$work/old/blobs/items" | cut -f1) of ciphertext"
/usr/bin/time -f "backup (while serving): %e s wall, %M KiB peak RSS" \
    "$BIN" admin backup --config "$work/old/sanduq.toml" --out "$work/x.backup" >/dev/null
echo "backup file: $(stat -c %s "$work/x.backup") bytes, mode $(stat -c %a "$work/x.backup")"
cp "$work/old/sanduq.toml" "$work/new/sanduq.toml"
/usr/bin/time -f "restore: %e s wall, %M KiB peak RSS" \
    "$BIN" admin restore --config "$work/new/sanduq.toml" --from "$work/x.backup" >/dev/null
