"""The dashboard in a real browser (Debian's chromium + chromedriver, driven by Selenium): sign in
with the printed one-time link (and with the token), see a job's progress, watch its charts grow
with their legends and a log axis for the learning rate, fold Lightning's notices in its log,
cancel it; a resumed job's whole chain; the sweeps list and a sweep's overlaid curves; a tested
job's test metrics and its eval job."""

from __future__ import annotations

import shutil

import pytest
from conftest import FAST, PATIENCE, wait_until
from serve_support import (
    LONG,
    TOKEN,
    fixture_server,  # noqa: F401  (the `server` fixture)
    wait_state,
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


class Page:
    """Waits and clicks that retry while the page redraws its tables, badges and charts."""

    def __init__(self, driver):
        self.d = driver

    def wait(self, cond, timeout=PATIENCE):
        from selenium.common.exceptions import (
            NoSuchElementException,
            StaleElementReferenceException,
        )
        from selenium.webdriver.support.ui import WebDriverWait

        ignored = (NoSuchElementException, StaleElementReferenceException)
        return WebDriverWait(self.d, timeout, 0.2, ignored_exceptions=ignored).until(cond)

    def find(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.d.find_element(By.CSS_SELECTOR, selector)

    def shown(self, selector: str) -> None:
        self.wait(lambda d: self.find(selector).is_displayed())

    def click(self, selector: str) -> None:
        self.wait(lambda d: self.find(selector).click() or True)

    def attr(self, selector: str, name: str) -> str:
        return self.wait(lambda d: self.find(selector).get_attribute(name) or "")

    def storage(self) -> str | None:
        return self.d.execute_script("return sessionStorage.getItem('trn.token')")


def test_sign_in_with_the_printed_link_watch_a_job_train_and_cancel_it(browser, server, tmp_path):
    page = Page(browser)
    browser.get(server.sign_in_link())
    page.shown("#jobs-view")
    assert "login=" not in browser.current_url  # gone from the address bar and the history
    session = page.storage()
    assert session and session.startswith("trns.") and TOKEN not in session
    assert browser.execute_script("return document.cookie") == ""

    browser.get("about:blank")  # the same link opened again: it is spent
    browser.get(server.sign_in_link())
    page.wait(lambda d: "was used, has expired" in page.find("#login-error").text)
    assert page.storage() is None

    page.find("#token").send_keys("not-the-token-0123456789")  # pasting a token still works
    page.click("#login-button")
    page.wait(lambda d: "not this server's" in page.find("#login-error").text)
    page.find("#token").send_keys(TOKEN)
    page.click("#login-button")
    page.shown("#jobs-view")
    assert page.storage() == TOKEN

    # trains until cancelled (an idle machine runs LONG's 800 steps in seconds)
    endless = [*LONG, "trainer.max_epochs=20000"]
    job = server.client().post("/jobs", json={"overrides": endless, "name": "browser run"}).json()
    row = f"#jobs-table tr[data-job='{job['job_id']}']"
    page.wait(lambda d: "running" in page.find(row).text)
    page.wait(lambda d: float(page.attr(f"{row} .progress", "data-fraction") or 0) > 0)
    browser.save_screenshot(str(tmp_path / "jobs.png"))

    page.click(row)
    page.shown("#job-view")
    bar = "#job-progress .progress"
    page.wait(lambda d: "of 80000" in page.find(bar).text)  # 20000 epochs of 4 steps
    page.wait(lambda d: page.find(bar).get_attribute("data-eta"))  # once it has a rate
    assert "ETA" in page.find(bar).text
    chart = ".chart[data-metric='train/loss']"
    page.wait(lambda d: int(page.attr(chart, "data-points") or 0) >= 2)
    before = int(page.attr(chart, "data-points"))
    page.wait(lambda d: int(page.attr(chart, "data-points") or 0) > before + 2)  # it grows
    legend = f"{chart} .legend"
    page.wait(lambda d: "per epoch" in page.find(legend).text)
    assert "per step" in page.find(legend).text and "at epoch" in page.find(legend).text
    assert page.attr(".chart[data-metric='lr']", "data-scale") == "log"
    assert page.attr(".chart[data-metric='val/loss']", "data-scale") == "linear"
    browser.save_screenshot(str(tmp_path / "job.png"))

    # Lightning's notices are folded; "Full log" shows every line, "Fold" folds them again
    log = "#runner-log"
    page.wait(lambda d: int(page.attr(log, "data-folded") or 0) > 0)
    assert "GPU available" not in page.find(log).text  # inside a closed fold
    assert "Lightning's notices" in page.find("#runner-log details.noise summary").text
    page.click("#log-full")
    page.wait(lambda d: page.attr(log, "data-folded") == "0")
    page.wait(lambda d: "GPU available: False" in page.find(log).text)
    page.click("#log-full")
    page.wait(lambda d: int(page.attr(log, "data-folded") or 0) > 0)

    page.click("#cancel-button")
    page.wait(lambda d: page.find("#job-state").text == "cancelled")
    page.wait(lambda d: "job_cancelled" in page.find("#events").text, 30)
    assert not page.find("#cancel-button").is_enabled()
    assert not browser.find_elements("css selector", bar)  # no bar once it ended
    assert server.client().get(f"/jobs/{job['job_id']}").json()["state"] == "cancelled"


def test_a_resumed_job_draws_its_earlier_attempt_and_a_sweep_overlays_its_jobs(browser, server):
    http = server.client()
    sweep = http.post(
        "/jobs", json={"overrides": [*FAST, "optimizer.lr=1e-3,3e-3"], "multirun": True}
    ).json()
    first = http.post("/jobs", json={"overrides": [*LONG, "trainer.max_epochs=20000"]}).json()
    first = first["job_id"]  # cancelled below, whatever the machine's speed

    def epochs(job_id: str) -> int:
        found = http.get(f"/jobs/{job_id}/metrics").json()["metrics"]
        return len(found.get("val/loss", {}).get("epoch", []))

    wait_until(lambda: epochs(first) >= 2, "two epochs of the first attempt")
    http.post(f"/jobs/{first}/cancel")
    wait_state(http, first, {"cancelled"})
    more = f"trainer.max_epochs={epochs(first) + 2}"
    resumed = http.post(f"/jobs/{first}/resume", json={"overrides": [more]}).json()["job_id"]
    wait_state(http, resumed, {"completed"})
    until = http.get(f"/jobs/{resumed}/attempts").json()["attempts"][0]["until_step"]
    own = http.get(f"/jobs/{resumed}/metrics").json()["metrics"]["val/loss"]["epoch"]
    assert own[0][0] > until

    page = Page(browser)
    browser.get(server.sign_in_link())
    page.shown("#jobs-view")
    browser.get(f"{server.url}/#/job/{resumed}")
    chart = ".chart[data-metric='val/loss']"
    page.wait(lambda d: page.attr(chart, "data-marks") == "1")  # where attempt 2 starts
    page.wait(lambda d: int(page.attr(chart, "data-points") or 0) >= len(own) + 2)
    assert float(page.attr(chart, "data-first-x")) <= until  # the first attempt's points
    page.wait(lambda d: f"step {until} of {first}" in page.find("#job-facts").text)
    assert "Attempts 1–2" in page.find("#charts-caption").text

    summary = wait_until(
        lambda: (s := http.get(f"/sweeps/{sweep['sweep_id']}").json())["state"] != "running" and s,
        "the sweep's end",
        every=0.5,
    )
    page.click("#nav-sweeps")
    row = f"#sweeps-table tr[data-sweep='{sweep['sweep_id']}']"
    page.wait(lambda d: "2 jobs: 2 completed" in page.find(row).text)
    page.click(f"{row} td.what")
    page.shown("#sweep-view")
    best = summary["best"]["job_id"]
    page.wait(lambda d: page.attr("#sweep-best", "data-job") == best)
    curves = "#sweep-curves .chart[data-metric='val/loss']"
    page.wait(lambda d: page.attr(curves, "data-series") == "2")  # one line per job
    legend = page.find(f"{curves} .legend").text
    assert "optimizer.lr=0.001" in legend and "optimizer.lr=0.003" in legend
    assert "★ best" in legend
    objective = summary["objective"]["metric"]
    assert page.find("#sweep-curves .chart").get_attribute("data-metric") == objective  # first


def test_a_tested_job_and_its_eval_job_show_their_test_metrics(browser, server, tmp_path):
    import numpy as np
    from conftest import run_trn
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

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

    page = Page(browser)
    browser.get(server.sign_in_link())
    page.shown("#jobs-view")
    for job_id in (job["job_id"], evaluated["job_id"]):
        row = f"#jobs-table tr[data-job='{job_id}']"
        page.wait(lambda d, row=row: "test/acc=" in page.find(row).text)
    eval_row = f"#jobs-table tr[data-job='{evaluated['job_id']}']"
    assert f"eval {job['job_id']} (test)" in page.find(eval_row).text
    Select(page.find("#filter-kind")).select_by_visible_text("eval")
    page.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#jobs-table tbody tr")) == 1)

    browser.get(f"{server.url}/#/job/{job['job_id']}")
    page.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".chart[data-metric='test/acc']"))
    page.wait(lambda d: "val/acc (max), trn's default" in page.find("#job-facts").text)
