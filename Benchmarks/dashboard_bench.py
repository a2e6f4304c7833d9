#!/usr/bin/env python3
"""Seeds RESULTS results in SERIES series through the upload API, then times the dashboard's
first chart in headless Chromium (see Benchmarks/dashboard.sh). Usage: BASE RESULTS SERIES RUNS"""
import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "ui"))
from browser import chromium, log_in  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

BASE, RESULTS, SERIES, RUNS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
PASSWORD = "Bench-Root-Pass-1"
url = urllib.parse.urlparse(BASE)
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)


def call(method, path, token=None, body=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=body if isinstance(body, (bytes, type(None))) else json.dumps(body), headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


status, body = call("POST", "/api/v1/auth/login", body={"username": "admin", "password": PASSWORD})
token = json.loads(body)["token"]

# Seeding: one result per series every 24 h / per-series count, newest at now.
now = int(time.time() * 1000)
per_series = RESULTS // SERIES
step = 86_400_000 // per_series
kinds = ["icmp", "tcp", "http"]
started = time.monotonic()
batch, sent = [], 0
for i in range(per_series):
    t = now - (per_series - i) * step
    for s in range(SERIES):
        kind = kinds[s % 3]
        target = f"https://t{s}.example/" if kind == "http" else f"t{s}.example"
        latency = 1 + (s % 50) + ((i * 7919 + s * 104729) % 1000) / 100
        ok = (i + s) % 50 != 0
        batch.append('{"test_type":"%s","target":"%s","outcome":"%s","success":%s,"latency_ms":%.2f,"p50_ms":%.2f,"loss_percent":%d,"created_at":%d}'
                     % (kind, target, "success" if ok else "timeout", "true" if ok else "false", latency, latency, 0 if ok else 100, t))
        if len(batch) == 10_000:
            status, body = call("POST", "/api/v1/results", token, ('{"results":[' + ",".join(batch) + "]}").encode())
            if status != 201:
                sys.exit(f"upload refused: {status} {body[:200]!r}")
            sent += len(batch)
            batch = []
if batch:
    call("POST", "/api/v1/results", token, ('{"results":[' + ",".join(batch) + "]}").encode())
    sent += len(batch)
seeded = time.monotonic() - started
print(f"seeded {sent:,} results in {SERIES:,} series over 24 h in {seeded:.1f} s ({sent / seeded:,.0f}/s through the API)")

# What the pickers would cost computed from the results, against the series listing.
def timed(path):
    start = time.monotonic()
    status, _ = call("GET", path, token)
    return (time.monotonic() - start) * 1000, status

aggregate = [timed(f"/api/v1/statistics?group_by=test_type&since={now - 86_400_000}")[0] for _ in range(3)]
listing = [timed("/api/v1/series?limit=10000")[0] for _ in range(3)]
one = [timed(f"/api/v1/statistics?group_by=time&bucket=600&test_type=icmp&target=t0.example&limit=10000&since={now - 86_400_000}")[0] for _ in range(3)]
print(f"server: statistics by test type over 24 h (the pickers computed from results): median {statistics.median(aggregate):.0f} ms")
print(f"server: /api/v1/series (the pickers from the series table): median {statistics.median(listing):.1f} ms")
print(f"server: one target's 24 h in 10-min buckets (the first chart's data): median {statistics.median(one):.1f} ms")

driver = chromium()
try:
    wait = WebDriverWait(driver, 60)
    log_in(driver, BASE, "admin", PASSWORD)
    times, requests = [], None
    for run in range(RUNS):
        driver.get("about:blank")
        driver.get(BASE + "/#/dashboard")
        mark = wait.until(lambda d: d.execute_script(
            "const m = performance.getEntriesByName('chart-data:chart-latency'); return m.length ? m[0].startTime : null"))
        times.append(mark)
        requests = driver.execute_script(
            "return performance.getEntriesByType('resource').filter(r => r.name.includes('/api/'))"
            ".map(r => [r.name.replace(location.origin, ''), Math.round(r.startTime), Math.round(r.duration)])")
    points = driver.execute_script("return document.querySelector('[data-testid=chart-latency]').dataset.points")
    print(f"first chart (latency, {points} points) after navigation, {RUNS} runs: median {statistics.median(times):.0f} ms, "
          f"max {max(times):.0f} ms (goal: under 1000 ms)")
    print("the last run's API requests (path, start ms, duration ms):")
    for name, start, duration in requests:
        print(f"  {name[:110]:<110} {start:>6} {duration:>6}")
finally:
    driver.quit()
