#!/usr/bin/env bash
# The whole sanduq test suite. Installs what the tests need when it is missing, then checks
# formatting and lints and runs every test. Works on a fresh Debian machine with only the
# Rust toolchain; run as root or with sudo available for the package install.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v age >/dev/null 2>&1 || need+=(age)          # the reference age CLI, for interop tests
command -v script >/dev/null 2>&1 || need+=(bsdutils)  # a terminal for passphrase prompts
command -v openssl >/dev/null 2>&1 || need+=(openssl)  # a second TLS stack for the TLS tests
command -v tor >/dev/null 2>&1 || need+=(tor)          # checks deploy/torrc (tor --verify-config)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)  # deploy/haproxy.cfg, in front of nodes (tests/nodes.rs)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)  # checks deploy/sanduq.service
command -v chromium >/dev/null 2>&1 || need+=(chromium)  # the real-browser tests, JavaScript off
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)  # typage, the post-quantum interop tests
command -v jq >/dev/null 2>&1 || need+=(jq)  # scripts/release.sh: the bill of materials
command -v adduser >/dev/null 2>&1 || need+=(adduser)  # the Debian package's dependency
command -v objdump >/dev/null 2>&1 || need+=(binutils)  # release.sh: the binary's C library version
[ -x /usr/bin/time ] || need+=(time)  # GNU time: fetch's peak memory against a hostile API
command -v tmux >/dev/null 2>&1 || need+=(tmux)  # a real terminal for the inbox tests (tests/inbox.rs)
command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 \
  || need+=(postgresql)  # a throwaway cluster for the PostgreSQL metadata store tests
python3 -m pip --version >/dev/null 2>&1 || need+=(python3 python3-pip)  # installs aiosmtpd, below
command -v faketime >/dev/null 2>&1 || need+=(faketime)  # days moved on for the retention tests
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi
# aiosmtpd, the SMTP server the notification tests deliver to (tests/notify.rs), from PyPI.
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  echo "== installing aiosmtpd (pip, for this user)"
  python3 -m pip install --user --quiet aiosmtpd 2>/dev/null \
    || python3 -m pip install --user --quiet --break-system-packages aiosmtpd
fi
# Garage, the S3-compatible store the S3 blob store's tests run against (tests/store_s3.rs);
# the tests look for it on PATH, where `cargo install` puts it once its bin folder is there.
export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
if ! command -v garage >/dev/null 2>&1; then
  echo "== installing garage 2.x (cargo install --locked garage; takes about 8 minutes)"
  cargo install --locked garage --version '^2.5'
fi
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test"
# A failing test's message, not a backtrace that hides it, ends the log.
RUST_BACKTRACE=0 cargo test
echo "== release: two builds in two folders must be byte-identical; then the package installs"
# Two cold release builds (a few minutes each on 2 cores) and dpkg -i / -r on this machine.
bash scripts/release.sh --check
echo "== cargo deny (licences, sources, bans, advisories from the RustSec snapshot)"
bash scripts/deny.sh
echo "== fuzz targets build (cargo-fuzz; run them with: bash scripts/fuzz.sh run)"
bash scripts/fuzz.sh build
