#!/usr/bin/env python3
"""The agent and the server end to end, as real processes on loopback.

  1. enrolment, then a configuration of ICMP, TCP, UDP and HTTP checks from the server:
     results arrive attributed to the device; the device shows the agent's heartbeat; the
     server's embedded agent measures its own echo responder, 127.0.0.1 and /health; ad hoc
     `probe --upload` and `run --upload` store a run's documents;
  2. a configuration change reaches the running agent (same process) within its poll period;
  3. the server is stopped for 30 s while the agent keeps measuring; a second agent with a
     64 KiB buffer fills it and drops its oldest results;
  4. the server returns and the agent, uploading its backlog in small batches, is killed with
     SIGKILL mid-way and restarted: every result it measured is stored exactly once, counted
     per check and timestamp; the small-buffer agent's stored results are exactly those it did
     not drop, and its heartbeat says how many it dropped;
  5. a proxy drops the server's answer to an upload after the server committed it: the agent's
     retry (same Idempotency-Key) is answered from the first commit, stored once;
  6. 1,000 checks at 10 s intervals on one agent keep their schedule: the p99 error of each
     check's start time is under 50 ms.

Usage: agent_e2e.py WADDLEPERF_BINARY   (exit 0 on success)
"""
import http.client
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "durability"))
from http_client import call, free_port  # noqa: E402

ADMIN_PASSWORD = "Agent-Root-Pass-1"
BINARY = sys.argv[1]
WORK = tempfile.mkdtemp(prefix="wp-agent-")
PORT, ECHO = free_port(), free_port()
LOGS = []


def fail(message):
    for path in LOGS:
        try:
            with open(path) as f:
                tail = f.read()[-3000:]
            print(f"--- {path} (tail)\n{tail}", file=sys.stderr)
        except OSError:
            pass
    sys.exit(f"FAIL: {message}")


def log(name):
    path = os.path.join(WORK, name)
    LOGS.append(path)
    return open(path, "a")


def wait(what, predicate, timeout, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    fail(f"{what}: not within {timeout} s")


def start_server():
    env = {k: v for k, v in os.environ.items() if not k.startswith("WADDLEPERF_")}
    env.update(WADDLEPERF_JWT_SECRET="agent-e2e-secret-0123456789abcdef0123456789", WADDLEPERF_ADMIN_PASSWORD=ADMIN_PASSWORD,
               WADDLEPERF_BCRYPT_COST="4", WADDLEPERF_RATE_LIMIT="off")
    process = subprocess.Popen([BINARY, "serve", "--database", f"sqlite://{WORK}/server.db", "--port", str(PORT),
                                "--echo-port", str(ECHO), "--secret-file", f"{WORK}/secret"],
                               env=env, stdout=log("server.log"), stderr=subprocess.STDOUT, cwd=WORK)

    def ready():
        if process.poll() is not None:
            fail(f"server exited with {process.returncode}")
        try:
            return call(PORT, "GET", "/ready", timeout=2)[0] == 200
        except (OSError, urllib.error.URLError):
            return False
    wait("server ready", ready, 60)
    return process


def stop(process, sig=signal.SIGTERM, timeout=30):
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        fail(f"process {process.args[1]} did not stop within {timeout} s of {sig}")


def start_agent(state, *extra, server_port=None, secret=None, name="agent"):
    args = [BINARY, "agent", "--state-dir", state, "--poll", "1s", "--heartbeat", "1s", "--serial", name, "--grace", "3s"]
    if server_port:
        args += ["--server", f"http://127.0.0.1:{server_port}"]
    if secret:
        args += ["--enroll", secret]
    return subprocess.Popen(args + list(extra), stdout=log(f"{name}.out"), stderr=log(f"{name}.log"))


def admin_token():
    return call(PORT, "POST", "/api/v1/auth/login", body={"username": "admin", "password": ADMIN_PASSWORD})[1]["token"]


def results_of(token, device):
    """Every stored result of the device's scheduled checks: (check, created_at, test_type, success)
    (an ad hoc `run --upload` with its token names no check)."""
    out, cursor = [], None
    while True:
        path = f"/api/v1/results?device_id={device}&limit=1000" + (f"&cursor={cursor}" if cursor else "")
        page = call(PORT, "GET", path, token)[1]
        for r in page["results"]:
            if "check" not in r["raw"].get("details", {}):
                continue
            out.append((r["raw"]["details"]["check"], r["created_at"], r["test_type"], r["success"]))
        cursor = page["next_cursor"]
        if not cursor:
            return out


def device_of(token, serial):
    devices = call(PORT, "GET", f"/api/v1/devices?search={serial}", token)[1]["devices"]
    return next((d for d in devices if d["serial"] == serial), None)


def buffer_counters(state):
    with sqlite3.connect(os.path.join(state, "buffer.db")) as db:
        counters = dict(db.execute("SELECT name, value FROM counters"))
        left = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    return counters, left


def exactly_once(token, device, state, what):
    """Everything the agent appended is stored once: no (check, created_at) twice, and the count
    is what its buffer appended minus what it dropped."""
    counters, left = buffer_counters(state)
    stored = results_of(token, device)
    keys = [(c, t) for c, t, _, _ in stored]
    duplicates = len(keys) - len(set(keys))
    if duplicates:
        fail(f"{what}: {duplicates} results stored twice")
    expected = counters.get("appended", 0) - counters.get("dropped", 0)
    if left:
        fail(f"{what}: {left} results still buffered after the drain")
    if len(stored) != expected:
        fail(f"{what}: {len(stored)} stored, but the agent appended {counters.get('appended')} and dropped {counters.get('dropped', 0)}")
    return stored, counters


class LosingProxy(BaseHTTPRequestHandler):
    """Forwards to the server; the first upload's answer is read from the server and then
    dropped (the connection closed with no response)."""
    protocol_version = "HTTP/1.1"
    lost = []
    replays = []

    def log_message(self, *args):
        pass

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        if self.command == "POST" and self.path == "/api/v1/results":
            key = self.headers.get("Idempotency-Key")
            if not LosingProxy.lost and response.status == 201:
                LosingProxy.lost.append(key)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if response.getheader("Idempotent-Replayed") == "true":
                LosingProxy.replays.append((key, response.status))
        self.send_response(response.status)
        for k, v in response.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = forward


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass   # the agent closing its side of a dropped exchange


def main():
    server = start_server()
    token = admin_token()
    ou = call(PORT, "POST", "/api/v1/ous", token, {"name": "agents"})[1]["id"]
    secret = call(PORT, "POST", "/api/v1/enrollment/secrets", token, {"ou_id": ou, "name": "e2e"})[1]["secret"]
    checks = [
        {"name": "echo-tcp", "kind": "tcp", "target": f"127.0.0.1:{ECHO}", "every_s": 1, "timeout_ms": 500},
        {"name": "echo-udp", "kind": "udp", "target": f"127.0.0.1:{ECHO}", "every_s": 1, "count": 3, "interval_ms": 100, "timeout_ms": 500},
        {"name": "loopback", "kind": "icmp", "target": "127.0.0.1", "every_s": 1, "timeout_ms": 500},
        {"name": "health", "kind": "http", "target": f"http://127.0.0.1:{PORT}/health", "every_s": 1, "timeout_ms": 500},
    ]
    # A bad configuration is refused with the field named, and stores nothing.
    try:
        call(PORT, "PUT", f"/api/v1/ous/{ou}/config", token,
             {"name": "bad", "config": {"interval_seconds": 60, "checks": [dict(checks[0], every_s=0.2)]}})
        fail("a check with every_s 0.2 was accepted")
    except urllib.error.HTTPError as e:
        body = json.loads(e.read())
        if e.code != 400 or "every_s" not in json.dumps(body):
            fail(f"bad every_s: {e.code} {body}")
    call(PORT, "PUT", f"/api/v1/ous/{ou}/config", token, {"name": "e2e", "config": {"interval_seconds": 60, "checks": checks}})

    # 1. Enrolment and the four kinds, attributed to the device.
    state = os.path.join(WORK, "agent")
    agent = start_agent(state, "--upload-batch", "2", server_port=PORT, secret=secret, name="e2e-agent")
    device = wait("device enrolled", lambda: device_of(token, "e2e-agent"), 30)["id"]
    if oct(os.stat(os.path.join(state, "device.json")).st_mode & 0o777) != "0o600":
        fail("device.json is not mode 0600")

    def kinds_seen():
        seen = {kind for _, _, kind, ok in results_of(token, device) if ok}
        return seen >= {"tcp", "udp", "icmp", "http"}
    wait("successful results of all four kinds", kinds_seen, 30)
    agent_status = wait("heartbeat with the agent's state", lambda: device_of(token, "e2e-agent").get("agent"), 10)
    if agent_status["checks_configured"] != 4 or device_of(token, "e2e-agent")["status"] != "online":
        fail(f"device after heartbeat: {device_of(token, 'e2e-agent')}")
    print("ok: enrolled, four kinds measured and stored for the device, heartbeat shows the agent")

    # The server's own embedded agent (serve): a local device measuring the echo responder,
    # 127.0.0.1 and /health.
    local = next(d for d in call(PORT, "GET", "/api/v1/devices", token)[1]["devices"] if d["client_type"] == "waddleperf-serve")

    def local_kinds():
        return {kind for _, _, kind, ok in results_of(token, local["id"]) if ok} >= {"tcp", "udp", "icmp", "http"}
    wait("the embedded agent's four checks", local_kinds, 25)
    print("ok: serve's embedded agent measures its echo responder (tcp, udp), 127.0.0.1 and /health")

    # 1b. Ad hoc: `probe --upload` with an API key, `run --upload` with the device's token.
    me = call(PORT, "GET", "/api/v1/auth/whoami", token)[1]
    key = call(PORT, "POST", f"/api/v1/users/{me['id']}/api-keys", token, {"name": "cli", "password": ADMIN_PASSWORD})[1]["key"]
    probe = subprocess.run([BINARY, "probe", "tcp", f"127.0.0.1:{ECHO}", "-c", "3", "-i", "50ms", "--upload", f"http://127.0.0.1:{PORT}",
                            "--token", key, "-f", "json"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0 or "uploaded 1 results" not in probe.stderr:
        fail(f"probe --upload: {probe.returncode} {probe.stderr}")
    cli = call(PORT, "GET", f"/api/v1/results?target=127.0.0.1:{ECHO}&test_type=tcp&limit=1000", token)[1]["results"]
    if not any(r["device_id"] is None and r["sent"] == 3 and r["received"] == 3 for r in cli):
        fail(f"the probe's upload is not stored as the user's: {cli[:2]}")
    with open(os.path.join(state, "device.json")) as f:
        device_token = json.load(f)["token"]
    checks_file = os.path.join(WORK, "adhoc.json")
    with open(checks_file, "w") as f:
        json.dump([{"kind": "udp", "target": f"127.0.0.1:{ECHO}", "name": "adhoc", "count": 2}], f)
    run = subprocess.run([BINARY, "run", checks_file, "--upload", f"http://127.0.0.1:{PORT}", "-f", "json"],
                         capture_output=True, text=True, timeout=60, env=dict(os.environ, WADDLEPERF_UPLOAD_TOKEN=device_token))
    if run.returncode != 0 or "uploaded 1 results" not in run.stderr:
        fail(f"run --upload: {run.returncode} {run.stderr}")
    bad = subprocess.run([BINARY, "probe", "tcp", f"127.0.0.1:{ECHO}", "-c", "1", "--upload", f"http://127.0.0.1:{PORT}", "--token", "wrong"],
                         capture_output=True, text=True, timeout=60)
    if bad.returncode != 2 or "upload" not in bad.stderr or "401" not in bad.stderr:
        fail(f"a refused token: {bad.returncode} {bad.stderr}")
    print("ok: probe --upload (API key) and run --upload (device token) store the run's documents; a bad token is an error naming it")

    # 2. A configuration change, applied without a restart.
    changed = checks[:3] + [{"name": "echo-tcp-2", "kind": "tcp", "target": f"127.0.0.1:{ECHO}", "every_s": 1, "timeout_ms": 500}]
    call(PORT, "PUT", f"/api/v1/ous/{ou}/config", token, {"name": "e2e-2", "config": {"interval_seconds": 60, "checks": changed}})
    changed_at = time.time() * 1000
    wait("the new check's results", lambda: any(c == "echo-tcp-2" for c, *_ in results_of(token, device)), 10)
    time.sleep(2.5)
    late = [t for c, t, *_ in results_of(token, device) if c == "health" and t > changed_at + 2500]
    if late or agent.poll() is not None:
        fail(f"the removed check still ran ({len(late)} runs) or the agent restarted")
    print("ok: a configuration change reached the running agent within its poll period")

    # 3. The server is away for 30 s; a second agent with a 64 KiB buffer fills it.
    small_state = os.path.join(WORK, "small")
    many = [{"name": f"c{i}", "kind": "icmp", "target": "127.0.0.1", "every_s": 1, "timeout_ms": 500} for i in range(40)]
    local = os.path.join(WORK, "small.json")
    with open(local, "w") as f:
        json.dump({"checks": many}, f)
    small = start_agent(small_state, "--config", local, "--buffer-max-bytes", "64KiB", server_port=PORT, secret=secret, name="small-agent")
    small_device = wait("small agent enrolled", lambda: device_of(token, "small-agent"), 30)["id"]
    stop(server)
    time.sleep(30)
    counters, buffered = buffer_counters(state)
    if buffered < 100:
        fail(f"the agent buffered only {buffered} results during the outage")
    small_counters, _ = buffer_counters(small_state)
    if small_counters.get("dropped", 0) == 0:
        fail(f"the 64 KiB buffer dropped nothing: {small_counters}")
    print(f"ok: during a 30 s outage the agent buffered {buffered} results; the small buffer dropped {small_counters['dropped']}")

    # 4. The server returns; the agent is killed mid-upload and restarted.
    server = start_server()
    token = admin_token()
    wait("uploads resumed", lambda: buffer_counters(state)[0].get("uploaded", 0) > counters.get("uploaded", 0), 60, every=0.02)
    agent.send_signal(signal.SIGKILL)
    agent.wait()
    _, left = buffer_counters(state)
    if left < 10:
        fail(f"the kill came too late to be mid-upload: {left} results left")
    agent = start_agent(state, "--upload-batch", "2", server_port=PORT, name="e2e-agent")
    wait("backlog drained after the restart", lambda: buffer_counters(state)[1] < 20, 90)
    wait("the small agent's backlog drained", lambda: buffer_counters(small_state)[1] < 80, 60)
    stop(agent)
    stop(small)
    stored, counters = exactly_once(token, device, state, "after SIGKILL mid-upload")
    print(f"ok: killed with {left} results left to upload; all {len(stored)} results stored exactly once "
          f"({counters.get('appended')} appended, none twice)")
    small_stored, small_counters = exactly_once(token, small_device, small_state, "small buffer")
    small_agent = device_of(token, "small-agent")["agent"]
    if small_agent["dropped_results"] <= 0:
        fail(f"the small agent's heartbeat reports no drops: {small_agent}")
    with open(os.path.join(WORK, "small-agent.log")) as f:
        if "dropped" not in f.read():
            fail("the small agent did not log its drops")
    print(f"ok: the full buffer dropped {small_counters['dropped']} of the oldest results, said so in its log and heartbeat, "
          f"and the other {len(small_stored)} arrived once")

    # 5. The answer to an upload is lost after the commit: the retry is deduplicated.
    proxy_port = free_port()
    proxy = QuietServer(("127.0.0.1", proxy_port), LosingProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    lost_state = os.path.join(WORK, "lost")
    lossy = start_agent(lost_state, server_port=proxy_port, secret=secret, name="lossy-agent")
    wait("an answer dropped and the retry replayed", lambda: LosingProxy.lost and LosingProxy.replays, 60)
    if LosingProxy.replays[0] != (LosingProxy.lost[0], 200):
        fail(f"lost {LosingProxy.lost}, replayed {LosingProxy.replays}")
    time.sleep(1.5)
    stop(lossy)
    lossy_device = device_of(token, "lossy-agent")["id"]
    proxy.shutdown()
    # What the agent still had buffered at SIGTERM is flushed through the proxy too.
    lossy_stored, _ = exactly_once(token, lossy_device, lost_state, "lost answer")
    print(f"ok: an answer lost after commit; the retry with key {LosingProxy.lost[0]} was replayed (200), "
          f"{len(lossy_stored)} results stored once")
    stop(server)

    # 6. 1,000 checks at 10 s keep their schedule.
    thousand = [{"name": f"s{i}", "kind": ["tcp", "icmp", "udp"][i % 3],
                 "target": "127.0.0.1" if i % 3 == 1 else f"127.0.0.1:{ECHO}", "every_s": 10, "timeout_ms": 1000}
                for i in range(1000)]
    path = os.path.join(WORK, "thousand.json")
    with open(path, "w") as f:
        json.dump(thousand, f)
    echo = subprocess.Popen([BINARY, "serve", "--database", f"sqlite://{WORK}/echo.db", "--port", "0", "--dev",
                             "--echo-port", str(ECHO), "--secret-file", f"{WORK}/secret2"],
                            stdout=log("echo.log"), stderr=subprocess.STDOUT, cwd=WORK,
                            env={k: v for k, v in os.environ.items() if not k.startswith("WADDLEPERF_")})
    time.sleep(2)
    scheduled = start_agent(os.path.join(WORK, "sched"), "--config", path, name="sched-agent")
    time.sleep(32)
    stop(scheduled)
    stop(echo)
    starts = {}
    with open(os.path.join(WORK, "sched-agent.out")) as f:
        for line in f:
            d = json.loads(line)
            starts.setdefault(d["raw"]["details"]["check"] if "raw" in d else d["details"]["check"], []).append(d["created_at"])
    errors = []
    for times in starts.values():
        times.sort()
        errors += [abs((t - times[0]) - k * 10_000) for k, t in enumerate(times)][1:]
    if len(starts) != 1000 or len(errors) < 1500:
        fail(f"{len(starts)} checks ran, {len(errors)} repeat runs")
    errors.sort()
    p99 = errors[int(len(errors) * 0.99) - 1]
    failed = sum(1 for line in open(os.path.join(WORK, "sched-agent.out")) if '"success":false' in line)
    if p99 >= 50:
        fail(f"start-time error p99 {p99} ms (goal < 50 ms)")
    print(f"ok: 1,000 checks at 10 s: {len(errors)} repeat starts, error p50 {errors[len(errors) // 2]} ms, "
          f"p99 {p99} ms, max {errors[-1]} ms ({failed} failed probes)")


if __name__ == "__main__":
    main()
