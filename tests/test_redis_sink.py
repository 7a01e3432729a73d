"""The Redis Streams sink against a real redis-server: delivery, trimming, outages, auth."""

from __future__ import annotations

import json
import time

import pytest
from conftest import RedisServer, free_port, wait_until

from trn.events.redis_sink import RedisOptions, RedisStreamSink
from trn.events.writer import EventWriter

pytestmark = pytest.mark.redis


def _lines(n: int, start: int = 0) -> list[str]:
    return [
        json.dumps({"event": "metrics", "job_id": "j1", "id": f"{i:024x}", "seq": i})
        for i in range(start, start + n)
    ]


def _stream(server: RedisServer, stream: str = "trn:events") -> list[dict]:
    return [fields for _, fields in server.client().xrange(stream)]


def test_every_line_arrives_with_filter_fields(redis_server):
    sink = RedisStreamSink(RedisOptions(url=redis_server.url, stream="s1"))
    for line in _lines(1000):
        sink.write(line)
    sink.close()
    entries = _stream(redis_server, "s1")
    assert [e["data"] for e in entries] == _lines(1000)
    assert entries[0]["event"] == "metrics" and entries[0]["job_id"] == "j1"
    assert entries[7]["id"] == f"{7:024x}" and sink.dropped == 0 and sink.pending == 0


def test_stream_is_trimmed_approximately(redis_server):
    sink = RedisStreamSink(RedisOptions(url=redis_server.url, maxlen=100))
    for line in _lines(5000):
        sink.write(line)
    sink.close()
    assert 100 <= redis_server.client().xlen("trn:events") < 1000


def test_outage_is_reported_once_and_buffered_lines_arrive_after(redis_server):
    reports: list[str] = []
    sink = RedisStreamSink(RedisOptions(url=redis_server.url, backoff_max_s=0.2), reports.append)
    lines = _lines(300)
    for line in lines[:100]:
        sink.write(line)
    _wait(lambda: sink.sent == 100)
    redis_server.stop()
    for line in lines[100:200]:
        sink.write(line)
        time.sleep(0.002)
    _wait(lambda: reports)
    redis_server.start()
    for line in lines[200:]:
        sink.write(line)
    sink.close()
    assert len(reports) == 1 and "unreachable" in reports[0]
    delivered = {json.loads(e["data"])["id"] for e in _stream(redis_server)}  # de-dup by id
    assert delivered == {json.loads(line)["id"] for line in lines}


def test_nothing_listening_never_blocks_and_never_raises(capfd):
    reports: list[str] = []
    options = RedisOptions(url=f"redis://127.0.0.1:{free_port()}", close_timeout_s=600)
    sink = RedisStreamSink(options, reports.append)
    t0 = time.perf_counter()
    for line in _lines(10_000):
        sink.write(line)
    assert time.perf_counter() - t0 < 10  # queued: about 0.05 s idle; a connect per line, more
    _wait(lambda: reports)
    t0 = time.perf_counter()
    sink.close()
    assert time.perf_counter() - t0 < 300  # never reached: one last try, not close_timeout_s
    assert len(reports) == 1
    assert "10000 events not delivered" in capfd.readouterr().err


def test_close_waits_out_a_short_outage_of_a_redis_that_worked(redis_server):
    import threading

    sink = RedisStreamSink(RedisOptions(url=redis_server.url, backoff_max_s=0.2))
    lines = _lines(20)
    sink.write(lines[0])
    _wait(lambda: sink.sent == 1)
    redis_server.stop()
    for line in lines[1:]:
        sink.write(line)
    threading.Timer(1.0, redis_server.start).start()  # back while close() waits
    sink.close()
    assert {e["data"] for e in _stream(redis_server)} == set(lines)


def test_a_full_buffer_drops_the_oldest_and_counts_them(redis_server):
    reports: list[str] = []
    redis_server.stop()
    options = RedisOptions(url=redis_server.url, buffer=10, backoff_max_s=0.2)
    sink = RedisStreamSink(options, reports.append)
    lines = _lines(100)
    for line in lines:
        sink.write(line)
    _wait(lambda: reports)
    redis_server.start()
    sink.close()
    delivered = [e["data"] for e in _stream(redis_server)]
    assert sink.dropped == 100 - len(delivered) >= 80
    assert delivered[-10:] == lines[-10:]  # the newest survive
    assert any("dropped" in r for r in reports[1:])


def test_password_from_an_environment_variable(tmp_path, monkeypatch, redis_server):
    server = RedisServer(tmp_path / "auth", args=["--requirepass", "s3cret"]).start()
    try:
        monkeypatch.setenv("TRN_TEST_REDIS_PASSWORD", "s3cret")
        options = RedisOptions(url=server.url, password_env="TRN_TEST_REDIS_PASSWORD")
        sink = RedisStreamSink(options)
        sink.write(_lines(1)[0])
        sink.close()
        import redis

        assert redis.Redis.from_url(server.url, password="s3cret").xlen("trn:events") == 1
        assert "s3cret" not in sink.name
    finally:
        server.stop()


def test_writer_turns_a_sink_outage_into_one_warning_event(tmp_path):
    options = RedisOptions(url=f"redis://127.0.0.1:{free_port()}", close_timeout_s=0.2)
    writer = EventWriter(tmp_path, "j1", source="runner", extra_sinks=[RedisStreamSink(options)])
    writer.emit("heartbeat", step=0)
    _wait(lambda: writer._warnings)
    for step in range(1, 4):
        writer.emit("heartbeat", step=step)
    writer.close()
    events = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == [
        "heartbeat",
        "warning",
        "heartbeat",
        "heartbeat",
        "heartbeat",
    ]
    assert [e["seq"] for e in events] == list(range(5))
    assert "unreachable" in events[1]["message"]


def _wait(cond) -> None:
    wait_until(cond, "the sink's report", every=0.01)
