#!/usr/bin/env python3
"""Graceful shutdown under a real SIGTERM, on the embedded store.

Starts `waddleperf serve` (HTTP server, result writer, retention and echo responder in one
ServiceGroup) with a long batch delay, so uploads wait in the writer's queue. While uploads are
in flight it sends SIGTERM and checks:

  * every upload already sent is answered 201 (the server finishes in-flight requests, and the
    writer, stopped after the server, commits their rows);
  * the process exits 0 and says how many results it committed;
  * every acknowledged row is in the database file afterwards, and nothing else;
  * the echo responder's port is closed (it stopped with the group).

Usage: sigterm.py WADDLEPERF_BINARY   (exit 0 on success)
"""
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error

from http_client import call, free_port

BATCH = 20
THREADS = 8
ADMIN_PASSWORD = "Graceful-Root-Pass-1"

def main():
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="wp-sigterm-")
    db = os.path.join(work, "wp.db")
    port, echo = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WADDLEPERF_")}
    # Rows wait up to 1.5 s for their batch: the signal arrives while they are queued.
    env.update(WADDLEPERF_JWT_SECRET="graceful-secret-0123456789abcdef0123456789",
               WADDLEPERF_ADMIN_PASSWORD=ADMIN_PASSWORD, WADDLEPERF_BCRYPT_COST="4", WADDLEPERF_BATCH_DELAY="1500ms")
    out = open(os.path.join(work, "server.log"), "w+b")
    server = subprocess.Popen([binary, "serve", "--database", f"sqlite://{db}", "--port", str(port), "--echo-port", str(echo),
                               "--secret-file", os.path.join(work, "secret")], cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"FAIL: server did not start ({server.returncode})")
        try:
            if call(port, "GET", "/ready", timeout=2)[0] == 200:
                break
        except (OSError, urllib.error.URLError):
            time.sleep(0.1)
    token = call(port, "POST", "/api/v1/auth/login", body={"username": "admin", "password": ADMIN_PASSWORD})[1]["token"]
    with socket.create_connection(("127.0.0.1", echo), timeout=2):
        pass

    sent, acked, failed = [], [], []
    started = threading.Barrier(THREADS + 1)

    def upload(number):
        rows = [{"test_type": "tcp", "target": f"graceful-{number}-{i}", "outcome": "success", "success": True} for i in range(BATCH)]
        started.wait()
        sent.append(number)
        try:
            status, reply = call(port, "POST", "/api/v1/results", token, {"results": rows})
            (acked if status == 201 and reply.get("accepted") == BATCH else failed).append((number, status))
        except Exception as error:  # noqa: BLE001 - any failure of an in-flight upload is the finding
            failed.append((number, repr(error)))

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    started.wait()
    time.sleep(0.4)   # the requests are in, their rows queued behind the batch delay
    server.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(timeout=30)
    code = server.wait(timeout=30)
    out.seek(0)
    log = out.read().decode(errors="replace")
    stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM test_results WHERE target LIKE 'graceful-%'").fetchone()[0]
    echo_closed = False
    try:
        socket.create_connection(("127.0.0.1", echo), timeout=1).close()
    except OSError:
        echo_closed = True
    print(f"sigterm: {len(sent)} uploads in flight at SIGTERM, {len(acked)} acknowledged, {len(failed)} failed, "
          f"{stored} rows stored (expected {len(acked) * BATCH}), exit {code}, echo closed: {echo_closed}")
    if failed:
        sys.exit(f"FAIL: in-flight uploads not acknowledged: {failed}\n{log}")
    if code != 0:
        sys.exit(f"FAIL: exit status {code}\n{log}")
    if stored != len(acked) * BATCH:
        sys.exit(f"FAIL: {stored} rows stored, {len(acked) * BATCH} acknowledged")
    if "results committed this run" not in log:
        sys.exit(f"FAIL: no shutdown summary\n{log}")
    if not echo_closed:
        sys.exit("FAIL: the echo responder still answers after shutdown")


if __name__ == "__main__":
    main()
