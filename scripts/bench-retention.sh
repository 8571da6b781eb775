#!/usr/bin/env bash
# One retention pass over N expired items (each with its two objects on disk) and N silent
# sources, on the embedded stores: `bash scripts/bench-retention.sh [N]` (default 10000).
# Rows are written straight into a fresh install's SQLite file, 2020-01-01 and a 30-day
# retention, then `sanduq admin expire` removes them; prints its time and peak memory.
# SANDUQ_BIN picks the binary (default: a release build).
set -euo pipefail
n="${1:-10000}"
cd "$(dirname "$0")/.."
bin="${SANDUQ_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --quiet
  bin="${CARGO_TARGET_DIR:-target}/release/sanduq"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" init --dir "$work/d" >/dev/null 2>&1
sed -i 's/^retention_days = 90/retention_days = 30/' "$work/d/sanduq.toml"
python3 - "$work/d" "$n" <<'PY'
import os, secrets, sqlite3, sys
d, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(os.path.join(d, "meta.sqlite"))
for _ in range(n):
    s, i = secrets.token_hex(16), secrets.token_hex(16)
    c.execute("INSERT INTO sources (id, desk, day, last_day) VALUES (?, 'default', '2020-01-01', '2020-01-01')", (s,))
    c.execute("INSERT INTO items (id, source, desk, day, size, meta_size) VALUES (?, ?, 'default', '2020-01-01', 100, 100)", (i, s))
    for name in (f"{i}.age", f"{i}.meta.age"):
        with open(os.path.join(d, "blobs", "items", name), "wb") as f:
            f.write(b"age-encryption.org/v1\n" + os.urandom(78))
c.commit()
PY
echo "== $n expired items ($((2 * n)) objects) and $n silent sources"
/usr/bin/time -f "pass: %e s, peak RSS %M KiB" "$bin" admin expire --config "$work/d/sanduq.toml"
left=$(find "$work/d/blobs/items" -type f | wc -l)
echo "objects left: $left"
