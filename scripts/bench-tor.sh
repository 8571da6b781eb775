#!/usr/bin/env bash
# sanduq through a private Tor network on loopback, next to plain loopback, in one run:
#   1. a 100 MiB upload to the source site (one POST), through the source onion;
#   2. `sanduq fetch` of 1,000 items through the client-authorised editor API onion.
# The network is the integration tests' fixture (tests/common/tor.rs): 3 directory
# authorities, 3 relays, the onion services with deploy/torrc's options, 2 clients.
# A benchmark, not a test: the figures depend on the machine and its load. About 2 minutes
# after the release build.
#
#   bash scripts/bench-tor.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in tor tor-gencert openssl; do
  command -v "$tool" >/dev/null || { echo "bench-tor: $tool is missing (Debian package tor, openssl)" >&2; exit 1; }
done
echo "bench-tor: $(date -u +%Y-%m-%d), $(nproc) cores, $(tor --version | head -1)"
# PROFILE=dev skips the release build (dependencies are at opt-level 2 in dev too).
cargo bench --quiet --profile "${PROFILE:-bench}" --bench tor
