#!/usr/bin/env python3
"""Alerts end to end, real processes on loopback.

A server (alert evaluation every second) and an agent checking a TCP port this script opens
and closes every second; a rule `avg(loss_percent) > 50 over 6 s` with a webhook to a real
receiver here. The receiver refuses its first delivery (500), so the retry is exercised.

  * closing the port fires the rule: exactly one `firing` notification arrives (after one
    refused attempt); reopening it resolves: exactly one `resolved` notification;
  * the transitions are stored and listed (pending/firing/resolved in order);
  * a second rule whose webhook nothing answers leaves a dead-letter record after its
    attempts, with the last error;
  * bad rules are refused naming the field; an OU admin cannot aim a webhook at loopback.

Usage: alerts_e2e.py WADDLEPERF_BINARY   (exit 0 on success)
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "durability"))
from http_client import call, free_port  # noqa: E402

BINARY = sys.argv[1]
WORK = tempfile.mkdtemp(prefix="wp-alerts-")
PORT, TARGET_PORT, HOOK_PORT = free_port(), free_port(), free_port()
ADMIN_PASSWORD = "Alert-Root-Pass-1"
received, attempts = [], []


def fail(message):
    for name in ("server.log", "agent.log"):
        try:
            print(f"--- {name}\n" + open(os.path.join(WORK, name)).read()[-3000:], file=sys.stderr)
        except OSError:
            pass
    sys.exit(f"FAIL: {message}")


def wait(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    fail(f"{what}: not within {timeout} s")


class Receiver(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        attempts.append((body["id"], body["status"]))
        # The first delivery of all is refused: it must be retried.
        if len(attempts) == 1:
            self.send_response(500)
            self.end_headers()
            return
        received.append(body)
        self.send_response(204)
        self.end_headers()


class Port:
    """The TCP target: open (listening) or closed (refused)."""
    def __init__(self):
        self.sock = None

    def open(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", TARGET_PORT))
        self.sock.listen(128)
        threading.Thread(target=self._accept, args=(self.sock,), daemon=True).start()

    def _accept(self, sock):
        while True:
            try:
                conn, _ = sock.accept()
                conn.close()
            except OSError:
                return

    def close(self):
        self.sock.close()
        self.sock = None


def main():
    hook = ThreadingHTTPServer(("127.0.0.1", HOOK_PORT), Receiver)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    target = Port()
    target.open()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WADDLEPERF_")}
    env.update(WADDLEPERF_JWT_SECRET="alerts-e2e-secret-0123456789abcdef0123456789", WADDLEPERF_ADMIN_PASSWORD=ADMIN_PASSWORD,
               WADDLEPERF_BCRYPT_COST="4", WADDLEPERF_RATE_LIMIT="off", WADDLEPERF_ALERT_INTERVAL="1s",
               WADDLEPERF_WEBHOOK_ATTEMPTS="3", WADDLEPERF_WEBHOOK_RETRY="300ms")
    server = subprocess.Popen([BINARY, "serve", "--database", f"sqlite://{WORK}/server.db", "--port", str(PORT), "--echo-port", "off",
                               "--agent", "off", "--secret-file", f"{WORK}/secret"],
                              env=env, stdout=open(os.path.join(WORK, "server.log"), "w"), stderr=subprocess.STDOUT, cwd=WORK)
    agent = None
    try:
        def ready():
            try:
                return call(PORT, "GET", "/ready", timeout=2)[0] == 200
            except (OSError, urllib.error.URLError):
                return False
        wait("server ready", ready, 60)
        token = call(PORT, "POST", "/api/v1/auth/login", body={"username": "admin", "password": ADMIN_PASSWORD})[1]["token"]
        ou = call(PORT, "POST", "/api/v1/ous", token, {"name": "watched"})[1]["id"]
        secret = call(PORT, "POST", "/api/v1/enrollment/secrets", token, {"ou_id": ou, "name": "a"})[1]["secret"]
        check = {"name": "port", "kind": "tcp", "target": f"127.0.0.1:{TARGET_PORT}", "every_s": 1, "timeout_ms": 500}
        call(PORT, "PUT", f"/api/v1/ous/{ou}/config", token, {"name": "w", "config": {"interval_seconds": 60, "checks": [check]}})

        # Bad rules: named fields, nothing stored.
        rule = {"name": "port down", "ou_id": ou, "metric": "loss_percent", "aggregation": "avg", "window_s": 10, "comparison": ">",
                "threshold": 50, "for_s": 2, "selector": {"test_type": "tcp", "target": f"127.0.0.1:{TARGET_PORT}"},
                "webhook": {"url": f"http://127.0.0.1:{HOOK_PORT}/hook"}}
        for bad, field in ((dict(rule, metric="nonsense"), "metric"), (dict(rule, window_s=1), "window_s"),
                           (dict(rule, comparison="=="), "comparison"), (dict(rule, webhook={"url": "ftp://x.example/"}), "webhook.url")):
            try:
                call(PORT, "POST", "/api/v1/alert-rules", token, bad)
                fail(f"a rule with a bad {field} was accepted")
            except urllib.error.HTTPError as e:
                text = e.read().decode()
                if e.code not in (400, 422) or field not in text:
                    fail(f"bad {field}: {e.code} {text}")
        if call(PORT, "GET", "/api/v1/alert-rules", token)[1]["rules"]:
            fail("a refused rule was stored")
        # An OU admin's webhook may not aim at loopback: the delivery is refused, dead at once.
        call(PORT, "POST", "/api/v1/users", token, {"username": "ouadmin", "password": "Ou-Admin-Pass-1", "role": "ou_admin", "ou_id": ou,
                                                    "email": "ou@example.org"})
        ou_token = call(PORT, "POST", "/api/v1/auth/login", body={"username": "ouadmin", "password": "Ou-Admin-Pass-1"})[1]["token"]

        rule_id = call(PORT, "POST", "/api/v1/alert-rules", token, rule)[1]["id"]
        dead_rule = call(PORT, "POST", "/api/v1/alert-rules", token,
                         dict(rule, name="nobody listens", webhook={"url": f"http://127.0.0.1:{free_port()}/x", "format": "slack"}))[1]["id"]
        ssrf_rule = call(PORT, "POST", "/api/v1/alert-rules", ou_token, dict(rule, name="ou admin's"))[1]["id"]

        agent = subprocess.Popen([BINARY, "agent", "--server", f"http://127.0.0.1:{PORT}", "--enroll", secret, "--serial", "alert-agent",
                                  "--state-dir", f"{WORK}/agent", "--poll", "1s", "--heartbeat", "1s"],
                                 stdout=subprocess.DEVNULL, stderr=open(os.path.join(WORK, "agent.log"), "w"))
        wait("results from the agent", lambda: call(PORT, "GET", f"/api/v1/results?target=127.0.0.1:{TARGET_PORT}&limit=5", token)[1]["results"], 20)
        time.sleep(3)
        if received or attempts:
            fail(f"a notification while the port was open: {attempts}")

        # The port closes: pending, then firing after for_s, one notification after a refused attempt.
        target.close()
        closed_at = time.time()
        wait("the firing notification", lambda: [r for r in received if r["status"] == "firing" and r["rule"]["id"] == rule_id], 30)
        fired_after = time.time() - closed_at
        firing = call(PORT, "GET", "/api/v1/alerts?state=firing", token)[1]["alerts"]
        if not any(a["rule_id"] == rule_id and a["series"]["target"] == f"127.0.0.1:{TARGET_PORT}" for a in firing):
            fail(f"/alerts does not list the firing series: {firing}")
        time.sleep(3)
        target.open()
        wait("the resolved notification", lambda: [r for r in received if r["status"] == "resolved" and r["rule"]["id"] == rule_id], 30)
        time.sleep(3)   # a few more evaluations: nothing more may arrive
        mine = [(r["status"], r["id"]) for r in received if r["rule"]["id"] == rule_id]
        if sorted(s for s, _ in mine) != ["firing", "resolved"]:
            fail(f"the webhook received {mine}, not exactly one firing and one resolved")
        if attempts[0][1] != "firing" or attempts.count(attempts[0]) != 2:
            fail(f"the refused first delivery was not retried once: {attempts}")
        transitions = [t["to"] for t in reversed(call(PORT, "GET", f"/api/v1/alert-rules/{rule_id}/transitions", token)[1]["transitions"])]
        if transitions != ["pending", "firing", "resolved"]:
            fail(f"transitions: {transitions}")
        body = [r for r in received if r["status"] == "firing"][0]
        if body["value"] <= 50 or body["series"]["device_id"] is None or "port down" not in body["text"]:
            fail(f"the firing document: {body}")
        print(f"ok: closing the port fired the rule after {fired_after:.1f} s (for_s 2), the refused delivery was retried, "
              f"reopening resolved it; the webhook got exactly {mine}; transitions {transitions}")

        def dead_letters(rule):
            return [n for n in call(PORT, "GET", f"/api/v1/alert-notifications?status=dead&rule_id={rule}", token)[1]["notifications"]]
        dead = wait("the dead letter", lambda: [n for n in dead_letters(dead_rule) if n["kind"] == "resolved"], 30)
        if any(n["attempts"] != 3 or not n["last_error"] for n in dead):
            fail(f"dead letters: {dead}")
        refused = wait("the OU admin's refused webhook", lambda: dead_letters(ssrf_rule), 30)
        if refused[0]["attempts"] != 1 or "refused" not in refused[0]["last_error"]:
            fail(f"the loopback webhook of an OU admin: {refused}")
        print(f"ok: a webhook nobody answers leaves dead letters after 3 attempts ({dead[0]['last_error'][:60]}...); "
              f"an OU admin's loopback webhook is refused ({refused[0]['last_error'][:70]})")
    finally:
        if agent:
            agent.terminate()
            agent.wait(30)
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
