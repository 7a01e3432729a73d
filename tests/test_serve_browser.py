"""The dashboard in a real browser (Debian's chromium + chromedriver, driven by Selenium): sign
in with the token, see a job appear, watch its chart grow, cancel it."""

from __future__ import annotations

import shutil

import pytest
from conftest import PATIENCE
from serve_support import (
    LONG,
    TOKEN,
    fixture_server,  # noqa: F401  (the `server` fixture)
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]
DRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium or not shutil.which("chromedriver"):
        pytest.skip("chromium or chromedriver missing: apt-get install chromium chromium-driver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1360,1000",
    ):
        opts.add_argument(arg)
    opts.binary_location = chromium
    # the driver's own path: Selenium Manager would try to download one
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or DRIVER), options=opts)
    yield driver
    driver.quit()


def test_sign_in_watch_a_job_train_and_cancel_it(browser, server, tmp_path):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def wait(cond, timeout=PATIENCE):  # the page redraws its table and badges: retry stale reads
        ignored = (NoSuchElementException, StaleElementReferenceException)
        return WebDriverWait(browser, timeout, 0.2, ignored_exceptions=ignored).until(cond)

    def click(selector: str) -> None:
        wait(lambda d: d.find_element(By.CSS_SELECTOR, selector).click() or True)

    browser.get(server.url + "/")
    wait(lambda d: d.find_element(By.ID, "token").is_displayed())
    browser.find_element(By.ID, "token").send_keys("not-the-token-0123456789")
    browser.find_element(By.ID, "login-button").click()
    wait(lambda d: d.find_element(By.ID, "login-error").text)
    assert "not this server's" in browser.find_element(By.ID, "login-error").text
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "login-button").click()
    wait(lambda d: d.find_element(By.ID, "jobs-view").is_displayed())
    assert browser.execute_script("return document.cookie") == ""
    assert browser.execute_script("return sessionStorage.getItem('trn.token')") == TOKEN

    job = server.client().post("/jobs", json={"overrides": LONG, "name": "browser run"}).json()
    row = f"#jobs-table tr[data-job='{job['job_id']}']"
    wait(lambda d: d.find_elements(By.CSS_SELECTOR, row))
    wait(lambda d: "running" in d.find_element(By.CSS_SELECTOR, row).text)
    browser.save_screenshot(str(tmp_path / "jobs.png"))

    click(row)
    wait(lambda d: d.find_element(By.ID, "job-view").is_displayed())
    chart = ".chart[data-metric='train/loss']"

    def points(d) -> int:
        found = d.find_elements(By.CSS_SELECTOR, chart)
        return int(found[0].get_attribute("data-points") or 0) if found else 0

    wait(lambda d: points(d) >= 2)
    before = points(browser)
    wait(lambda d: points(d) > before + 2)  # the chart grows while the job trains
    browser.save_screenshot(str(tmp_path / "job.png"))

    click("#cancel-button")
    wait(lambda d: d.find_element(By.ID, "job-state").text == "cancelled")
    wait(lambda d: "job_cancelled" in d.find_element(By.ID, "events").text, 30)
    assert not browser.find_element(By.ID, "cancel-button").is_enabled()
    browser.save_screenshot(str(tmp_path / "cancelled.png"))
    assert server.client().get(f"/jobs/{job['job_id']}").json()["state"] == "cancelled"


def test_a_tested_job_and_its_eval_job_show_their_test_metrics(browser, server, tmp_path):
    import numpy as np
    from conftest import FAST, run_trn
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
    from serve_support import wait_state

    def wait(cond, timeout=120):
        ignored = (NoSuchElementException, StaleElementReferenceException)
        return WebDriverWait(browser, timeout, 0.2, ignored_exceptions=ignored).until(cond)

    g = np.random.default_rng(1)
    x = g.normal(size=(300, 8)).astype("float32")
    np.savez(tmp_path / "xy.npz", x=x, y=(x[:, 1] > 0).astype("int64"))
    data = tmp_path / "with-test"
    run_trn("data", "build", str(data), "--from", str(tmp_path / "xy.npz"),
            "--split", "train=0.6,val=0.2,test=0.2")  # fmt: skip
    http = server.client()
    job = http.post("/jobs", json={"overrides": [*FAST, f"data.path={data}"]}).json()
    assert wait_state(http, job["job_id"], {"completed", "failed"})["state"] == "completed"
    evaluated = http.post("/jobs", json={"kind": "eval", "checkpoint": job["job_id"]}).json()
    assert wait_state(http, evaluated["job_id"], {"completed", "failed"})["state"] == "completed"

    browser.get(server.url + "/")
    wait(lambda d: d.find_element(By.ID, "token").is_displayed())
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "login-button").click()
    for job_id in (job["job_id"], evaluated["job_id"]):
        row = f"#jobs-table tr[data-job='{job_id}']"
        wait(lambda d, row=row: "test/acc=" in d.find_element(By.CSS_SELECTOR, row).text)
    eval_row = f"#jobs-table tr[data-job='{evaluated['job_id']}']"
    assert f"eval {job['job_id']} (test)" in browser.find_element(By.CSS_SELECTOR, eval_row).text
    Select(browser.find_element(By.ID, "filter-kind")).select_by_visible_text("eval")
    wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#jobs-table tbody tr")) == 1)

    browser.get(f"{server.url}/#/job/{job['job_id']}")
    wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".chart[data-metric='test/acc']"))
    wait(lambda d: "val/acc (max), trn's default" in d.find_element(By.ID, "job-facts").text)
    browser.save_screenshot(str(tmp_path / "tested.png"))
