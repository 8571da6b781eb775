#!/usr/bin/env python3
"""What a logged-in request costs: sequential keep-alive `GET /` with a session cookie, then
the same page without one, against a fresh embedded install (SQLite) of the binary BIN.
Prints both medians and their difference: the session's cost per request (read its row,
derive the keys from the cookie, open the sealed session, one replies query). Run it on two
binaries for an A/B:

    python3 scripts/bench-sessions.py target/release/sanduq [REQUESTS]   (default 1000)
"""
import http.client, os, re, shutil, subprocess, sys, tempfile, time, urllib.parse, socket, statistics

binary = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
d = tempfile.mkdtemp()
data = os.path.join(d, "data")
subprocess.run([binary, "init", "--dir", data], check=True, capture_output=True)
cfg = os.path.join(data, "sanduq.toml")
def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
sp, ap = free(), free()
t = open(cfg).read().replace("127.0.0.1:8080", f"127.0.0.1:{sp}").replace("127.0.0.1:8081", f"127.0.0.1:{ap}")
t = t.replace("memory_kib = 65536", "memory_kib = 1024\nweak_cost_for_tests = true")
open(cfg, "w").write(t)
key = os.path.join(d, "k.txt")
rec = subprocess.run([binary, "keygen", "-o", key], check=True, capture_output=True, text=True).stdout.strip()
subprocess.run([binary, "admin", "editor", "add", "--config", cfg, "--name", "ana", "--recipient", rec], check=True, capture_output=True)
srv = subprocess.Popen([binary, "serve", "--config", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "SANDUQ_LOG": "warn"})
try:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", sp)).close(); break
        except OSError:
            time.sleep(0.1)
    c = http.client.HTTPConnection("127.0.0.1", sp)
    c.request("GET", "/"); r = c.getresponse(); page = r.read().decode()
    cookie = r.getheader("set-cookie").split(";")[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    b = "XbOuNdArY"
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"
            f"--{b}\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nhello\r\n--{b}--\r\n").encode()
    c.request("POST", "/submit", body, {"Cookie": cookie, "Content-Type": f"multipart/form-data; boundary={b}"})
    r = c.getresponse(); page = r.read().decode()
    codename = re.search(r'id="codename">([^<]+)<', page).group(1)
    form = urllib.parse.urlencode({"csrf_token": token, "codename": codename})
    c.request("POST", "/login", form, {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse(); r.read()
    sess = [h for h in r.getheaders() if h[0].lower() == "set-cookie" and "sanduq_session" in h[1]][0][1].split(";")[0]
    def run(hdr):
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            c.request("GET", "/", headers=hdr); r = c.getresponse(); body = r.read()
            times.append(time.perf_counter() - t0)
        return body, times
    page, _ = run({"Cookie": sess})  # warm-up
    assert b"You are logged in" in page
    _, logged = run({"Cookie": sess})
    _, anon = run({"Cookie": cookie})
    med = lambda x: statistics.median(x) * 1000
    print(f"{binary}: {n} GET / each, median logged-in {med(logged):.3f} ms, anonymous {med(anon):.3f} ms, "
          f"difference {med(logged) - med(anon):.3f} ms")
finally:
    srv.terminate(); srv.wait()
    shutil.rmtree(d)
