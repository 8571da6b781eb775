#!/usr/bin/env bash
# Makes tests/fixtures/upgrade-0002/: an install as this sanduq leaves it (schema at
# migration 0002), which tests/upgrade.rs opens with the current binary to check that an
# upgrade loses nothing. Run it from the repository root after `cargo build`:
#
#   bash scripts/make-fixture.sh [path/to/sanduq]
#
# What it makes (every secret in it is a test secret, published here on purpose):
#   install/           sanduq.toml (pepper, cheap test argon2 cost), meta.sqlite, blobs/items/
#   editor.key         the desk editor's age identity; editor.token its API token
#   codenames          one line per source: the codename, then its message as sent
#   reply              the reply pushed to the first source
# Sources: the first sends a message and a file and gets a reply; the second sends a message.
# Needs curl and python3.
set -euo pipefail

BIN=$(realpath "${1:-target/debug/sanduq}")
OUT=tests/fixtures/upgrade-0002
SRC=127.0.0.1:47080
API=127.0.0.1:47081
MSG1='The first testimony. Первое свидетельство. Шаҳодати аввал.'
FILE1='The bytes of the first source'"'"'s file.'
MSG2='The second testimony, from another source.'
REPLY='We read it; thank you. Мы прочитали, спасибо.'

work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

rm -rf "$OUT"
mkdir -p "$OUT"
"$BIN" init --dir "$OUT/install" >/dev/null 2>&1
sed -i -e "s/127.0.0.1:8080/$SRC/" -e "s/127.0.0.1:8081/$API/" \
    -e 's/^memory_kib = 65536/memory_kib = 1024\nweak_cost_for_tests = true/' \
    "$OUT/install/sanduq.toml"
recipient=$("$BIN" keygen -o "$OUT/editor.key")
"$BIN" admin editor add --config "$OUT/install/sanduq.toml" --name fixture \
    --recipient "$recipient" 2>/dev/null >"$OUT/editor.token"

SANDUQ_LOG=warn "$BIN" serve --config "$OUT/install/sanduq.toml" >"$work/log" 2>&1 &
server=$!
for _ in $(seq 100); do
    curl -fs "http://$SRC/" >/dev/null 2>&1 && break
    sleep 0.1
done

# One submission through the source form; prints the codename the page shows.
submit() {
    local jar="$work/jar.$RANDOM" page token
    page=$(curl -fs -c "$jar" "http://$SRC/")
    token=$(printf '%s' "$page" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -n1)
    curl -fs -b "$jar" -F "csrf_token=$token" "$@" "http://$SRC/submit" |
        tr -d '\n' | sed -n 's/.*id="codename">\([^<]*\)<.*/\1/p'
}

printf '%s' "$FILE1" >"$work/report.txt"
code1=$(submit -F "message=$MSG1" -F "file=@$work/report.txt;filename=report.txt")
code2=$(submit -F "message=$MSG2")
[ -n "$code1" ] && [ -n "$code2" ] || { echo "no codename shown" >&2; exit 1; }
printf '%s\t%s\n%s\t%s\n' "$code1" "$MSG1" "$code2" "$MSG2" >"$OUT/codenames"

"$BIN" fetch --server "http://$API" --token-file "$OUT/editor.token" --bundle "$work/bundle" \
    >/dev/null 2>&1
first=$(python3 -c '
import json, sys, collections
m = json.load(open(sys.argv[1]))
n = collections.Counter(i["source"] for i in m["items"])
print(max(n, key=n.get))' "$work/bundle/manifest.json")
printf '%s' "$REPLY" >"$work/reply.txt"
"$BIN" reply --bundle "$work/bundle" --source "$first" --message-file "$work/reply.txt" >/dev/null
"$BIN" push --server "http://$API" --token-file "$OUT/editor.token" --bundle "$work/bundle" \
    >/dev/null 2>&1
printf '%s' "$REPLY" >"$OUT/reply"

kill -TERM "$server"
wait "$server" || true
server=
# Only what an install needs: the WAL folded into meta.sqlite (closing SQLite's last
# connection removes it), and not the lock files.
python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
c.close()' "$OUT/install/meta.sqlite"
rm -f "$OUT/install/sanduq.lock" "$OUT/install/meta.sqlite.janitor"
if [ -e "$OUT/install/meta.sqlite-wal" ] || [ -e "$OUT/install/meta.sqlite-shm" ]; then
    echo "meta.sqlite-wal is still there" >&2
    exit 1
fi
echo "made $OUT: $(ls "$OUT/install/blobs/items" | wc -l) objects"
