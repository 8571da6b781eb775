#!/usr/bin/env bash
# cargo-deny over sanduq's dependency graph: licences, sources, bans and known advisories.
#
# The advisories check reads the RustSec database. The build machines cannot reach GitHub, so
# a snapshot of it lies beside the project in ../shared/advisory-db/ (or in
# /work/shared/advisory-db/, or where SANDUQ_ADVISORY_DB points); it is copied into a temp
# folder as the git repository cargo-deny expects and checked offline. Without a snapshot, cargo-deny fetches the database itself.
# Refreshing the snapshot: docs/security.md, "Supply chain".
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-deny >/dev/null 2>&1 || cargo install cargo-deny --locked --quiet

# `cargo metadata` resolves the graph for every platform; crates for other targets (Windows,
# wasm) are not downloaded by a Linux build, and --offline would refuse to fetch them.
cargo fetch --locked --quiet

cargo deny --offline --log-level error check licenses sources bans

# Beside the checkout, or beside the machine's project folder when the checkout is a clone
# elsewhere (CI clones into a fresh folder).
if [ -n "${SANDUQ_ADVISORY_DB:-}" ]; then
  candidates=("$SANDUQ_ADVISORY_DB")
else
  candidates=(../shared/advisory-db/advisory-db /work/shared/advisory-db/advisory-db)
fi
snapshot=
for candidate in "${candidates[@]}"; do
  if [ -d "$candidate" ]; then snapshot=$candidate; break; fi
done
if [ -n "$snapshot" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # cargo-deny names the folder after a hash of the default database URL.
  db="$tmp/dbs/advisory-db-3157b0e258782691"
  mkdir -p "$tmp/dbs"
  cp -r "$snapshot" "$db"
  git -C "$db" init -q
  git -C "$db" add -A
  git -C "$db" -c user.name=sanduq -c user.email=ci@sanduq.invalid \
    -c commit.gpgsign=false commit -q -m "RustSec advisory database snapshot"
  sed "s|^\[advisories\]$|[advisories]\ndb-path = \"$tmp/dbs\"|" deny.toml > "$tmp/deny.toml"
  cargo deny --offline --log-level error --config "$tmp/deny.toml" check advisories
else
  echo "no advisory snapshot in ${candidates[*]}: cargo-deny fetches the RustSec database"
  cargo deny --log-level error check advisories
fi
