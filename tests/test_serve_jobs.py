"""trn serve with real jobs: submit, follow live (SSE, Last-Event-ID), cancel, resume, sweeps,
a restart of the server, and trn.Client against it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest
from conftest import FAST, PATIENCE, read_events, run_trn, wait_until
from serve_support import (
    LONG,
    TOKEN,
    Server,
    fixture_server,  # noqa: F401  (the `server` fixture)
    sse,
    wait_state,
)

import trn

pytestmark = pytest.mark.slow


def test_a_job_started_over_http_is_an_ordinary_job_followed_live(server, trn_home):
    http = server.client()
    reply = http.post("/jobs", json={"overrides": FAST, "name": "from http"})
    assert reply.status_code == 201, reply.text
    job = reply.json()
    assert reply.headers["location"] == f"/api/v1/jobs/{job['job_id']}"
    assert job["state"] == "submitted" and job["name"] == "from http"

    with http.stream("GET", f"/jobs/{job['job_id']}/events") as stream:  # live, from the first
        got = list(sse(stream))
    seqs = [int(i) for i, _ in got]
    assert seqs == list(range(len(got))) and [e["seq"] for _, e in got] == seqs
    assert got[0][1]["event"] == "job_submitted" and got[-1][1]["event"] == "job_completed"
    on_disk = read_events(trn_home / job["job_dir"].split(str(trn_home) + "/")[1] / "events.jsonl")
    assert [e["id"] for _, e in got] == [e["id"] for e in on_disk]

    resumed = http.get(f"/jobs/{job['job_id']}/events", headers={"Last-Event-ID": "3"})
    assert [int(i) for i, _ in sse(resumed)] == seqs[4:]

    listed = json.loads(run_trn("list", "--json", env={"TRN_HOME": str(trn_home)}).stdout)
    assert [r["job_id"] for r in listed] == [job["job_id"]]
    assert listed[0]["state"] == "completed" and listed[0]["name"] == "from http"
    page = http.get("/jobs", params={"state": "completed"}).json()
    assert [r["job_id"] for r in page["jobs"]] == [job["job_id"]] and page["next_offset"] is None
    assert http.get("/jobs", params={"state": "failed"}).json()["jobs"] == []

    metrics = http.get(f"/jobs/{job['job_id']}/metrics").json()
    assert len(metrics["metrics"]["train/loss"]["train"]) >= 1
    assert metrics["last_seq"] == seqs[-1]
    assert (
        http.get(f"/jobs/{job['job_id']}/metrics", params={"after": seqs[-1]}).json()["metrics"]
        == {}
    )
    assert http.get(f"/jobs/{job['job_id']}/config").json()["model"]["_target_"] == "trn.models.MLP"
    assert http.get(f"/jobs/{job['job_id']}/log", params={"tail": 5}).json()["lines"]
    by_prefix = http.get(f"/jobs/{job['job_id'][:15]}").json()
    assert by_prefix["job_id"] == job["job_id"] and by_prefix["state"] == "completed"
    assert http.post(f"/jobs/{job['job_id']}/cancel").status_code == 409


def test_jobs_survive_a_restart_of_the_server(trn_home):
    first = Server(trn_home).start()
    job = first.client().post("/jobs", json={"overrides": FAST}).json()
    first.stop()  # while the job is starting or training
    second = Server(trn_home).start()
    try:
        record = wait_state(second.client(), job["job_id"], {"completed", "failed", "lost"})
        assert record["state"] == "completed", record.get("error")
    finally:
        second.stop()


def test_cancel_and_resume_through_trn_client(server, trn_home):
    client = trn.Client(server.url, TOKEN)
    http = server.client()
    job = client.submit(LONG)
    for event in job.events():
        if event["event"] == "metrics":
            break

    def progressed() -> dict | None:  # the fraction and ETA of a running job
        p = http.get(f"/jobs/{job.job_id}/progress").json()
        return p if p["eta_s"] is not None else None

    p = wait_until(progressed, "a rate and an ETA")
    assert p["state"] == "running" and (p["unit"], p["total_steps"]) == ("steps", 800)
    assert p["fraction"] == p["step"] / 800 and p["per_s"] > 0 and p["max_epochs"] == 200
    job.cancel()
    assert job.wait(PATIENCE, check=False)["state"] == "cancelled"
    with pytest.raises(trn.JobFailed, match="cancelled"):
        job.wait(1)
    job.cancel()  # a no-op once it ended, as trn.Job.cancel
    with pytest.raises(trn.TrnError, match="already ended \\(cancelled\\)") as err:
        client.cancel(job.job_id)
    assert getattr(err.value, "status", None) == 409

    epochs = len(http.get(f"/jobs/{job.job_id}/metrics").json()["metrics"]["val/loss"]["epoch"])
    again = client.resume(job.job_id, [f"trainer.max_epochs={epochs + 1}"])
    record = again.wait(PATIENCE, check=False)
    assert record["parent_job_id"] == job.job_id and record["attempt"] == 2
    assert record["state"] == "completed", record.get("error")

    # the resumed job's charts: the first attempt's points up to the checkpoint it resumed from
    assert http.get(f"/jobs/{job.job_id}/attempts").json()["attempts"] == []
    (first,) = http.get(f"/jobs/{again.job_id}/attempts").json()["attempts"]
    meta = json.loads(Path(record["overrides"][0].split("=", 1)[1]).read_text())
    assert (first["job_id"], first["attempt"], first["state"]) == (job.job_id, 1, "cancelled")
    assert first["until_step"] == meta["step"]
    whole = http.get(f"/jobs/{job.job_id}/metrics").json()["metrics"]["train/loss"]["train"]
    kept = first["metrics"]["train/loss"]["train"]
    assert kept == [p for p in whole if p[0] <= meta["step"]] and kept
    own = http.get(f"/jobs/{again.job_id}/metrics").json()["metrics"]["train/loss"]["train"]
    assert own[0][0] > meta["step"]
    assert {r["job_id"] for r in client.jobs()} == {job.job_id, again.job_id}
    assert client.get(job.job_id[:15]).job_id == job.job_id

    with pytest.raises(trn.ConfigError) as bad:
        client.submit(["optimizer.lr=abc"])
    assert 'optimizer.lr="abc" is not a number' in bad.value.problems[0]
    with pytest.raises(trn.NotFound):
        client.get("abc123")
    with pytest.raises(trn.UsageError, match="refused the request \\(401"):
        trn.Client(server.url, "wrong-token-0123456789").jobs()


def test_global_stream_resumes_after_last_event_id_and_frees_its_resources(server, trn_home):
    http = server.client()
    job = http.post("/jobs", json={"overrides": FAST}).json()
    wait_state(http, job["job_id"], {"completed"})
    every = read_events(trn_home / "events.jsonl")
    assert len(every) >= 6

    def first(n: int, **kwargs) -> list[tuple[str | None, dict]]:
        out = []
        with http.stream("GET", "/events", **kwargs) as stream:
            for item in sse(stream):
                out.append(item)
                if len(out) == n:
                    break
        return out

    assert [i for i, _ in first(3, params={"tail": 3})] == [e["id"] for e in every[-3:]]
    got = first(3, headers={"Last-Event-ID": every[1]["id"]})
    assert [i for i, _ in got] == [e["id"] for e in every[2:5]]
    metrics = first(2, params={"tail": 1000, "event": "metrics"})
    assert {e["event"] for _, e in metrics} == {"metrics"}

    # a follower that goes away: its stream ends on the server
    with http.stream("GET", "/events") as stream:
        wait_until(lambda: http.get("/health").json()["streams"] == 1, "the stream counted")
        stream.close()
    wait_until(lambda: http.get("/health").json()["streams"] == 0, "the closed stream ended")

    live: list[dict] = []  # new events reach a follower that started before them

    def follow() -> None:
        with httpx.Client(
            base_url=server.url + "/api/v1",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=PATIENCE,
        ) as c:
            with c.stream("GET", "/events", params={"event": "job_completed"}) as stream:
                for _, event in sse(stream):
                    live.append(event)
                    return

    follower = threading.Thread(target=follow)
    follower.start()
    wait_until(lambda: http.get("/health").json()["streams"] == 1, "the follower subscribed")
    second = http.post("/jobs", json={"overrides": FAST}).json()
    follower.join(PATIENCE)
    assert [e["job_id"] for e in live] == [second["job_id"]]


def test_a_sweep_over_http_reports_its_jobs_best_first(server):
    http = server.client()
    reply = http.post(
        "/jobs", json={"overrides": [*FAST, "optimizer.lr=1e-3,3e-3"], "multirun": True}
    )
    assert reply.status_code == 202, reply.text
    sweep = reply.json()
    assert sweep["jobs"] == 2 and reply.headers["location"] == f"/api/v1/sweeps/{sweep['sweep_id']}"
    summary = wait_until(
        lambda: (s := http.get(f"/sweeps/{sweep['sweep_id']}").json())["state"] != "running" and s,
        "the sweep's end",
        every=0.5,
    )
    assert summary["state"] == "completed" and summary["varied"] == ["optimizer.lr"]
    assert len(summary["jobs"]) == 2 and summary["best"]["job_id"] == summary["jobs"][0]["job_id"]
    listed = http.get("/jobs", params={"sweep": sweep["sweep_id"]}).json()["jobs"]
    assert {r["job_id"] for r in listed} == {r["job_id"] for r in summary["jobs"]}

    (row,) = http.get("/sweeps").json()["sweeps"]  # the list of sweeps: a summary without rows
    assert (row["sweep_id"], row["state"], row["jobs"]) == (sweep["sweep_id"], "completed", 2)
    assert row["best"] == summary["best"] and row["counts"] == {"completed": 2}
    assert row["varied"] == ["optimizer.lr"] and row["started_at"]
    assert trn.Client(server.url, TOKEN).sweeps() == [row]


def test_an_eval_job_over_http_and_through_trn_client(server, trn_home, tmp_path):
    """POST /jobs with kind eval is `trn eval --detach`: an eval job of a job's best checkpoint,
    listed with ?kind=eval; trn.Client.evaluate is the same call; what is not an eval request
    is refused before any job exists."""
    import numpy as np

    g = np.random.default_rng(0)
    x = g.normal(size=(300, 8)).astype("float32")
    np.savez(tmp_path / "xy.npz", x=x, y=(x[:, 0] > 0).astype("int64"))
    data = tmp_path / "with-test"
    built = run_trn("data", "build", str(data), "--from", str(tmp_path / "xy.npz"),
                    "--split", "train=0.6,val=0.2,test=0.2")  # fmt: skip
    assert built.returncode == 0, built.stderr
    http = server.client()
    job = http.post("/jobs", json={"overrides": [*FAST, f"data.path={data}"]}).json()
    trained = wait_state(http, job["job_id"], {"completed", "failed"})
    assert trained["state"] == "completed" and "test/acc" in trained["metrics"], trained

    reply = http.post("/jobs", json={"kind": "eval", "checkpoint": job["job_id"]})
    assert reply.status_code == 201, reply.text
    evaluated = wait_state(http, reply.json()["job_id"], {"completed", "failed"})
    assert evaluated["state"] == "completed" and evaluated["kind"] == "eval"
    assert evaluated["evaluates"]["job_id"] == job["job_id"]
    assert evaluated["metrics"]["test/acc"] == pytest.approx(trained["metrics"]["test/acc"])
    listed = http.get("/jobs", params={"kind": "eval"}).json()["jobs"]
    assert [r["job_id"] for r in listed] == [evaluated["job_id"]]

    client = trn.Client(server.url, TOKEN)
    again = client.evaluate(job["job_id"], stage="validate").wait(240)
    assert again["evaluates"]["stage"] == "validate" and "val/acc" in again["metrics"]
    assert {r["job_id"] for r in client.jobs(kind="eval")} == {evaluated["job_id"], again["job_id"]}

    before = {r["job_id"] for r in client.jobs()}
    for body, status, says in (
        ({"kind": "eval"}, 400, 'needs "checkpoint"'),
        ({"checkpoint": job["job_id"]}, 400, 'add "kind": "eval"'),
        ({"kind": "test", "checkpoint": job["job_id"]}, 400, "kind='test'"),
        ({"kind": "eval", "checkpoint": job["job_id"], "stage": "fit"}, 400, "stage='fit'"),
        ({"kind": "eval", "checkpoint": str(data / "index.json")}, 422, "not a trn checkpoint"),
    ):
        reply = http.post("/jobs", json=body)
        assert reply.status_code == status and says in reply.json()["error"], reply.text
    assert {r["job_id"] for r in client.jobs()} == before


def test_an_app_over_one_home_starts_and_finds_its_jobs_there_whatever_trn_home_says(
    tmp_path, monkeypatch
):
    """create_app(Settings(home=A)) in a process whose $TRN_HOME is B: a job, its resume and a
    sweep submitted over HTTP are recorded in A and found there; B is never written."""
    from starlette.testclient import TestClient

    from trn.serve.app import create_app
    from trn.serve.settings import Settings

    served, other = tmp_path / "served", tmp_path / "other"
    monkeypatch.setenv("TRN_HOME", str(other))
    app = create_app(Settings(home=served, token=TOKEN))
    headers = {"Authorization": f"Bearer {TOKEN}", "Host": "localhost"}
    with TestClient(app, base_url="http://localhost/api/v1", headers=headers) as http:
        reply = http.post("/jobs", json={"overrides": FAST})
        assert reply.status_code == 201, reply.text
        job = reply.json()
        assert Path(job["job_dir"]).is_relative_to(served)
        record = wait_state(http, job["job_id"], {"completed", "failed", "lost"})  # type: ignore[arg-type]
        assert record["state"] == "completed", record.get("error")

        reply = http.post(
            f"/jobs/{job['job_id']}/resume", json={"overrides": ["trainer.max_epochs=2"]}
        )
        assert reply.status_code == 201, reply.text
        resumed = reply.json()
        assert Path(resumed["job_dir"]).is_relative_to(served)
        assert http.get(f"/jobs/{resumed['job_id']}").status_code == 200

        reply = http.post("/jobs", json={"overrides": [*FAST, "seed=1,2"], "multirun": True})
        assert reply.status_code == 202, reply.text
        sweep = reply.json()
        assert Path(sweep["sweep_dir"]).is_relative_to(served)
        ended = wait_until(
            lambda: (
                (s := http.get(f"/sweeps/{sweep['sweep_id']}").json())["state"] != "running" and s
            ),
            "the sweep's end",
            every=0.5,
        )
        assert ended["state"] == "completed" and len(ended["jobs"]) == 2
        wait_state(http, resumed["job_id"], {"completed", "failed", "lost"})  # type: ignore[arg-type]
    assert not other.exists() or not any(other.rglob("job.json")), list(other.rglob("*"))
