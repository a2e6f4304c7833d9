"""What the browser checks share: Debian's headless Chromium under selenium, waiting for a
server, and logging in through the page (Tests/ui/ui_test.py, speed_truth.py and
Benchmarks/dashboard_bench.py)."""
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait


def chromium(console_log=False):
    """Debian's chromium and chromium-driver, headless, at 1280x800."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800"):
        options.add_argument(arg)
    if console_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait_ready(base, seconds=20):
    """Until the server's /ready answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/ready", timeout=2)
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{base}/ready did not answer within {seconds} s")


def log_in(driver, base, username, password):
    """Through the login page; returns once the page says who is logged in."""
    wait = WebDriverWait(driver, 20)
    driver.get(base + "/")
    wait.until(EC.presence_of_element_located((By.ID, "username"))).send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=whoami]")))


def run_speed_test(driver, base, seconds, timeout):
    """Runs the page's speed test for `seconds` a direction; returns its figures (Mbit/s, ms)."""
    wait = WebDriverWait(driver, 20)
    driver.get(base + "/#/speed")
    field = wait.until(EC.presence_of_element_located((By.ID, "speed-seconds")))
    field.clear()
    field.send_keys(str(seconds))
    driver.find_element(By.XPATH, "//button[text()='Start']").click()
    WebDriverWait(driver, timeout).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-testid=speed-phase]"), "done"))
    return {k: float(driver.find_element(By.CSS_SELECTOR, f"[data-testid=speed-{k}]").text) for k in ("download", "upload", "latency")}
