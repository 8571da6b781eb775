#!/usr/bin/env bash
# Builds a sanduq release that anyone can rebuild bit for bit from the same commit:
#
#   bash scripts/release.sh          the release binary, the Debian package, a CycloneDX
#                                    software bill of materials and the build's tools
#                                    (.buildinfo) in target/release-artifacts/, with
#                                    SHA256SUMS listing all four
#   bash scripts/release.sh --check  clones the current commit twice, into two different temp
#                                    folders, builds a release in each (one after the other,
#                                    with another umask and time zone), checks that every
#                                    artifact is byte-identical and names no build folder, then
#                                    installs the package on this machine (scripts/test-deb.sh)
#
# What makes two builds equal: the commit is passed in (SANDUQ_BUILD_COMMIT) and every
# timestamp is the last commit's (SOURCE_DATE_EPOCH); the source folder, CARGO_HOME (where
# the crates' sources are) and the target folder are renamed in every path that reaches the
# binary (rustc's --remap-path-prefix, and -ffile-prefix-map for the C the crates compile);
# `--locked` builds exactly Cargo.lock. The package is made by dpkg-deb from a staging tree
# whose owners (root), modes and times are fixed; dpkg-deb sorts the members, clamps their
# times to SOURCE_DATE_EPOCH and compresses with one thread, so the result does not depend
# on the machine's number of cores.
#
# A release builds only committed files: it refuses a work tree with changes to tracked files.
# Needs: git, dpkg-deb, objdump (binutils), jq, and cargo-cyclonedx (installed with
# `cargo install --locked` when missing). Build on Debian 12 (amd64): the binary needs a C
# library at least as old as the build machine's.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)

# The cargo-cyclonedx release the bill of materials is made with: another release may write
# other bytes, so a rebuild must use the same one.
cyclonedx_version=0.5.9

die() {
  echo "release: $*" >&2
  exit 1
}

# No space or other separator in a path: the C flags are one space-separated string.
plain_path() {
  case "$1" in
    *[[:space:]]* | *=*) die "this path cannot be remapped (space or '='): $1" ;;
  esac
}

need_tools() {
  command -v dpkg-deb >/dev/null || die "dpkg-deb is missing (apt-get install dpkg)"
  command -v objdump >/dev/null || die "objdump is missing (apt-get install binutils)"
  command -v jq >/dev/null || die "jq is missing (apt-get install jq)"
  export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
  # It prints "cargo-cyclonedx-cyclonedx VERSION".
  if [ "$(cargo cyclonedx --version 2>/dev/null | awk '{ print $NF }')" != "$cyclonedx_version" ]; then
    echo "== installing cargo-cyclonedx $cyclonedx_version (cargo install --locked)"
    cargo install --quiet --locked cargo-cyclonedx --version "=$cyclonedx_version"
  fi
}

build() {
  need_tools
  git diff --quiet HEAD -- || die "the work tree has uncommitted changes; a release is built from a commit"
  local commit epoch version arch cargo_home target out
  commit=$(git rev-parse HEAD)
  epoch=$(git log -1 --format=%ct HEAD)
  version=$(cargo pkgid --quiet | sed 's/.*[@#]//')
  arch=$(dpkg --print-architecture)
  cargo_home=$(cd "${CARGO_HOME:-$HOME/.cargo}" && pwd -P)
  # Its own target folder: release flags never mix with everyday builds' artifacts.
  target=$root/target/release-build
  out=$root/target/release-artifacts
  for p in "$root" "$cargo_home" "$target"; do plain_path "$p"; done
  export SOURCE_DATE_EPOCH=$epoch SANDUQ_BUILD_COMMIT=$commit CARGO_TARGET_DIR=$target
  # When two prefixes match a path, the last one given wins (rustc and gcc alike): the target
  # folder, inside the source folder, comes last.
  local maps=("$root=/sanduq" "$cargo_home=/cargo" "$target=/sanduq/target")
  local rustflags=() cflags=() m
  for m in "${maps[@]}"; do
    rustflags+=("--remap-path-prefix=$m")
    cflags+=("-ffile-prefix-map=$m")
  done
  CARGO_ENCODED_RUSTFLAGS=$(IFS=$'\x1f' && echo "${rustflags[*]}")
  export CARGO_ENCODED_RUSTFLAGS
  export CFLAGS="${cflags[*]}" CXXFLAGS="${cflags[*]}"
  unset RUSTFLAGS

  echo "== sanduq $version, commit $commit, SOURCE_DATE_EPOCH=$epoch"
  echo "== cargo build --release --locked (in $target)"
  cargo build --release --locked --bin sanduq
  rm -rf "$out"
  mkdir -p "$out"
  cp "$target/release/sanduq" "$out/sanduq"
  make_sbom "$out/sanduq_$version.cdx.json"
  make_deb "$out/sanduq" "$version" "$arch" "$target/deb" "$out/sanduq_${version}_$arch.deb"
  buildinfo "$version" "$commit" >"$out/sanduq_$version.buildinfo"
  (cd "$out" && sha256sum -- sanduq "sanduq_${version}_$arch.deb" "sanduq_$version.cdx.json" \
    "sanduq_$version.buildinfo" >SHA256SUMS)
  echo "== $out"
  cat "$out/SHA256SUMS"
}

# What a rebuild needs to match: the commit and the tools, one per line. Another Rust or C
# compiler makes other bytes, so whoever checks a release builds with these.
buildinfo() {
  echo "sanduq: $1"
  echo "commit: $2"
  echo "SOURCE_DATE_EPOCH: $SOURCE_DATE_EPOCH"
  echo "rustc: $(rustc -V)"
  echo "cargo: $(cargo -V)"
  echo "cc: $(cc --version | head -n 1)"
  echo "ld: $(ld --version | head -n 1)"
  echo "dpkg-deb: $(dpkg-query --show --showformat='${Version}' dpkg)"
  echo "cargo-cyclonedx: $cyclonedx_version"
  echo "os: $(. /etc/os-release && echo "$PRETTY_NAME"), $(dpkg --print-architecture)"
}

# The crates in the binary (normal and build dependencies for this platform, no test-only
# ones) with versions, checksums and licences. cargo-cyclonedx writes a random serial number,
# the current time and the source folder (in sanduq's own identifiers, cargo's package id
# `path+file://FOLDER#sanduq@VERSION`, shortened to `#VERSION` when the folder is named
# sanduq); the serial number is left out (CycloneDX makes it optional), the time is the
# commit's and the id is `path+file:///sanduq#sanduq@VERSION` from any folder, so that the
# same commit gives the same file.
make_sbom() {
  local dest=$1 tmp
  tmp=$(mktemp -d)
  cargo cyclonedx --quiet --format json --spec-version 1.5 --override-filename sanduq-sbom
  mv sanduq-sbom.json "$tmp/"
  jq --sort-keys --arg t "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)" \
    --arg folder "path+file://$root#" \
    'del(.serialNumber) | .metadata.timestamp = $t
     | walk(if type == "string" and startswith($folder)
            then ltrimstr($folder) | "path+file:///sanduq#"
              + (if startswith("sanduq@") then . else "sanduq@" + . end)
            else . end)' \
    "$tmp/sanduq-sbom.json" >"$dest"
  rm -rf "$tmp"
}

# make_deb BINARY VERSION ARCH STAGING-PARENT DEST
make_deb() {
  local bin=$1 version=$2 arch=$3 stage=$4/sanduq_${version}_$arch dest=$5
  local doc=$stage/usr/share/doc/sanduq
  rm -rf "$stage"
  mkdir -p "$stage/DEBIAN" "$stage/usr/bin" "$stage/usr/lib/systemd/system" "$doc/examples"
  install -m 0755 "$bin" "$stage/usr/bin/sanduq"
  install -m 0644 deploy/sanduq.service "$stage/usr/lib/systemd/system/sanduq.service"
  install -m 0644 deploy/sanduq.example.toml deploy/torrc "$doc/examples/"
  install -m 0644 deploy/debian/copyright README.md docs/*.md "$doc/"
  install -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm "$stage/DEBIAN/"
  # Installed-Size: the files' sizes in KiB, rounded up each (a folder's own size depends on
  # the file system, so it is not counted).
  local size libc
  size=$(find "$stage" -path "$stage/DEBIAN" -prune -o -type f -printf '%s\n' \
    | awk '{ kib += int(($1 + 1023) / 1024) } END { print kib }')
  # The newest C library symbol version the binary asks for.
  libc=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
  [ -n "$libc" ] || die "found no C library version in $bin"
  sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$size/" \
    -e "s/@LIBC@/libc6 (>= $libc)/" deploy/debian/control >"$stage/DEBIAN/control"
  (cd "$stage" && find usr -type f | LC_ALL=C sort | xargs md5sum >DEBIAN/md5sums)
  chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"
  find "$stage" -type d -exec chmod 0755 {} +
  find "$stage" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +
  dpkg-deb --root-owner-group --threads-max=1 -Zxz --build "$stage" "$dest" >/dev/null
}

check() {
  command -v git >/dev/null || die "git is missing"
  need_tools
  local commit tmp cargo_home dirs=() d i start
  commit=$(git rev-parse HEAD)
  git diff --quiet HEAD -- || echo "release: note: uncommitted changes are not part of the check (it builds $commit)" >&2
  cargo_home=$(cd "${CARGO_HOME:-$HOME/.cargo}" && pwd -P)
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/sanduq-release-check.XXXXXX")
  # Folders of different names and depths: a path that reaches an artifact makes them differ.
  dirs=("$tmp/one/sanduq" "$tmp/second/clone/of-sanduq")
  for i in 0 1; do
    d=${dirs[$i]}
    git clone --quiet --no-checkout "$root" "$d"
    git -C "$d" fetch --quiet "$root" HEAD
    git -C "$d" -c advice.detachedHead=false checkout --quiet --detach "$commit"
    echo "== release build $((i + 1)) of 2 in $d (log: $d.log)"
    start=$SECONDS
    # The second build runs later, with another umask, time zone and locale.
    if ! (cd "$d" && if [ "$i" = 1 ]; then umask 0002; export TZ=Asia/Dushanbe LC_ALL=C.UTF-8; fi \
      && bash scripts/release.sh) >"$d.log" 2>&1; then
      tail -n 40 "$d.log" >&2
      die "release build $((i + 1)) failed; the clones are kept in $tmp"
    fi
    echo "   took $((SECONDS - start)) s"
  done
  local a=${dirs[0]}/target/release-artifacts b=${dirs[1]}/target/release-artifacts f bad=0
  [ "$(cd "$a" && ls)" = "$(cd "$b" && ls)" ] || { ls "$a" "$b" >&2; die "the two builds made different files"; }
  for f in "$a"/*; do
    if cmp --quiet "$f" "$b/${f##*/}"; then
      echo "   same bytes: ${f##*/}"
    else
      echo "release: DIFFERENT: ${f##*/} (compare with diffoscope)" >&2
      bad=1
    fi
  done
  # No folder of either build, nor the home or cargo folder, is named in the binary.
  for f in "$a/sanduq" "$b/sanduq"; do
    for d in "$tmp" "$root" "$cargo_home" "$HOME/"; do
      if grep --quiet --text --fixed-strings -- "$d" "$f"; then
        echo "release: $f names the folder $d" >&2
        bad=1
      fi
    done
  done
  [ "$bad" = 0 ] || die "the builds are not reproducible; the clones are kept in $tmp"
  rm -rf "$root/target/release-artifacts"
  mkdir -p "$root/target"
  cp -a "$a" "$root/target/release-artifacts"
  rm -rf "$tmp"
  echo "== reproducible: both builds of $commit are byte-identical; artifacts in target/release-artifacts/"
  local deb
  deb=$(ls "$root"/target/release-artifacts/sanduq_*.deb)
  bash "$root/scripts/test-deb.sh" "$deb" "$commit"
}

case "${1:-}" in
  "") build ;;
  --check) check ;;
  *) die "usage: bash scripts/release.sh [--check]" ;;
esac
