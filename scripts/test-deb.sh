#!/usr/bin/env bash
# Installs a sanduq Debian package on this machine and checks what an operator gets:
#
#   bash scripts/test-deb.sh target/release-artifacts/sanduq_VERSION_ARCH.deb [COMMIT]
#
# dpkg -i; the files, their owners and modes; the sanduq system user and its folders; the
# unit installed but not enabled; `sanduq --version` (naming COMMIT when given); `sanduq init`
# run as the sanduq user; then dpkg -r, which must remove the program and keep the data;
# a second install over the kept data, which must leave it as it is; and dpkg --purge, which
# must keep it too. Run by `bash scripts/release.sh --check`.
#
# Needs root (through sudo when not root). It refuses to run where sanduq is installed or
# /var/lib/sanduq or /etc/sanduq exist, so that it never touches a real install. At the end it
# deletes the folders, and the sanduq user when it created it (the package never deletes them).
set -euo pipefail

deb=${1:?usage: bash scripts/test-deb.sh PACKAGE.deb [COMMIT]}
commit=${2:-}
deb=$(cd "$(dirname "$deb")" && pwd -P)/$(basename "$deb")
if [ "$(id -u)" -ne 0 ]; then
  exec sudo bash "$0" "$deb" "$commit"
fi

fail() {
  echo "test-deb: FAIL: $*" >&2
  exit 1
}

if dpkg-query --show --showformat='${db:Status-Status}' sanduq 2>/dev/null | grep -qv '^not-installed$'; then
  fail "the sanduq package is already on this machine; this test installs and removes it"
fi
for d in /var/lib/sanduq /etc/sanduq; do
  [ ! -e "$d" ] || fail "$d exists; this test would install over it"
done
made_user=no
getent passwd sanduq >/dev/null || made_user=yes

cleanup() {
  dpkg --purge sanduq >/dev/null 2>&1 || true
  rm -rf /var/lib/sanduq /etc/sanduq
  if [ "$made_user" = yes ] && getent passwd sanduq >/dev/null; then
    deluser --quiet --system sanduq >/dev/null 2>&1 || userdel sanduq
    getent group sanduq >/dev/null && groupdel sanduq
  fi
  true
}
trap cleanup EXIT

# expect PATH OWNER:GROUP MODE (octal, as stat prints it)
expect() {
  [ -e "$1" ] || fail "$1 is missing"
  local got
  got="$(stat -c '%U:%G %a' "$1")"
  [ "$got" = "$2 $3" ] || fail "$1 is $got, expected $2 $3"
}

echo "== dpkg -i $(basename "$deb")"
dpkg -i "$deb" >/dev/null

expect /usr/bin/sanduq root:root 755
expect /usr/lib/systemd/system/sanduq.service root:root 644
for f in copyright operator.md editor-guide.md security.md README.md examples/sanduq.example.toml examples/torrc; do
  expect "/usr/share/doc/sanduq/$f" root:root 644
done
cmp --quiet /usr/lib/systemd/system/sanduq.service "$(dirname "$0")/../deploy/sanduq.service" \
  || fail "the unit is not deploy/sanduq.service"
grep -qx 'ExecStart=/usr/bin/sanduq serve --config /etc/sanduq/sanduq.toml' \
  /usr/lib/systemd/system/sanduq.service || fail "the unit does not start /usr/bin/sanduq"
# Nothing under /etc/systemd enables it: the operator does, after `sanduq init`.
if find /etc/systemd -name 'sanduq*' | grep -q .; then
  fail "the unit is enabled: $(find /etc/systemd -name 'sanduq*')"
fi
# Every file the package ships belongs to root and is not writable by anyone else.
while read -r f; do
  [ -L "$f" ] && continue
  [ "$(stat -c %U:%G "$f")" = root:root ] || fail "$f belongs to $(stat -c %U:%G "$f")"
  [ $((8#$(stat -c %a "$f") & 8#022)) = 0 ] || fail "$f is writable by others: $(stat -c %a "$f")"
done < <(dpkg -L sanduq)
dpkg --verify sanduq || fail "dpkg --verify: the files differ from the package's md5sums"

IFS=: read -r _ _ uid gid _ home shell < <(getent passwd sanduq) \
  || fail "no sanduq user"
[ "$uid" -lt 1000 ] || fail "sanduq is not a system user (uid $uid)"
[ "$(getent group "$gid" | cut -d: -f1)" = sanduq ] || fail "sanduq's group is not sanduq"
[ "$home" = /var/lib/sanduq ] || fail "sanduq's home is $home"
[ "$shell" = /usr/sbin/nologin ] || fail "sanduq can log in (shell $shell)"
expect /var/lib/sanduq sanduq:sanduq 700
expect /etc/sanduq root:sanduq 750

version=$(dpkg-deb --field "$deb" Version)
out=$(sanduq --version)
if [ -n "$commit" ]; then
  [ "$out" = "sanduq $version (commit $commit)" ] || fail "sanduq --version says: $out"
else
  [[ "$out" =~ ^sanduq\ $version\ \(commit\ [0-9a-f]{40}\)$ ]] || fail "sanduq --version says: $out"
fi
echo "   $out"

echo "== sanduq init, as the sanduq user"
runuser -u sanduq -- sanduq init --dir /var/lib/sanduq 2>/dev/null
expect /var/lib/sanduq sanduq:sanduq 700
expect /var/lib/sanduq/sanduq.toml sanduq:sanduq 600
expect /var/lib/sanduq/meta.sqlite sanduq:sanduq 600
expect /var/lib/sanduq/blobs sanduq:sanduq 700
# Other users cannot read the pepper.
if runuser -u nobody -- cat /var/lib/sanduq/sanduq.toml >/dev/null 2>&1; then
  fail "nobody can read /var/lib/sanduq/sanduq.toml"
fi
pepper=$(grep '^pepper' /var/lib/sanduq/sanduq.toml) || fail "no pepper in the new configuration"

echo "== dpkg -r sanduq"
dpkg -r sanduq >/dev/null 2>&1
[ ! -e /usr/bin/sanduq ] || fail "dpkg -r left /usr/bin/sanduq"
[ ! -e /usr/lib/systemd/system/sanduq.service ] || fail "dpkg -r left the unit"
expect /var/lib/sanduq/sanduq.toml sanduq:sanduq 600
expect /var/lib/sanduq/meta.sqlite sanduq:sanduq 600
getent passwd sanduq >/dev/null || fail "dpkg -r deleted the sanduq user"

echo "== dpkg -i again, over the kept data; then dpkg --purge"
# An operator's own choice of mode on the data folder survives a reinstall.
chmod 0750 /var/lib/sanduq
dpkg -i "$deb" >/dev/null
expect /var/lib/sanduq sanduq:sanduq 750
[ "$(grep '^pepper' /var/lib/sanduq/sanduq.toml)" = "$pepper" ] || fail "the reinstall changed the pepper"
dpkg --purge sanduq >/dev/null 2>&1
[ ! -e /usr/bin/sanduq ] || fail "dpkg --purge left /usr/bin/sanduq"
[ "$(grep '^pepper' /var/lib/sanduq/sanduq.toml)" = "$pepper" ] || fail "dpkg --purge changed the data"
expect /var/lib/sanduq/meta.sqlite sanduq:sanduq 600

echo "== the package installs, runs, and removes without touching the data: ok"
