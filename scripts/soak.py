#!/usr/bin/env python3
"""Soak test of a running `sanduq serve` (run by scripts/soak.sh, not in CI).

For MINUTES, in a loop: new sources submit a message and a file; sources come back with their
codename, read their replies and add a message; every few cycles the editor fetches, answers a
source (`sanduq reply` + `push`) and deletes a fifth of what it fetched. The server's RSS is
sampled every 10 s. At the end every count must match: items on the server = items
acknowledged - items deleted; replies seen by sources = replies pushed; the last bundle
decrypts in full.

Usage: soak.py BIN CONFIG SOURCE_URL API_URL TOKEN_FILE IDENTITY WORKDIR PID MINUTES
"""
import http.cookiejar
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

BIN, CONFIG, SRC, API, TOKEN_FILE, IDENTITY, WORK, PID, MINUTES = sys.argv[1:10]
MINUTES = float(MINUTES)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def client():
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar), NoRedirect()
    )


def get(opener, path):
    with opener.open(SRC + path, timeout=60) as r:
        return r.status, r.read().decode()


def post(opener, path, body, content_type):
    req = urllib.request.Request(SRC + path, data=body, method="POST")
    req.add_header("Content-Type", content_type)
    try:
        with opener.open(req, timeout=120) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def token_of(page):
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    return m.group(1) if m else None


def multipart(fields):
    boundary = "soak%016x" % random.getrandbits(64)
    out = b""
    for name, value, filename in fields:
        disp = 'form-data; name="%s"' % name
        if filename:
            disp += '; filename="%s"' % filename
        out += b"--" + boundary.encode() + b"\r\nContent-Disposition: " + disp.encode()
        out += b"\r\n\r\n" + value + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return out, "multipart/form-data; boundary=" + boundary


counts = {
    "submissions": 0,
    "items_acked": 0,
    "logins": 0,
    "followups": 0,
    "fetches": 0,
    "replies_pushed": 0,
    "items_deleted": 0,
    "errors": 0,
}
codenames = []
pool = []  # codenames of the returning sources that replies go to
pool_ids = set()
rss_samples = []
stop = threading.Event()


# An argon2 buffer is one anonymous mapping of its cost's size, or of 33 MiB below that (see
# RESERVED_KIB in src/codename.rs), plus the allocator's page. A glibc arena heap never
# exceeds 64 MiB, so at the default cost it stays counted; at lower costs the figure is only
# as good as that size is unusual among the server's mappings.
with open(CONFIG) as f:
    _kib = re.search(r"^memory_kib\s*=\s*(\d+)", f.read(), re.M)
ARGON2_MAPPING_KIB = max(int(_kib.group(1)) if _kib else 65536, 33 * 1024) + 4


def rss_now():
    """The server's RSS, and its RSS outside argon2 buffers (both in KiB), from smaps."""
    total = outside = 0
    size = 0
    with open("/proc/%s/smaps" % PID) as f:
        for line in f:
            if line[0] in "0123456789abcdef" and "-" in line.split()[0]:
                lo, hi = line.split()[0].split("-")
                size = (int(hi, 16) - int(lo, 16)) // 1024
                anonymous = len(line.split()) < 6
            elif line.startswith("Rss:"):
                kb = int(line.split()[1])
                total += kb
                if not (anonymous and size >= ARGON2_MAPPING_KIB):
                    outside += kb
    return total, outside


def sample_rss():
    start = time.time()
    while not stop.is_set():
        total, outside = rss_now()
        rss_samples.append((time.time() - start, total / 1024, outside / 1024))
        stop.wait(10)


def submit_new(into=codenames):
    o = client()
    _, page = get(o, "/")
    body, ct = multipart(
        [
            ("csrf_token", token_of(page).encode(), None),
            ("message", b"soak testimony %d" % counts["submissions"], None),
            ("file", os.urandom(random.randint(1, 200_000)), "photo.jpg"),
        ]
    )
    status, page = post(o, "/submit", body, ct)
    if status != 200:
        counts["errors"] += 1
        print("submit: HTTP %d" % status, file=sys.stderr)
        return
    m = re.search(r'id="codename">([^<]+)<', page)
    counts["submissions"] += 1
    counts["items_acked"] += 2
    into.append(m.group(1))


def come_back(codename, add=True):
    """Logs in; returns the number of replies shown, or None on failure. Adds a message."""
    o = client()
    _, page = get(o, "/login")
    form = urllib.parse.urlencode({"csrf_token": token_of(page), "codename": codename})
    status, _ = post(o, "/login", form.encode(), "application/x-www-form-urlencoded")
    if status != 303:
        counts["errors"] += 1
        print("login: HTTP %d" % status, file=sys.stderr)
        return None
    counts["logins"] += 1
    _, page = get(o, "/")
    replies = page.count('<div class="reply">')
    if not add:
        return replies
    body, ct = multipart(
        [("csrf_token", token_of(page).encode(), None), ("message", b"more", None)]
    )
    status, _ = post(o, "/submit", body, ct)
    if status == 200:
        counts["followups"] += 1
        counts["items_acked"] += 1
    else:
        counts["errors"] += 1
        print("follow-up: HTTP %d" % status, file=sys.stderr)
    return replies


def cli(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True)
    if r.returncode != 0:
        counts["errors"] += 1
        print("sanduq %s: %s" % (args[0], r.stderr.strip()), file=sys.stderr)
    return r


def editor_round(bundle, deleted):
    cli("fetch", "--server", API, "--token-file", TOKEN_FILE, "--bundle", bundle)
    counts["fetches"] += 1
    with open(os.path.join(bundle, "manifest.json")) as f:
        manifest = json.load(f)
    # The pool's items stay, so that their sources (and replies) do.
    live = [i["id"] for i in manifest["items"] if i["id"] not in deleted and i["source"] not in pool_ids]
    if pool_ids:
        source = random.choice(sorted(pool_ids))
        msg = os.path.join(WORK, "reply.txt")
        with open(msg, "w") as f:
            f.write("We read your testimony. %d\n" % counts["replies_pushed"])
        if cli("reply", "--bundle", bundle, "--source", source, "--message-file", msg).returncode == 0:
            if cli("push", "--server", API, "--token-file", TOKEN_FILE, "--bundle", bundle).returncode == 0:
                counts["replies_pushed"] += 1
    doomed = random.sample(live, len(live) // 5)
    if doomed and cli("delete", "--server", API, "--token-file", TOKEN_FILE, *doomed).returncode == 0:
        counts["items_deleted"] += len(doomed)
        deleted.update(doomed)


def main():
    threading.Thread(target=sample_rss, daemon=True).start()
    bundle = os.path.join(WORK, "bundle")
    deleted = set()
    # A pool of 20 returning sources, known by id to the editor, receives the replies.
    for _ in range(20):
        submit_new(pool)
    cli("fetch", "--server", API, "--token-file", TOKEN_FILE, "--bundle", bundle)
    with open(os.path.join(bundle, "manifest.json")) as f:
        pool_ids.update(s["id"] for s in json.load(f)["sources"])
    assert len(pool_ids) == 20, pool_ids
    end = time.time() + MINUTES * 60
    cycle = 0
    while time.time() < end:
        cycle += 1
        submit_new()
        if random.random() < 0.5:
            come_back(random.choice(codenames + pool))
        if cycle % 20 == 0:
            editor_round(bundle, deleted)
    stop.set()

    # Final accounting.
    token = open(TOKEN_FILE).read().strip()
    req = urllib.request.Request(API + "/api/v1/items", headers={"Authorization": "Bearer " + token})
    listed = len(json.load(urllib.request.urlopen(req, timeout=60))["items"])
    seen = sum(come_back(c, add=False) or 0 for c in pool)
    final = os.path.join(WORK, "final-bundle")
    cli("fetch", "--server", API, "--token-file", TOKEN_FILE, "--bundle", final)
    out = os.path.join(WORK, "final-out")
    r = cli("decrypt", "-i", IDENTITY, "--bundle", final, "--out", out)
    decrypted = re.search(r"decrypted (\d+) item", r.stderr)
    decrypted = int(decrypted.group(1)) if decrypted else -1

    print()
    print("== soak: %.0f minutes" % MINUTES)
    for k, v in counts.items():
        print("%-16s %d" % (k, v))
    expected = counts["items_acked"] - counts["items_deleted"]
    print("items listed at the end: %d (acknowledged %d - deleted %d = %d)"
          % (listed, counts["items_acked"], counts["items_deleted"], expected))
    print("replies seen by sources: %d (pushed %d)" % (seen, counts["replies_pushed"]))
    print("final bundle decrypted: %d items (listed %d)" % (decrypted, listed))
    period = int(os.environ.get("SOAK_PERIOD_MIN", "5"))
    print("server RSS (MiB) by %d-minute period, sampled every 10 s: min / max of the whole" % period)
    print("RSS (a max includes any codename derivation in flight: argon2id, 64 MiB each), and")
    print("min / max of the RSS outside argon2 buffers (the server's own memory)")
    for start in range(0, int(MINUTES * 60) + 1, period * 60):
        xs = [(m, o) for t, m, o in rss_samples if start <= t < start + period * 60]
        if xs:
            whole = [m for m, _ in xs]
            own = [o for _, o in xs]
            print("  %3d-%3d min: %6.1f / %6.1f    outside argon2: %6.1f / %6.1f"
                  % (start // 60, start // 60 + period, min(whole), max(whole), min(own), max(own)))
    ok = listed == expected and seen == counts["replies_pushed"] and decrypted == listed
    ok = ok and counts["errors"] == 0
    print("RESULT: %s" % ("every count matches" if ok else "MISMATCH"))
    sys.exit(0 if ok else 1)


main()
