#!/usr/bin/env python3
"""Durability under kill -9, against a real MariaDB.

Starts `waddleperf control` on a fresh MariaDB database, has many threads upload
result batches concurrently (each row named by its batch), kills the server with
SIGKILL in the middle of the traffic, restarts it on the same database and checks:

  * every row of every acknowledged batch is present (an ack means committed);
  * every batch is all-or-nothing (no partial batches, acknowledged or not);
  * the restarted server answers and accepts uploads again.

Usage: kill9.py WADDLEPERF_BINARY MARIADB_URL   (exit 0 on success)
"""
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse

from http_client import call, free_port

BATCH = 50
THREADS = 16
RUN_BEFORE_KILL = 2.0
ADMIN_PASSWORD = "Durable-Root-Pass-1"

def start(binary, database, port, log):
    # The server takes every WADDLEPERF_* variable as a setting (and refuses unknown ones), so
    # the test runner's own (WADDLEPERF_TEST_MARIADB, ...) are not passed on.
    env = {k: v for k, v in os.environ.items() if not k.startswith("WADDLEPERF_")}
    env.update(WADDLEPERF_JWT_SECRET="durability-secret-0123456789abcdef0123456789",
               WADDLEPERF_ADMIN_PASSWORD=ADMIN_PASSWORD, WADDLEPERF_BCRYPT_COST="4")
    process = subprocess.Popen([binary, "control", "--database", database, "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"FAIL: server exited with {process.returncode} during start-up")
        try:
            if call(port, "GET", "/ready", timeout=2)[0] == 200:
                return process
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    process.kill()
    sys.exit("FAIL: server not ready within 60 s")


def uploader(port, token, number, acked, attempted, stop):
    sequence = 0
    while not stop.is_set():
        batch = f"dur-{number}-{sequence}"
        rows = [{"test_type": "tcp", "target": f"{batch}-{i}", "outcome": "success", "success": True, "latency_ms": 0.5 + i}
                for i in range(BATCH)]
        attempted.append(batch)
        try:
            status, reply = call(port, "POST", "/api/v1/results", token, {"results": rows})
            if status == 201 and reply.get("accepted") == BATCH:
                acked.append(batch)
        except (OSError, urllib.error.URLError, ValueError):
            return   # the server is gone: this batch's fate is unknown, which is allowed
        sequence += 1


def stored_batches(mariadb_url, database):
    url = urllib.parse.urlparse(mariadb_url)
    command = ["mariadb", "-h", url.hostname or "127.0.0.1", "-P", str(url.port or 3306), "-u", url.username or "root", "-N", "-B",
               "-e", f"SELECT target FROM `{database}`.test_results WHERE target LIKE 'dur-%'"]
    if url.password:
        command.insert(1, f"-p{url.password}")
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    counts = {}
    for target in output.split():
        batch = target.rsplit("-", 1)[0]
        counts[batch] = counts.get(batch, 0) + 1
    return counts


def main():
    binary, mariadb_url = sys.argv[1], sys.argv[2]
    database_name = f"wp_durability_{os.getpid()}"
    url = urllib.parse.urlparse(mariadb_url)
    database = urllib.parse.urlunparse(url._replace(path="/" + database_name))
    port = free_port()
    log = open(os.environ.get("DURABILITY_LOG", "/dev/null"), "ab")

    server = start(binary, database, port, log)
    token = call(port, "POST", "/api/v1/auth/login", body={"username": "admin", "password": ADMIN_PASSWORD})[1]["token"]
    acked, attempted, stop = [], [], threading.Event()
    threads = [threading.Thread(target=uploader, args=(port, token, n, acked, attempted, stop)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    time.sleep(RUN_BEFORE_KILL)
    in_flight = len(attempted) - len(acked)
    server.send_signal(signal.SIGKILL)
    server.wait()
    stop.set()
    for thread in threads:
        thread.join()
    acked_at_kill = len(acked)

    server = start(binary, database, port, log)
    try:
        counts = stored_batches(mariadb_url, database_name)
        missing = [b for b in acked if counts.get(b, 0) != BATCH]
        partial = {b: n for b, n in counts.items() if n != BATCH}
        unacked_committed = len(counts) - len(set(acked) & set(counts))
        # The restarted server takes uploads again.
        token = call(port, "POST", "/api/v1/auth/login", body={"username": "admin", "password": ADMIN_PASSWORD})[1]["token"]
        status, _ = call(port, "POST", "/api/v1/results", token,
                         {"results": [{"test_type": "tcp", "target": "after-restart", "outcome": "success", "success": True}]})
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    print(f"durability: {acked_at_kill} batches ({acked_at_kill * BATCH} rows) acknowledged before kill -9, "
          f"~{in_flight} in flight at the kill, {len(counts)} batches stored after restart "
          f"({unacked_committed} committed but unacknowledged), {len(missing)} acknowledged batches missing, "
          f"{len(partial)} partial batches")
    if acked_at_kill < THREADS:
        sys.exit("FAIL: too few uploads before the kill to mean anything")
    if missing:
        sys.exit(f"FAIL: acknowledged batches missing or incomplete after kill -9: {missing[:5]}")
    if partial:
        sys.exit(f"FAIL: partial batches stored: {list(partial.items())[:5]}")
    if status != 201:
        sys.exit(f"FAIL: the restarted server refused an upload ({status})")


if __name__ == "__main__":
    main()
