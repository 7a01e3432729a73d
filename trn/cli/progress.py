"""How ``trn run`` shows a job's events: the live console in a terminal (:mod:`trn.cli.console`),
plain lines otherwise, or (``events.stdout=true``) the raw JSON lines on stdout and the human
view on stderr. ``-v`` prints every event as a line, ``-q`` only the final line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from trn.registry.record import JobRecord
from trn.text import event_line, isatty, plain


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``-v``/``-q`` for ``trn run``."""
    loud = p.add_mutually_exclusive_group()
    loud.add_argument(
        "-v", "--verbose", action="store_true", help="print every event as a line (as in logs)"
    )
    loud.add_argument("-q", "--quiet", action="store_true", help="print only the final line")


def verbosity(args: argparse.Namespace) -> int:
    """-1 quiet, 0 the console, 1 every event."""
    return -1 if getattr(args, "quiet", False) else int(bool(getattr(args, "verbose", False)))


def final_line(record: JobRecord, job_dir: str | None = None) -> str:
    why = f" ({record.stop_reason})" if record.stop_reason else ""  # stopped early
    return f"job {record.job_id} {record.state}{why}: {job_dir or record.job_dir}"


class PlainLines:
    """One readable line per event (heartbeats skipped): safe for files and CI logs. The job
    dir is named once (``job_submitted``); paths inside it are shown relative to it."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.job_dir: str | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        if event.get("event") == "job_submitted":
            self.job_dir = event.get("job_dir") or self.job_dir
        if event.get("event") != "heartbeat":
            self.stream.write(plain(event_line(event, self.job_dir)) + "\n")
            self.stream.flush()

    def close(self) -> None:
        pass

    def finish(self, record: JobRecord, env: str = "") -> None:
        from trn.text import short_path

        where = short_path(record.job_dir) if isatty(self.stream) else None
        print(final_line(record, where), file=self.stream)


class Quiet(PlainLines):
    """``-q``: nothing until the final line."""

    def __call__(self, event: dict[str, Any]) -> None:
        pass


class LiveConsole(PlainLines):
    """The live view of :mod:`trn.cli.console.run_view` (rich is imported only now)."""

    def __init__(self, stream: TextIO, objective: dict[str, Any], verbose: bool):
        super().__init__(stream)
        from trn.cli.console.run_view import RunView

        self.view = RunView(stream, objective, verbose)

    def __call__(self, event: dict[str, Any]) -> None:
        self.view(event)

    def close(self) -> None:
        self.view.close()

    def finish(self, record: JobRecord, env: str = "") -> None:
        from trn.text import short_path

        self.view.finish(record, final_line(record, short_path(record.job_dir)), env)


class JsonLines:
    """``events.stdout=true``: every event as its JSON line on ``out``; people read ``human``."""

    def __init__(self, out: TextIO, human: PlainLines):
        self.out, self.human = out, human

    def __call__(self, event: dict[str, Any]) -> None:
        self.out.write(json.dumps(event, separators=(",", ":"), default=str) + "\n")
        self.out.flush()
        self.human(event)

    def close(self) -> None:
        self.human.close()

    def finish(self, record: JobRecord, env: str = "") -> None:
        self.human.finish(record, env)


def make_echo(
    human: TextIO,
    json_out: TextIO | None = None,
    objective: dict[str, Any] | None = None,
    verbosity: int = 0,
) -> PlainLines | JsonLines:
    """The echo for ``trn run``: the live console when ``human`` is a terminal, else plain
    lines; ``verbosity`` -1 shows only the final line, 1 every event."""
    view: PlainLines
    if verbosity < 0:
        view = Quiet(human)
    elif isatty(human):
        view = LiveConsole(human, objective or {}, verbose=verbosity > 0)
    else:
        view = PlainLines(human)
    return JsonLines(json_out, view) if json_out is not None else view


class Watch:
    """``trn logs -f JOB`` in a terminal: the job's lines drawn by the run view, as ``trn run``
    draws them (``close`` ends the live line and, once the job ended, prints the summary)."""

    def __init__(self, record: JobRecord):
        from trn.cli.console.run_view import RunView

        self.view = RunView(sys.stdout, _objective(record))

    def __call__(self, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        if isinstance(event, dict):
            self.view(event)

    def close(self) -> None:
        from trn.text import short_path

        self.view.close()
        job = self.view.job
        if job.end is not None and job.job_id:
            end = job.end  # the terminal event: how the job ended, as far as the events tell
            record = JobRecord(
                job.job_id,
                job.job_dir or "",
                state=job.state,
                error=end.get("error"),
                checkpoint=end.get("checkpoint"),
            )
            self.view.finish(record, final_line(record, short_path(job.job_dir or "?")))


def _objective(record: JobRecord) -> dict[str, Any]:
    """The job's ``objective`` from its config.yaml (none if unreadable)."""
    import yaml

    if not record.config_path:
        return {}
    try:
        with open(record.config_path, encoding="utf-8") as f:
            return dict((yaml.safe_load(f) or {}).get("objective") or {})
    except (OSError, TypeError, ValueError, AttributeError, yaml.YAMLError):
        return {}


def watch_printer(record: JobRecord) -> Callable[[str], None] | None:
    """The live view for following one job when stdout is a terminal, else ``None``."""
    return Watch(record) if isatty(sys.stdout) else None


def line_printer(
    raw: bool, heartbeats: bool = False, with_job: bool = False
) -> Callable[[str], None]:
    """For ``trn logs`` / ``trn events``: print raw JSON lines, or readable ones (heartbeats
    only if asked for; with the job id in front when lines of several jobs mix; paths inside a
    job's dir relative to it once its ``job_submitted`` named it)."""
    job_dirs: dict[str, str] = {}

    def show(line: str) -> None:
        if raw:
            sys.stdout.write(line + "\n")
        else:
            try:
                event = json.loads(line)
            except ValueError:
                return
            if not isinstance(event, dict) or (
                event.get("event") == "heartbeat" and not heartbeats
            ):
                return
            job_id = event.get("job_id") or "-"
            if event.get("event") == "job_submitted" and event.get("job_dir"):
                job_dirs[job_id] = event["job_dir"]
            job = f"{job_id[:18]:<18} " if with_job else ""
            sys.stdout.write(job + plain(event_line(event, job_dirs.get(job_id))) + "\n")
        sys.stdout.flush()

    return show
