#!/usr/bin/env python3
"""The web UI in a real headless Chromium (Debian's chromium and chromium-driver, selenium).

Against a real `waddleperf serve` (its embedded agent on, so a device is online):
  * / serves index.html revalidated every time, the hashed assets with a year's immutable
    lifetime, and a content security policy allowing only the server itself;
  * the login page logs the admin in; the overview shows one device online and results
    arriving; the devices page lists the embedded agent's device online with its checks;
  * the theme switches to dark and stays dark across a reload;
  * a wrong password shows the server's message;
  * the admin creates a unit, a reporter in it and an API key (shown once, and it works);
  * an enrollment secret made in the UI enrols a real agent, which the devices page shows online;
    the reporter logs in and sees the directory with no write controls;
  * the admin runs a live ICMP test: the chart grows from the test's WebSocket while it runs,
    the gauges fill, and the test is in the history once done;
  * the speed test runs (download, upload, latency idle and under load) and shows figures
    consistent with the bytes it moved;
  * the dashboards chart the embedded agent's results: latency bands with loss, the SmokePing
    distribution, HTTP phases stacked, and the target from each device;
  * the reporter turns on two-factor login (QR code and secret shown), logs out and back in
    with a code computed from that secret;
  * no console errors, at 1280x800 and at a 390-px phone width.

Usage: ui_test.py WADDLEPERF_BINARY WEB_ROOT SCREENSHOT_DIR   (exit 0 on success)
"""
import base64
import hashlib
import hmac
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from browser import chromium, run_speed_test, wait_ready
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

BINARY, WEB_ROOT, SHOTS = sys.argv[1], sys.argv[2], sys.argv[3]
ADMIN_PASSWORD = "Browser-Root-Pass-1"
os.makedirs(SHOTS, exist_ok=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(message, driver=None):
    if driver:
        driver.save_screenshot(os.path.join(SHOTS, "failure.png"))
    sys.exit(f"FAIL: {message}")


def totp(secret, step):
    """RFC 6238 with the app defaults (SHA-1, 6 digits, 30 s), from the base32 secret shown."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000)


def click(driver, xpath):
    """Scrolls the button to the middle of the window first (a long form's buttons sit below it)."""
    element = driver.find_element(By.XPATH, xpath)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", element)
    element.click()


def points(driver, testid):
    return int(driver.find_element(By.CSS_SELECTOR, f"[data-testid={testid}]").get_attribute("data-points") or 0)


def first_login(driver, work, env):
    """A fresh server generates the admin's one-time password; the first login must change it."""
    env = {k: v for k, v in env.items() if k != "WADDLEPERF_ADMIN_PASSWORD"}
    port = free_port()
    log_path = f"{work}/first.log"
    server = subprocess.Popen([BINARY, "serve", "--database", f"sqlite://{work}/first.db", "--port", str(port), "--agent", "off",
                               "--echo-port", str(free_port()), "--secret-file", f"{work}/secret-first"], env=env, cwd=work,
                              stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    try:
        password = None
        for _ in range(200):
            with open(log_path) as f:
                text = f.read()
            if "one-time password: " in text:
                password = text.split("one-time password: ")[1].split()[0]
                break
            time.sleep(0.1)
        if not password:
            fail("the fresh server printed no one-time password")
        wait = WebDriverWait(driver, 20)
        driver.delete_all_cookies()
        driver.get(f"http://127.0.0.1:{port}/")
        driver.execute_script("localStorage.removeItem('wp_csrf')")
        driver.refresh()
        wait.until(EC.presence_of_element_located((By.ID, "username"))).send_keys("admin")
        driver.find_element(By.ID, "password").send_keys(password)
        driver.find_element(By.CSS_SELECTOR, "form button").click()
        wait.until(EC.presence_of_element_located((By.ID, "new-password"))).send_keys("Chosen-Root-Pass-42")
        driver.save_screenshot(os.path.join(SHOTS, "first-login-1280.png"))
        driver.find_element(By.XPATH, "//button[text()='Change password']").click()
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=whoami]"), "admin (global_admin)"))
        print("ok: a fresh server's generated admin password had to be changed at the first login, then the admin was in")
    finally:
        server.terminate()
        server.wait(30)


def main():
    work = tempfile.mkdtemp(prefix="wp-ui-")
    port, echo = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WADDLEPERF_")}
    env.update(WADDLEPERF_JWT_SECRET="ui-test-secret-0123456789abcdef0123456789abcdef", WADDLEPERF_ADMIN_PASSWORD=ADMIN_PASSWORD,
               WADDLEPERF_BCRYPT_COST="4", WADDLEPERF_WEB_ROOT=WEB_ROOT)
    server = subprocess.Popen([BINARY, "serve", "--database", f"sqlite://{work}/ui.db", "--port", str(port), "--echo-port", str(echo),
                               "--secret-file", f"{work}/secret"], env=env, cwd=work,
                              stdout=open(f"{work}/server.log", "w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    driver = None
    try:
        wait_ready(base)
        # Caching and the policy, from the server itself.
        index = urllib.request.urlopen(base + "/")
        html = index.read().decode()
        if index.headers["Cache-Control"] != "no-cache" or "default-src 'self'" not in index.headers["Content-Security-Policy"]:
            fail(f"index headers: {dict(index.headers)}")
        asset = html.split('src="')[1].split('"')[0]
        js = urllib.request.urlopen(base + asset)
        if "immutable" not in js.headers["Cache-Control"] or not js.headers["Content-Type"].startswith("text/javascript"):
            fail(f"asset headers: {dict(js.headers)}")
        print(f"ok: / revalidates (no-cache), {asset} is immutable for a year, CSP default-src 'self'")

        driver = chromium(console_log=True)
        wait = WebDriverWait(driver, 20)

        def console_errors():
            return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"
                    and "401" not in e["message"]   # the wrong-password attempt's answer is expected
                    and "422" not in e["message"]]  # and the refused check's

        driver.get(base + "/")
        wait.until(EC.presence_of_element_located((By.ID, "username")))
        driver.find_element(By.ID, "username").send_keys("admin")
        driver.find_element(By.ID, "password").send_keys("wrong-password-123")
        driver.find_element(By.CSS_SELECTOR, "form button").click()
        alert = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[role=alert]")))
        if "invalid" not in alert.text.lower():
            fail(f"a wrong password shows: {alert.text}", driver)
        # From the keyboard: Tab from the username to the password (a visible focus ring), Enter submits.
        driver.find_element(By.ID, "password").clear()
        driver.find_element(By.ID, "username").click()
        driver.switch_to.active_element.send_keys(Keys.TAB)
        focused = driver.execute_script("const e = document.activeElement; const s = getComputedStyle(e); "
                                        "return [e.id, s.outlineStyle, s.outlineWidth]")
        if focused[0] != "password" or focused[1] == "none" or focused[2] in ("0px", ""):
            fail(f"Tab did not reach the password with a visible focus ring: {focused}", driver)
        driver.switch_to.active_element.send_keys(ADMIN_PASSWORD + Keys.ENTER)
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=whoami]"), "admin (global_admin)"))
        print(f"ok: the login form works from the keyboard (Tab to the password: outline {focused[1]} {focused[2]}; Enter submits)")
        # The embedded agent enrols at start and reports within its first heartbeat.
        WebDriverWait(driver, 40).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=devices-online] .fs-2"), "1"))
        WebDriverWait(driver, 40).until(lambda d: float(d.find_element(By.CSS_SELECTOR, "[data-testid=ingest-rate] .fs-2").text) > 0)
        driver.save_screenshot(os.path.join(SHOTS, "overview-1280.png"))
        print("ok: logged in as admin; the overview shows 1 device online and results arriving")

        driver.find_element(By.LINK_TEXT, "Devices").click()
        row = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid^=device-]")))
        if "online" not in row.text or "local-" not in row.text:
            fail(f"the device row: {row.text}", driver)
        # Its agent's four default checks, from its heartbeat (the page refreshes every 10 s).
        WebDriverWait(driver, 25).until(lambda d: d.find_element(By.CSS_SELECTOR, "[data-testid^=device-] [data-testid=checks]").text == "4")
        driver.save_screenshot(os.path.join(SHOTS, "devices-1280.png"))
        print(f"ok: the devices page lists the embedded agent's device online ({row.text.splitlines()[0]})")

        # A unit, a reporter in it, an API key.
        driver.get(base + "/#/units")
        wait.until(EC.presence_of_element_located((By.ID, "unit-name"))).send_keys("lab")
        driver.find_element(By.XPATH, "//button[text()='Create unit']").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=unit-lab]")))
        driver.get(base + "/#/users")
        wait.until(EC.presence_of_element_located((By.ID, "new-username"))).send_keys("rita")
        driver.find_element(By.ID, "new-user-password").send_keys("Sturdy-Walrus-Report-7")
        Select(driver.find_element(By.ID, "new-user-role")).select_by_value("ou_reporter")
        wait.until(lambda d: any(o.text == "lab" for o in Select(d.find_element(By.ID, "new-user-unit")).options))
        Select(driver.find_element(By.ID, "new-user-unit")).select_by_visible_text("lab")
        driver.find_element(By.XPATH, "//button[text()='Create user']").click()
        row = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=user-rita]")))
        if "ou_reporter" not in row.text:
            fail(f"the new user's row: {row.text}", driver)
        driver.get(base + "/#/account")
        wait.until(EC.presence_of_element_located((By.ID, "key-name"))).send_keys("ci")
        driver.find_element(By.ID, "key-password").send_keys(ADMIN_PASSWORD)
        driver.find_element(By.XPATH, "//button[text()='Create key']").click()
        key = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=new-api-key]"))).text.strip()
        request = urllib.request.Request(base + "/api/v1/auth/whoami", headers={"Authorization": f"Bearer {key}"})
        if len(key) != 64 or b'"admin"' not in urllib.request.urlopen(request).read():
            fail(f"the API key shown ({key!r}) does not work", driver)
        driver.save_screenshot(os.path.join(SHOTS, "account-key-1280.png"))
        print("ok: the admin created a unit, a reporter in it and an API key (shown once; it authenticates)")

        # Users: role and unit edited in place, sessions revoked, another user's keys listed.
        driver.get(base + "/#/users")
        role = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[aria-label='Role of rita']")))
        Select(role).select_by_value("user")
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "main [role=status]"), "rita is now user"))
        Select(driver.find_element(By.CSS_SELECTOR, "[aria-label='Role of rita']")).select_by_value("ou_reporter")
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "main [role=status]"), "rita is now ou_reporter"))
        row = driver.find_element(By.CSS_SELECTOR, "[data-testid=user-rita]")
        row.find_element(By.XPATH, ".//button[text()='Revoke sessions']").click()
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "main [role=status]"), "API keys revoked"))
        row.find_element(By.XPATH, ".//button[text()='API keys']").click()
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid^=keys-]"), "no live API keys"))
        # A key issued in her name (with the admin's password), shown once, and it is hers.
        panel = driver.find_element(By.CSS_SELECTOR, "[data-testid^=keys-]")
        rita_id = panel.get_attribute("data-testid").split("-")[1]
        driver.find_element(By.ID, f"user-{rita_id}-key-name").send_keys("rita-ci")
        driver.find_element(By.ID, f"user-{rita_id}-key-password").send_keys(ADMIN_PASSWORD)
        click(driver, "//form[@aria-label='Issue an API key for rita']//button")
        rita_key = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f"[data-testid=user-key-{rita_id}]"))).text.strip()
        request = urllib.request.Request(base + "/api/v1/auth/whoami", headers={"Authorization": f"Bearer {rita_key}"})
        if b'"rita"' not in urllib.request.urlopen(request).read():
            fail("the key issued for rita does not authenticate as rita", driver)
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid^=keys-]"), "rita-ci"))
        print("ok: the admin changed rita's role and back in place, revoked her sessions, listed her API keys and issued one "
              "in her name (shown once; it authenticates as rita)")

        # Units: a new unit moved under another with the parent picker.
        driver.get(base + "/#/units")
        wait.until(EC.presence_of_element_located((By.ID, "unit-name"))).send_keys("lab-annex")
        driver.find_element(By.XPATH, "//button[text()='Create unit']").click()
        parent = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[aria-label='Parent of lab-annex']")))
        if any(o.text == "lab-annex" for o in Select(parent).options):
            fail("a unit is offered as its own parent", driver)
        Select(parent).select_by_visible_text("lab")
        wait.until(lambda d: "└" in d.find_element(By.CSS_SELECTOR, "[data-testid=unit-lab-annex]").text)
        options = [o.text for o in Select(driver.find_element(By.CSS_SELECTOR, "[aria-label='Parent of lab']")).options]
        if "lab-annex" in options:
            fail(f"lab may be moved under its own child: {options}", driver)
        print("ok: a unit moved under another with the picker; the tree indents it, and no unit is offered a place inside itself")

        # A client configuration with a scheduled check: the server's refusal on its field, then saved.
        driver.get(base + "/#/configs")
        Select(wait.until(EC.presence_of_element_located((By.ID, "config-new-unit")))).select_by_visible_text("lab")
        driver.find_element(By.ID, "config-name").send_keys("lab checks")
        click(driver, "//button[text()='Add a check']")
        wait.until(EC.presence_of_element_located((By.ID, "check-0-target"))).send_keys("127.0.0.1")
        # A run of 10 probes a second apart does not fit in 5 s: the schema cannot say so, the server does.
        for field, value in (("check-0-every_s", "5"), ("check-0-count", "10")):
            driver.find_element(By.ID, field).clear()
            driver.find_element(By.ID, field).send_keys(value)
        click(driver, "//button[text()='Save configuration']")
        feedback = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#check-0-every_s ~ .invalid-feedback"))).text
        if "longer than every_s" not in feedback:
            fail(f"a run longer than every_s shows {feedback!r}", driver)
        driver.find_element(By.ID, "check-0-count").clear()
        driver.find_element(By.ID, "check-0-count").send_keys("3")
        click(driver, "//button[text()='Save configuration']")
        saved = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid='config-lab checks']")))
        cells = [c.text for c in saved.find_elements(By.TAG_NAME, "td")]
        if cells[:3] != ["lab", "lab checks", "1"]:
            fail(f"the saved config's row: {cells}", driver)
        print(f"ok: 10 probes every 5 s were refused on every_s ({feedback}); with 3 the config saved with 1 check")

        # An alert rule: created, edited, its (empty) history shown.
        driver.get(base + "/#/alerts")
        wait.until(EC.presence_of_element_located((By.XPATH, "//button[text()='New rule']"))).click()
        driver.find_element(By.ID, "rule-name").send_keys("lab loss")
        click(driver, "//button[text()='Save rule']")
        rule = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid='rule-lab loss']")))
        rule.find_element(By.XPATH, ".//button[text()='Edit']").click()
        threshold = wait.until(EC.presence_of_element_located((By.ID, "rule-threshold")))
        threshold.clear()
        threshold.send_keys("12.5")
        click(driver, "//button[text()='Save rule']")
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid='rule-lab loss']"), "> 12.5"))
        driver.find_element(By.CSS_SELECTOR, "[data-testid='rule-lab loss']").find_element(By.XPATH, ".//button[text()='History']").click()
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid='rule-lab loss']"), "No transitions yet"))
        print("ok: an alert rule created and edited (threshold 12.5), its history shown")

        # A server key: shown once, it uploads, and once revoked it does not.
        driver.get(base + "/#/server-keys")
        wait.until(EC.presence_of_element_located((By.ID, "server-key-name"))).send_keys("collector")
        click(driver, "//button[text()='Issue key']")
        server_key = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=new-server-key]"))).text.strip()

        def upload_with(key):
            body = json.dumps({"results": [{"test_type": "tcp", "target": "collector.example:443", "outcome": "success",
                                            "success": True, "latency_ms": 1.0}]}).encode()
            request = urllib.request.Request(base + "/api/v1/results", data=body, method="POST",
                                             headers={"X-Manager-Key": key, "Content-Type": "application/json"})
            try:
                return urllib.request.urlopen(request).status
            except urllib.error.HTTPError as e:
                return e.code
        if upload_with(server_key) != 201:
            fail("the server key shown does not upload", driver)
        driver.find_element(By.CSS_SELECTOR, "[data-testid=server-key-collector]").find_element(By.XPATH, ".//button[text()='Revoke']").click()
        driver.switch_to.alert.accept()
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=server-key-collector]"), "revoked"))
        if upload_with(server_key) != 401:
            fail("a revoked server key still uploads", driver)
        print("ok: a server key shown once uploaded a result (201); revoked on the page, it is refused (401)")

        # The audit log shows what was just done; the results explorer filters and opens a document.
        driver.get(base + "/#/audit")
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=audit-table] tbody tr")))
        text = driver.find_element(By.CSS_SELECTOR, "[data-testid=audit-table]").text
        if "server_key.revoke" not in text or "user.update" not in text:
            fail(f"the audit log lacks the page's actions: {text[:400]}", driver)
        driver.get(base + "/#/results")
        Select(wait.until(EC.presence_of_element_located((By.ID, "results-test_type")))).select_by_value("tcp")
        click(driver, "//button[text()='Apply']")
        wait.until(lambda d: "collector.example" in d.find_element(By.CSS_SELECTOR, "[data-testid=results-table]").text)
        kinds = {r.find_elements(By.TAG_NAME, "td")[1].text for r in driver.find_elements(By.CSS_SELECTOR, "[data-testid=results-table] tbody tr")}
        if kinds != {"tcp"}:
            fail(f"filtered on tcp, the explorer shows {kinds}", driver)
        click(driver, "//button[text()='Document']")
        document = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=result-document]"))).text
        if '"test_type": "tcp"' not in document:
            fail(f"the document: {document[:200]}", driver)
        driver.save_screenshot(os.path.join(SHOTS, "results-1280.png"))
        print("ok: the audit log lists the page's actions; the results explorer filters on tcp and opens a result's document")

        # Enrolling a device with a secret made here, and seeing it online.
        driver.get(base + "/#/enrollment")
        wait.until(EC.presence_of_element_located((By.ID, "secret-name"))).send_keys("lab agents")
        wait.until(lambda d: any(o.text == "lab" for o in Select(d.find_element(By.ID, "secret-unit")).options))
        Select(driver.find_element(By.ID, "secret-unit")).select_by_visible_text("lab")
        driver.find_element(By.XPATH, "//button[text()='Create secret']").click()
        command = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=enroll-command]"))).text.split()
        agent = subprocess.Popen([BINARY, "agent", "--server", command[command.index("--server") + 1], "--enroll", command[-1],
                                  "--serial", "ui-lab-agent", "--state-dir", f"{work}/agent", "--heartbeat", "2s"],
                                 stdout=subprocess.DEVNULL, stderr=open(f"{work}/agent.log", "w"))
        try:
            driver.get(base + "/#/devices")
            WebDriverWait(driver, 30).until(lambda d: any("ui-lab-agent" in r.text and "online" in r.text
                                                          for r in d.find_elements(By.CSS_SELECTOR, "[data-testid^=device-]")))
            driver.save_screenshot(os.path.join(SHOTS, "enrolled-1280.png"))
        finally:
            agent.terminate()
            agent.wait(30)
        # Its details, then deactivated from the page.
        row = next(r for r in driver.find_elements(By.CSS_SELECTOR, "[data-testid^=device-]") if "ui-lab-agent" in r.text)
        device_id = row.get_attribute("data-testid").split("-")[1]
        click(driver, f"//tr[@data-testid='device-{device_id}']//button[text()='Details']")
        details = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f"[data-testid=device-details-{device_id}]"))).text
        if "Agent version" not in details or "Checks running" not in details:
            fail(f"the device's details: {details}", driver)
        click(driver, f"//tr[@data-testid='device-{device_id}']//button[text()='Deactivate']")
        driver.switch_to.alert.accept()
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, f"[data-testid=device-{device_id}]"), "deactivated"))
        print("ok: a secret made on the enrollment page enrolled an agent, which the devices page shows online, "
              "with its agent's details; deactivated from the page")

        # A live test: the chart grows from the stream while the test runs.
        driver.get(base + "/#/tests")
        wait.until(EC.presence_of_element_located((By.ID, "test-target")))
        Select(driver.find_element(By.ID, "test-kind")).select_by_value("icmp")
        for field, value in (("test-target", "127.0.0.1"), ("test-count", "40"), ("test-interval_ms", "100")):
            driver.find_element(By.ID, field).clear()
            driver.find_element(By.ID, field).send_keys(value)
        driver.find_element(By.XPATH, "//button[text()='Run']").click()
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=stream-state]"), "live"))
        WebDriverWait(driver, 10, poll_frequency=0.05).until(lambda d: points(d, "live-chart") >= 3)
        early = points(driver, "live-chart")
        status_early = driver.find_element(By.CSS_SELECTOR, "[data-testid=test-status]").text
        WebDriverWait(driver, 10, poll_frequency=0.05).until(lambda d: points(d, "live-chart") >= early + 5)
        driver.save_screenshot(os.path.join(SHOTS, "live-test-1280.png"))
        WebDriverWait(driver, 20).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=test-status]"), "completed"))
        final = points(driver, "live-chart")
        received = driver.find_element(By.CSS_SELECTOR, "[data-testid=gauge-received]").text
        # Probes that completed before the socket joined are replayed to it: the chart has all 40.
        if status_early != "running" or final != 40 or received != "40":
            fail(f"live test: status then {status_early!r}, {final} points, received {received!r}", driver)
        WebDriverWait(driver, 10).until(lambda d: "127.0.0.1" in d.find_element(By.CSS_SELECTOR, "[data-testid=test-history]").text)
        driver.save_screenshot(os.path.join(SHOTS, "live-test-done-1280.png"))
        print(f"ok: a live ICMP test: the chart had {early} points, then more while running, all {final} at the end "
              "(those before the socket joined replayed to it); 40 received; it is in the history")

        # A refused check shows the server's message on the field it names.
        Select(driver.find_element(By.ID, "test-kind")).select_by_value("http")
        driver.find_element(By.ID, "test-target").clear()
        driver.find_element(By.ID, "test-target").send_keys("not a url")
        driver.find_element(By.XPATH, "//button[text()='Run']").click()
        refusal = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "main [role=alert]"))).text
        if "target" not in refusal:
            fail(f"a bad target shows: {refusal!r}", driver)
        print(f"ok: a check the server refuses shows its message ({refusal})")

        # The speed test.
        figures = run_speed_test(driver, base, seconds=3, timeout=60)
        if not (figures["download"] > 10 and figures["upload"] > 10 and 0 < figures["latency"] < 1000) or points(driver, "speed-chart") < 10:
            fail(f"speed test figures: {figures}", driver)
        if "How these figures are computed" not in driver.find_element(By.TAG_NAME, "main").text:
            fail("the speed test does not show its method", driver)
        driver.save_screenshot(os.path.join(SHOTS, "speed-test-1280.png"))
        print(f"ok: the speed test ran: {figures['download']:.0f} Mbit/s down, {figures['upload']:.0f} up, latency {figures['latency']:.2f} ms")

        # The dashboards, on the embedded agent's results.
        driver.get(base + "/#/dashboard")
        wait.until(lambda d: points(d, "chart-latency") > 0 and points(d, "chart-smoke") > 0)
        WebDriverWait(driver, 20).until(lambda d: points(d, "chart-locations") > 0)
        Select(driver.find_element(By.ID, "dash-kind")).select_by_value("http")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=chart-phases]") and points(d, "chart-phases") > 0)
        Select(driver.find_element(By.ID, "dash-range")).select_by_visible_text("90 days")
        wait.until(lambda d: points(d, "chart-latency") > 0)
        driver.save_screenshot(os.path.join(SHOTS, "dashboard-1280.png"))
        print("ok: the dashboards chart latency bands with loss, the distribution, HTTP phases and each device, 1 h to 90 d")

        Select(driver.find_element(By.ID, "theme")).select_by_value("dark")
        if driver.find_element(By.TAG_NAME, "html").get_attribute("data-bs-theme") != "dark":
            fail("the theme did not switch", driver)
        background = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
        driver.refresh()
        wait.until(EC.presence_of_element_located((By.ID, "theme")))
        if driver.find_element(By.TAG_NAME, "html").get_attribute("data-bs-theme") != "dark" or background in ("rgb(255, 255, 255)", ""):
            fail(f"dark theme: {background}", driver)
        driver.save_screenshot(os.path.join(SHOTS, "devices-dark-1280.png"))
        print(f"ok: the dark theme applies (body {background}) and survives a reload")

        driver.set_window_size(390, 844)
        for page, ready in (("overview", "[data-testid=devices-online]"), ("dashboard", "[data-testid=chart-latency]"),
                            ("tests", "#test-target"), ("speed", "#speed-streams"), ("devices", "[data-testid^=device-]"),
                            ("users", "[data-testid=user-rita]"), ("account", "#key-name"), ("results", "[data-testid=results-table]"),
                            ("configs", "[data-testid='config-lab checks']"), ("alerts", "[data-testid='rule-lab loss']"),
                            ("audit", "[data-testid=audit-table]"), ("server-keys", "#server-key-name"),
                            ("units", "[data-testid=unit-lab]"), ("enrollment", "#secret-name")):
            driver.get(base + f"/#/{page}")
            wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ready)))
            overflow = driver.execute_script("return document.documentElement.scrollWidth > window.innerWidth + 1")
            driver.save_screenshot(os.path.join(SHOTS, f"{page}-390.png"))
            if overflow:
                fail(f"the {page} page scrolls sideways at 390 px", driver)
        errors = console_errors()
        if errors:
            fail(f"console errors: {errors}", driver)

        # The reporter: the directory, and no write controls.
        driver.set_window_size(1280, 800)
        driver.find_element(By.XPATH, "//button[text()='Log out']").click()
        wait.until(EC.presence_of_element_located((By.ID, "username"))).send_keys("rita")
        driver.find_element(By.ID, "password").send_keys("Sturdy-Walrus-Report-7")
        driver.find_element(By.CSS_SELECTOR, "form button").click()
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=whoami]"), "rita (ou_reporter)"))
        if driver.find_elements(By.LINK_TEXT, "Enrollment"):
            fail("the reporter is offered the enrollment page (secrets are for administrators)", driver)
        for page, testid in (("users", "user-rita"), ("units", "unit-lab")):
            driver.get(base + f"/#/{page}")
            wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f"[data-testid={testid}]")))
            writes = [b.text for b in driver.find_elements(By.CSS_SELECTOR, "main button") if b.text]
            if writes:
                fail(f"the reporter sees write controls on {page}: {writes}", driver)
        driver.save_screenshot(os.path.join(SHOTS, "reporter-units-1280.png"))
        errors = console_errors()
        if errors:
            fail(f"console errors: {errors}", driver)
        print("ok: the reporter sees users and units in her unit with no write controls, and no console errors")

        # Two-factor login: set up with the QR code and secret shown, then log in with a code.
        driver.get(base + "/#/account")
        wait.until(EC.presence_of_element_located((By.ID, "mfa-password"))).send_keys("Sturdy-Walrus-Report-7")
        driver.find_element(By.XPATH, "//button[text()='Set up']").click()
        secret = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=mfa-secret]"))).text.strip()
        if not driver.find_elements(By.CSS_SELECTOR, ".qr svg"):
            fail("no QR code", driver)
        driver.save_screenshot(os.path.join(SHOTS, "mfa-setup-1280.png"))
        step = int(time.time()) // 30
        driver.find_element(By.ID, "mfa-setup-code").send_keys(totp(secret, step))
        driver.find_element(By.XPATH, "//button[text()='Enable']").click()
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=mfa-state]"), "Enabled"))
        driver.find_element(By.XPATH, "//button[text()='Log out']").click()
        wait.until(EC.presence_of_element_located((By.ID, "username"))).send_keys("rita")
        driver.find_element(By.ID, "password").send_keys("Sturdy-Walrus-Report-7")
        driver.find_element(By.CSS_SELECTOR, "form button").click()
        code = wait.until(EC.presence_of_element_located((By.ID, "mfa-code")))
        # A used step is refused (no replay): the next one is within the accepted window.
        code.send_keys(totp(secret, step + 1))
        driver.find_element(By.CSS_SELECTOR, "form button").click()
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=whoami]"), "rita (ou_reporter)"))
        errors = console_errors()
        if errors:
            fail(f"console errors: {errors}", driver)
        print("ok: the reporter enabled two-factor login from the QR page's secret and logged in with a code")
        first_login(driver, work, env)
        print(f"ok: no sideways scrolling at 390 px, no console errors; screenshots in {SHOTS}")
    except Exception as e:
        if driver:
            driver.save_screenshot(os.path.join(SHOTS, "failure.png"))
            print(f"at {driver.current_url}: {driver.find_element(By.TAG_NAME, 'body').text[:600]}", file=sys.stderr)
            print(f"browser log: {driver.get_log('browser')[-10:]}", file=sys.stderr)
            try:
                driver.set_script_timeout(8)
                probe = driver.execute_async_script("const done = arguments[0]; fetch('/api/v1/auth/whoami').then(r => r.text().then(t => done(r.status + ' ' + t)), e => done(String(e)));")
                print(f"whoami from the page: {probe}", file=sys.stderr)
            except Exception as inner:  # noqa: BLE001
                print(f"whoami from the page: {inner}", file=sys.stderr)
        import traceback
        traceback.print_exc(limit=3)
        fail(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    finally:
        if driver:
            driver.quit()
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
