"""trn serve without training: auth, the OpenAPI document, and every kind of bad request,
against a real uvicorn on a free loopback port."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from conftest import ROOT, free_port, run_trn
from serve_support import READ_TOKEN, TOKEN, Server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("serve") / "home").start()
    yield srv
    srv.stop()


@pytest.fixture
def http(server):
    with server.client() as client:
        yield client


def documented(server, open_too: bool = False) -> list[tuple[str, str]]:
    """The documented routes; ``open_too``: also those that need no token (``security: []``)."""
    doc = server.client().get("/openapi.json").json()
    return [
        (path, method)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if open_too or op.get("security") != []
    ]


def concrete(path: str) -> str:
    return path.replace("{job_id}", "261201-000000-abcd").replace("{sweep_id}", "261201-x")


def test_health_is_open_and_says_more_only_to_a_token_holder(server, http):
    assert httpx.get(server.url + "/api/v1/health").json() == {"ok": True}
    full = http.get("/health").json()
    assert full["ok"] and full["access"] == "full" and full["home"] == str(server.home)
    assert server.client(READ_TOKEN).get("/health").json()["access"] == "read"


@pytest.mark.parametrize(
    "auth", [None, "Bearer wrong-token-0123456789abc", f"Basic {TOKEN}", "Bearer"]
)
def test_every_endpoint_but_health_answers_401_and_nothing_else(server, auth):
    routes = documented(server)
    assert len(routes) >= 16 and ("/api/v1/session", "post") not in routes
    headers = {"Authorization": auth} if auth else {}
    for path, method in routes:
        reply = httpx.request(method, server.url + concrete(path), headers=headers, json={})
        assert reply.status_code == 401, (path, method, reply.text)
        assert reply.json() == {"error": "unauthorized"}
        assert reply.headers["www-authenticate"] == "Bearer"


def test_openapi_document_is_valid_and_lists_every_route(server, http):
    from openapi_spec_validator import validate

    from trn.serve.app import routes

    doc = http.get("/openapi.json").json()
    validate(doc)
    served = {
        (r.path, m.lower()) for r in routes() if r.path.startswith("/api/") for m in r.methods or []
    } - {(r.path, "head") for r in routes()}
    assert set(documented(server, open_too=True)) == served
    assert set(documented(server, open_too=True)) - set(documented(server)) == {
        ("/api/v1/health", "get"),
        ("/api/v1/session", "post"),
    }
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["summary"] and op["responses"], (path, method)
            if not path.endswith("/health"):
                assert "401" in op["responses"], (path, method)


def test_a_read_only_token_reads_and_gets_403_on_every_write(server):
    reader = server.client(READ_TOKEN)
    assert reader.get("/jobs").status_code == 200
    for path, method in documented(server):
        if method == "post":
            reply = reader.post(concrete(path), json={"overrides": ["profile=dev"]})
            assert reply.status_code == 403, path
            assert reply.json() == {"error": "this token is read-only"}
    assert not (server.home / "runs").exists()


def test_the_cli_allowlist_refuses_a_posted_target_with_the_cli_message(server, http):
    bad = "model._target_=os.system"
    reply = http.post("/jobs", json={"overrides": [bad]})
    assert reply.status_code == 422
    cli = run_trn("run", "--dry-run", bad, env={"TRN_HOME": str(server.home)})
    assert cli.returncode == 2
    assert cli.stderr.strip() == f"trn run: error: {reply.json()['error']}"
    reply = http.post("/jobs", json={"overrides": [bad, "allow_targets=[os.]"]})
    assert reply.status_code == 422
    assert "allow_targets cannot be set over HTTP" in reply.json()["error"]
    assert not (server.home / "runs").exists()


def test_config_errors_list_every_problem(server, http):
    reply = http.post("/jobs", json={"overrides": ["optimizer.lr=abc", "trainer.max_epochs=0"]})
    assert reply.status_code == 422
    body = reply.json()
    assert 'optimizer.lr="abc" is not a number' in body["problems"][0]
    assert "trainer.max_epochs=0 is out of range" in body["problems"][1]
    assert body["error"] == "; ".join(body["problems"])
    assert (
        http.post("/jobs", json={"overrides": ["model=nope"]})
        .json()["error"]
        .startswith("model=nope: no such option in group 'model'")
    )


@pytest.mark.parametrize(
    "content, status, message",
    [
        (b"{not json", 400, "malformed JSON body"),
        (b"[1, 2]", 400, "the body must be a JSON object"),
        (
            b'{"overides": []}',
            400,
            "unknown field 'overides'; known fields: overrides, name, multirun",
        ),
        (b'{"overrides": "profile=dev"}', 400, "'overrides' must be a list"),
        (b'{"overrides": [1]}', 400, "'overrides' must be a list of strings"),
        (b'{"multirun": "yes"}', 400, "'multirun' must be true or false"),
        (b'{"name": "a\\"b"}', 422, "name 'a\"b': use 1-100 letters"),
        (b'{"name": "x", "overrides": ["name=y"]}', 400, "the name is given twice"),
    ],
)
def test_malformed_bodies_get_400_or_422_with_one_line(server, http, content, status, message):
    reply = http.post("/jobs", content=content, headers={"content-type": "application/json"})
    assert reply.status_code == status, reply.text
    assert reply.json()["error"].startswith(message), reply.json()
    assert "\n" not in reply.json()["error"]
    assert not (server.home / "runs").exists()


def test_bodies_over_the_cap_are_refused_with_or_without_a_length(server, http):
    big = json.dumps({"overrides": ["x=" + "a" * 70_000]}).encode()
    reply = http.post("/jobs", content=big)
    assert reply.status_code == 413 and "over 65536 bytes" in reply.json()["error"]

    def chunks():
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    reply = http.post("/jobs", content=chunks())  # chunked: no Content-Length
    assert reply.status_code == 413 and "over 65536 bytes" in reply.json()["error"]


def test_ids_are_checked_as_the_cli_does_and_unknown_ones_are_404(server, http):
    reply = http.get("/jobs/NOT_AN_ID")
    assert reply.status_code == 400
    assert reply.json()["error"].startswith("invalid job id 'NOT_AN_ID': job ids use only a-z")
    for path in (
        "/jobs/abc123",
        "/jobs/abc123/events",
        "/jobs/abc123/metrics",
        "/jobs/abc123/log",
        "/jobs/abc123/progress",
        "/jobs/abc123/attempts",
    ):
        reply = http.get(path)
        assert reply.status_code == 404, path
        assert reply.json()["error"].startswith("no job 'abc123'")
    assert http.post("/jobs/abc123/cancel").status_code == 404
    assert http.post("/jobs/abc123/resume", json={}).status_code == 404
    assert http.get("/sweeps/abc123").json()["error"].startswith("no sweep 'abc123'")


@pytest.mark.parametrize(
    "query, message",
    [
        ("state=finished", "state='finished' is not a job state"),
        ("limit=0", "limit='0': expected a whole number from 1 to 1000"),
        ("offset=-1", "offset='-1'"),
        ("color=red", "unknown query parameter 'color'"),
    ],
)
def test_bad_list_queries_are_400(http, query, message):
    reply = http.get(f"/jobs?{query}")
    assert reply.status_code == 400 and reply.json()["error"].startswith(message)
    if not query.startswith("state"):  # the list of sweeps pages the same way
        reply = http.get(f"/sweeps?{query}")
        assert reply.status_code == 400 and reply.json()["error"].startswith(message)


def test_no_sweeps_is_an_empty_page(http):
    assert http.get("/sweeps").json() == {
        "sweeps": [],
        "offset": 0,
        "limit": 20,
        "next_offset": None,
    }


def test_the_printed_sign_in_link_opens_a_session_once_and_sets_no_cookie(server, http):
    link = server.sign_in_link()
    assert link.startswith(server.url + "/#login=")
    code = link.split("#login=", 1)[1]

    def redeem(code: str) -> httpx.Response:
        return httpx.post(server.url + "/api/v1/session", json={"code": code})

    reply = redeem(code)
    assert reply.status_code == 200, reply.text
    assert "set-cookie" not in reply.headers
    session = reply.json()["session"]
    assert session.startswith("trns.") and TOKEN not in session
    as_session = server.client(session)
    assert as_session.get("/jobs").status_code == 200
    assert as_session.get("/health").json()["access"] == "full"

    used = redeem(code)  # once only
    assert used.status_code == 401
    assert used.json()["error"].startswith("this sign-in link was used, has expired")
    assert redeem("made-up-code-0123456789abcdef").status_code == 401
    missing = httpx.post(server.url + "/api/v1/session", json={})
    assert missing.status_code == 400 and "'code' is required" in missing.json()["error"]

    from trn.serve.session import Sessions

    forged = session[:-4] + ("AAAA" if not session.endswith("AAAA") else "BBBB")
    elsewhere, _ = Sessions("another-servers-token-0123456789").new_session()
    for bad in (forged, elsewhere, "trns.zz.x.y"):
        reply = server.client(bad).get("/jobs")
        assert reply.status_code == 401 and reply.json() == {"error": "unauthorized"}

    assert server.client(READ_TOKEN).post("/session/link").status_code == 403
    fresh = as_session.post("/session/link")
    assert fresh.status_code == 201 and fresh.json()["expires_in_s"] == 600
    assert redeem(fresh.json()["path"].split("#login=", 1)[1]).status_code == 200


def test_trn_serve_link_asks_the_running_server_for_another_link(server, tmp_path):
    env = {"TRN_HOME": str(server.home), "TRN_SERVE_TOKEN": TOKEN}
    asked = run_trn("serve", "--link", "--port", str(server.port), env=env)
    assert asked.returncode == 0, asked.stderr
    link = asked.stdout.strip()
    assert link.startswith(f"http://127.0.0.1:{server.port}/#login=")
    code = link.split("#login=", 1)[1]
    assert httpx.post(server.url + "/api/v1/session", json={"code": code}).status_code == 200

    other = {**env, "TRN_SERVE_TOKEN": "another-token-0123456789"}
    wrong = run_trn("serve", "--link", "--port", str(server.port), env=other)
    assert wrong.returncode == 2 and "has another token than" in wrong.stderr
    nobody = run_trn("serve", "--link", "--port", str(free_port()), env=env)
    assert nobody.returncode == 1 and "no trn serve answers on" in nobody.stderr
    empty = {"TRN_HOME": str(tmp_path / "empty"), "TRN_SERVE_TOKEN": ""}
    untold = run_trn("serve", "--link", env=empty)
    assert untold.returncode == 2 and "no token in" in untold.stderr
    for proc in (wrong, nobody, untold):
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_host_header_of_another_name_is_refused(server):
    ok = httpx.get(server.url + "/api/v1/health", headers={"Host": f"localhost:{server.port}"})
    assert ok.status_code == 200
    bad = httpx.get(server.url + "/api/v1/health", headers={"Host": "evil.example"})
    assert bad.status_code == 421 and "--allowed-host" in bad.json()["error"]


def test_cors_is_off_unless_asked_for(server, tmp_path):
    preflight = {
        "Origin": "https://lab.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    reply = httpx.options(server.url + "/api/v1/jobs", headers=preflight)
    assert "access-control-allow-origin" not in reply.headers
    cors = Server(tmp_path / "home", "--cors", "https://lab.example").start()
    try:
        reply = httpx.options(cors.url + "/api/v1/jobs", headers=preflight)
        assert reply.headers["access-control-allow-origin"] == "https://lab.example"
        other = httpx.options(
            cors.url + "/api/v1/jobs", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
    finally:
        cors.stop()


def test_dashboard_is_served_with_a_strict_policy(server):
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and "<title>trn" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(server.url + "/static/app.js").status_code == 200


def test_a_generated_token_is_saved_0600_and_printed_once(tmp_path):
    home = tmp_path / "home"
    first = Server(home, env={"TRN_SERVE_TOKEN": None}).start()
    out = first.stop()
    token = (home / "serve.token").read_text().strip()
    assert (home / "serve.token").stat().st_mode & 0o777 == 0o600
    assert f"(mode 0600): {token}" in out
    second = Server(home, env={"TRN_SERVE_TOKEN": None}).start()
    try:
        assert second.client(token).get("/jobs").status_code == 200
    finally:
        out = second.stop()
    assert token not in out


def test_non_loopback_needs_allow_remote_and_bad_tokens_are_refused(tmp_path):
    env = {"TRN_HOME": str(tmp_path / "h")}
    proc = run_trn("serve", "--host", "0.0.0.0", env=env)
    assert proc.returncode == 2
    assert "add --allow-remote, and put TLS in front" in proc.stderr
    proc = run_trn("serve", env={**env, "TRN_SERVE_TOKEN": "short"})
    assert proc.returncode == 2 and "TRN_SERVE_TOKEN is too weak" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_server_imports_neither_torch_nor_lightning(trn_home):
    code = (
        "import json, sys\n"
        "from starlette.testclient import TestClient\n"
        "from pathlib import Path\n"
        "from trn.serve.app import create_app\n"
        "from trn.serve.settings import Settings\n"
        f"app = create_app(Settings(home=Path({str(trn_home)!r}), token={TOKEN!r}))\n"
        f"c = TestClient(app, headers={{'Authorization': 'Bearer {TOKEN}', 'Host': 'localhost'}})\n"
        "c.get('/api/v1/jobs'); c.get('/api/v1/openapi.json'); c.get('/api/v1/sweeps')\n"
        "r = c.post('/api/v1/jobs', json={'overrides': ['optimizer.lr=abc']})\n"
        "print(json.dumps([r.status_code, [m for m in ('torch', 'lightning') if m in sys.modules]]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == [422, []]


def test_host_names_allowed_by_each_setting(tmp_path):
    from trn.serve.settings import Settings

    local = Settings(home=tmp_path, token=TOKEN)
    assert local.host_allowed("127.0.0.1:8765") and local.host_allowed("[::1]:8765")
    assert local.host_allowed("LOCALHOST") and not local.host_allowed("trn.lab.example:8765")
    named = Settings(
        home=tmp_path, token=TOKEN, allow_remote=True, allowed_hosts={"trn.lab.example"}
    )
    assert named.host_allowed("trn.lab.example:443") and not named.host_allowed("evil.example")
    anyname = Settings(home=tmp_path, token=TOKEN, allow_remote=True)
    assert anyname.host_allowed("10.0.0.5:8765")


def test_a_lost_job_is_lost_in_every_http_reply_and_running_on_disk(tmp_path):
    """The registry keeps what the supervisor wrote (running); the HTTP API shows the view."""
    from trn.registry.record import JobRecord
    from trn.registry.store import Registry

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    home = tmp_path / "home"
    registry = Registry(home)
    job_id, job_dir = registry.create_job_dir()
    registry.write(JobRecord(job_id, str(job_dir), state="running", pid=dead.pid))
    srv = Server(home).start()
    try:
        with srv.client() as http:
            job = http.get(f"/jobs/{job_id}").json()
            assert job["state"] == "lost" and job["job_id"] == job_id
            assert set(job) == set(JobRecord(job_id, str(job_dir)).to_dict())  # its shape
            page = http.get("/jobs").json()["jobs"]
            assert [(j["job_id"], j["state"]) for j in page] == [(job_id, "lost")]
            assert http.get("/jobs", params={"state": "lost"}).json()["jobs"][0]["state"] == "lost"
            assert http.get(f"/jobs/{job_id}/progress").json()["state"] == "lost"
    finally:
        srv.stop()
    assert json.loads((job_dir / "job.json").read_text())["state"] == "running"
