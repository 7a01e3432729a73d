"""The original plan's ``trn run`` flags, as sugar over Hydra overrides.

``--profile prod`` is ``profile=prod``, ``--weights W`` is ``weights=W``, ``--devices
cuda:0,cuda:1`` is ``devices=gpu devices.ids=[0,1]``, ``--event-log F`` is ``events.file=F``,
``--log-dir D`` is ``TRN_HOME=D`` for this job, ``--config FILE`` merges a whole JSON/YAML
config (:mod:`trn.config.file`), and ``-cd/--config-dir DIR`` puts the project's config dir first
on the search path (:mod:`trn.config.project`). Flags and overrides mix; a flag and an override setting the
same key is an error naming both. Precedence: ``conf/`` < ``--config`` < flags and overrides.

The Python API (:mod:`trn.api`) takes the same flags as keyword arguments, through this code.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields
from pathlib import Path

from trn.config.file import file_overrides, quote
from trn.errors import ConfigError, UsageError

# (name, metavar, one-line help); `--log-dir` is `log_dir` here
FLAGS = [
    ("config", "FILE", "a JSON or YAML config merged over conf/ (flags and overrides win)"),
    ("weights", "PATH", "initialise the model from a .ckpt or state_dict file (weights=PATH)"),
    ("profile", "NAME", "a profile from conf/profile, e.g. dev or prod (profile=NAME)"),
    ("devices", "SPEC", "cpu, auto, gpu, or GPUs like cuda:0,cuda:1 (devices=...)"),
    ("log_dir", "DIR", "keep the job dir, record and events under DIR (TRN_HOME=DIR)"),
    ("event_log", "FILE", "append every event of the job to FILE too (events.file=FILE)"),
]


@dataclass
class Flags:
    config: str | None = None
    weights: str | None = None
    profile: str | None = None
    devices: str | None = None
    log_dir: str | None = None
    event_log: str | None = None
    config_dir: str | None = None  # the project's config dir (trn.config.project)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Flags:
        return cls(**{f.name: getattr(args, f.name, None) for f in fields(cls)})


@dataclass
class Resolved:
    """What the flags and overrides amount to: the overrides to compose, and where jobs live."""

    overrides: list[str]
    home: Path | None = None
    origins: dict[str, str] = field(default_factory=dict)  # override key -> flag that set it


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from trn.config import project

    for name, metavar, text in FLAGS:
        parser.add_argument("--" + name.replace("_", "-"), metavar=metavar, help=text)
    project.add_arguments(parser)  # -cd/--config-dir DIR


def override_key(override: str) -> str:
    """The key or group an override sets: ``+a.b@pkg=1`` -> ``a.b``."""
    return override.split("=", 1)[0].lstrip("+~").split("@", 1)[0]


def resolve(flags: Flags, overrides: list[str], config_dir: Path | None = None) -> Resolved:
    """Map the flags onto Hydra overrides; raise :class:`UsageError` on a conflict."""
    user = {override_key(o): o for o in overrides}
    origins: dict[str, str] = {}
    mapped: list[str] = []
    for flag, override in _flag_overrides(flags):
        key = override_key(override)
        if key in user:
            raise UsageError(f"{flag} conflicts with override {user[key]}; keep one")
        origins[key] = flag
        mapped.append(override)
    from_file: list[str] = []
    if flags.config:
        for override in file_overrides(flags.config, config_dir):
            key = override_key(override)
            if key not in user and key not in origins:  # the command line wins over the file
                origins[key] = f"--config {flags.config}"
                from_file.append(override)
    home = Path(flags.log_dir).expanduser().resolve() if flags.log_dir else None
    return Resolved(from_file + mapped + list(overrides), home, origins)


def _flag_overrides(flags: Flags) -> list[tuple[str, str]]:
    """``(flag as typed, override)`` pairs, in a fixed order."""
    out: list[tuple[str, str]] = []
    if flags.profile is not None:
        out.append((f"--profile {flags.profile}", f"profile={flags.profile}"))
    if flags.weights is not None:
        out.append((f"--weights {flags.weights}", f"weights={quote(_existing(flags.weights))}"))
    if flags.devices is not None:  # the device manager's own parser: one grammar for --devices
        from trn.devices.request import parse_devices_flag

        out += [(f"--devices {flags.devices}", o) for o in parse_devices_flag(flags.devices)]
    if flags.event_log is not None:
        path = str(Path(flags.event_log).expanduser().resolve())
        out.append((f"--event-log {flags.event_log}", f"events.file={quote(path)}"))
    return out


def _existing(path: str) -> str:
    p = Path(path).expanduser()
    if not p.is_file():
        raise UsageError(
            f"--weights {path}: no such file; give the path of a .ckpt or state_dict file"
        )
    return str(p.resolve())


def annotate(err: UsageError, origins: dict[str, str]) -> UsageError:
    """The same error, each problem tagged with the flag or file that set its key."""

    def tag(problem: str) -> str:
        head = problem.split(":", 1)[0].split(" ", 1)[0]
        key = override_key(head)
        return f"{problem} (from {origins[key]})" if key in origins else problem

    if isinstance(err, ConfigError):
        return ConfigError([tag(p) for p in err.problems])
    if type(err) is UsageError:
        return UsageError(tag(str(err)))
    return err
