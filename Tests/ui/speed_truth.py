#!/usr/bin/env python3
"""The browser speed test against a known truth: the server runs in a network namespace behind
a veth pair rate-limited by tbf (download 80 Mbit/s, upload 40 Mbit/s), and Chromium measures
through it. tbf counts whole frames, so the payload can reach ~95.6 % of the rate (1448 of
1514 bytes a full segment): the browser's figures must be 80-100 % of the shaped rates (room
for a loaded 2-core machine below, none above the wire) and agree with curl's on the same path
within 15 %. (This kernel has no netem, so latency is not injected here.) Where the machine
cannot make a namespace or a tbf qdisc, the check says so and is skipped; a wrong figure
always fails.

Usage: speed_truth.py WADDLEPERF_BINARY WEB_ROOT SCREENSHOT_DIR   (as root; exit 0 on success)
"""
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

from browser import chromium, log_in, run_speed_test, wait_ready

BINARY, WEB_ROOT, SHOTS = sys.argv[1], sys.argv[2], sys.argv[3]
DOWN_MBIT, UP_MBIT = 80, 40
NS = f"wpspeed{os.getpid()}"
HOST_IF, NS_IF = f"wps{os.getpid() % 100000}a", f"wps{os.getpid() % 100000}b"
SERVER_IP, PORT = "10.231.0.2", 8080
PASSWORD = "Truth-Root-Pass-1"


def sh(*args):
    subprocess.run(args, check=True)


def fail(message):
    sys.exit(f"FAIL: {message}")


def curl_rate(args):
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-H", "Expect:", *args], capture_output=True, text=True, check=True).stdout
    return float(out) * 8 / 1e6


def setup_or_skip(*args):
    """A step of the namespace's setup; a machine that cannot do it skips the check."""
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"skipped: the speed test's truth check needs `{' '.join(args[:4])}`: {done.stderr.strip()}")
        subprocess.run(["ip", "link", "del", HOST_IF], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "del", NS], stderr=subprocess.DEVNULL)
        sys.exit(0)


def main():
    work = tempfile.mkdtemp(prefix="wp-speed-")
    setup_or_skip("ip", "netns", "add", NS)
    server = driver = None
    try:
        setup_or_skip("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF)
        sh("ip", "link", "set", NS_IF, "netns", NS)
        sh("ip", "addr", "add", "10.231.0.1/30", "dev", HOST_IF)
        sh("ip", "link", "set", HOST_IF, "up")
        sh("ip", "netns", "exec", NS, "ip", "addr", "add", f"{SERVER_IP}/30", "dev", NS_IF)
        sh("ip", "netns", "exec", NS, "ip", "link", "set", NS_IF, "up")
        sh("ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up")
        # Egress of each end: towards the namespace is the browser's upload, out of it the download.
        setup_or_skip("tc", "qdisc", "add", "dev", HOST_IF, "root", "tbf", "rate", f"{UP_MBIT}mbit", "burst", "256kb", "latency", "200ms")
        sh("ip", "netns", "exec", NS, "tc", "qdisc", "add", "dev", NS_IF, "root", "tbf", "rate", f"{DOWN_MBIT}mbit", "burst", "256kb",
           "latency", "200ms")
        env = {k: v for k, v in os.environ.items() if not k.startswith("WADDLEPERF_")}
        env.update(WADDLEPERF_ADMIN_PASSWORD=PASSWORD, WADDLEPERF_BCRYPT_COST="4", WADDLEPERF_WEB_ROOT=WEB_ROOT)
        server = subprocess.Popen(["ip", "netns", "exec", NS, BINARY, "serve", "--host", SERVER_IP, "--port", str(PORT),
                                   "--database", f"sqlite://{work}/db", "--agent", "off", "--echo-port", "17777",
                                   "--secret-file", f"{work}/secret"], env=env, cwd=work,
                                  stdout=open(f"{work}/server.log", "w"), stderr=subprocess.STDOUT)
        base = f"http://{SERVER_IP}:{PORT}"
        wait_ready(base)
        login = urllib.request.Request(base + "/api/v1/auth/login", data=json.dumps({"username": "admin", "password": PASSWORD}).encode(),
                                       headers={"Content-Type": "application/json"})
        token = json.load(urllib.request.urlopen(login))["token"]
        auth = ["-H", f"Authorization: Bearer {token}"]
        curl_down = curl_rate(["-w", "%{speed_download}", *auth, f"{base}/api/v1/speedtest/download?bytes=40000000"])
        payload = os.path.join(work, "upload.bin")
        with open(payload, "wb") as f:
            f.write(os.urandom(20_000_000))
        curl_up = curl_rate(["-w", "%{speed_upload}", *auth, "--data-binary", f"@{payload}", f"{base}/api/v1/speedtest/upload"])
        print(f"ok: curl through the shaped path: {curl_down:.1f} Mbit/s down (tbf {DOWN_MBIT}), {curl_up:.1f} up (tbf {UP_MBIT})")

        driver = chromium()
        log_in(driver, base, "admin", PASSWORD)
        figures = run_speed_test(driver, base, seconds=6, timeout=90)
        down, up = figures["download"], figures["upload"]
        driver.save_screenshot(os.path.join(SHOTS, "speed-truth-1280.png"))
        for name, measured, shaped, peer in (("download", down, DOWN_MBIT, curl_down), ("upload", up, UP_MBIT, curl_up)):
            if not 0.80 * shaped <= measured <= 1.0 * shaped:
                fail(f"the browser's {name} {measured:.1f} Mbit/s is not 80-100 % of the shaped {shaped} Mbit/s")
            if abs(measured / peer - 1) > 0.15:
                fail(f"the browser's {name} {measured:.1f} Mbit/s differs from curl's {peer:.1f} by more than 15 %")
        print(f"ok: the browser measured {down:.1f} Mbit/s down ({down / DOWN_MBIT:.0%} of the tbf rate, {down / curl_down:.2f}x curl) "
              f"and {up:.1f} up ({up / UP_MBIT:.0%}, {up / curl_up:.2f}x curl)")
    finally:
        if driver:
            driver.quit()
        if server:
            server.terminate()
            server.wait(30)
        subprocess.run(["ip", "link", "del", HOST_IF], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "del", NS], stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
