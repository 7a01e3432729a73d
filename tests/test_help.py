"""Help, Hydra's inspection flags and shell completion: what a user types to find their way."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, run_trn

from trn.cli.complete import candidates
from trn.cli.main import COMMANDS, build_parser
from trn.config.flags import FLAGS


def subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_top_level_help_lists_every_command_with_a_line_and_examples(cli, capsys):
    with pytest.raises(SystemExit):
        cli("--help")
    out = capsys.readouterr().out
    helps = {
        c.dest: c.help
        for c in next(
            a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
        )._choices_actions
    }
    for command in COMMANDS:
        assert command in out and helps.get(command), f"{command} has no one-line help"
    assert "examples:" in out and "trn run --detach" in out


def test_run_help_lists_every_flag_with_a_line_and_examples(capsys):
    run = subparsers()["run"]
    for action in run._actions:
        assert action.help, f"{action.option_strings or action.dest} has no help"
    text = run.format_help()
    for name, _, _ in FLAGS:
        assert "--" + name.replace("_", "-") in text
    for flag in ("--detach", "--cfg", "--info", "--resolve", "--package", "--json", "--dry-run"):
        assert flag in text
    assert "examples:" in text and "--config examples/sample_train.json" in text


def test_cfg_job_prints_the_composed_config_and_starts_nothing(trn_home):
    proc = run_trn("run", "--cfg", "job", "optimizer=sgd", "--profile", "dev")
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(proc.stdout)
    assert config["optimizer"]["_target_"] == "torch.optim.SGD"
    assert config["trainer"]["limit_train_batches"] == 8  # --profile dev took effect
    assert config["data"]["seed"] == "${seed}"  # unresolved, as Hydra prints it
    package = run_trn("run", "--cfg", "job", "--resolve", "--package", "data")
    assert yaml.safe_load(package.stdout)["seed"] == 0
    assert not trn_home.exists()


def test_cfg_hydra_and_info_are_hydras_own(trn_home):
    hydra = run_trn("run", "--cfg", "hydra")
    assert hydra.returncode == 0 and "hydra" in yaml.safe_load(hydra.stdout)
    info = run_trn("run", "--info", "defaults", "optimizer=sgd")
    assert info.returncode == 0 and "optimizer/sgd" in info.stdout
    bad = run_trn("run", "--cfg", "job", "optimizer=nope")
    assert bad.returncode == 2 and "no such option in group 'optimizer'" in bad.stderr
    assert "Traceback" not in bad.stderr and not trn_home.exists()


@pytest.mark.parametrize(
    "line, expected",
    [
        ("trn ", ["run", "status", "completion", "--help"]),
        ("trn st", ["status"]),
        ("trn run --pro", ["--profile"]),
        ("trn run --profile ", ["dev", "prod"]),
        ("trn run --cfg ", ["job", "hydra", "all"]),
        ("trn run --config ", ["__files__"]),
        ("trn run optimizer=", ["optimizer=adamw", "optimizer=sgd"]),
        ("trn run optimizer.l", ["optimizer.lr="]),
        ("trn run +trainer.max_", ["+trainer.max_epochs="]),
        ("trn run tra", ["trainer."]),
        ("trn completion ", ["bash", "zsh"]),
    ],
)
def test_completion_candidates(trn_home, line, expected):
    got = candidates(line)
    assert all(e in got for e in expected), got


def test_completion_offers_job_ids_for_status_logs_and_cancel(trn_home):
    from trn.registry.record import JobRecord
    from trn.registry.store import Registry

    assert candidates("trn status ") == [] and not trn_home.exists()  # creates nothing
    registry = Registry(trn_home)
    job_id, job_dir = registry.create_job_dir()
    registry.write(JobRecord(job_id=job_id, job_dir=str(job_dir)))
    for command in ("status", "logs", "cancel", "plot"):
        assert candidates(f"trn {command} ") == [job_id]
    assert candidates("trn status " + job_id[:8]) == [job_id]
    assert candidates("trn status zz") == []
    (trn_home / "sweeps" / "2026" / "11" / "28" / "261128-120000-swp1").mkdir(parents=True)
    assert candidates("trn cancel ") == [job_id, "261128-120000-swp1"]  # a job or a sweep
    assert candidates("trn plot 261128-120000-s") == ["261128-120000-swp1"]
    assert candidates("trn status 261128-120000-s") == ["261128-120000-swp1"]  # a sweep too


def bash_complete(line: str) -> list[str]:
    """What bash offers after sourcing `trn completion bash`, for the cursor at the end of line."""
    script = run_trn("completion", "bash").stdout
    words = "COMP_WORDS=(" + line.replace("=", " = ") + (' ""' if line.endswith(" ") else "") + ")"
    code = (
        f'trn() {{ "{sys.executable}" -m trn "$@"; }}\n{script}\n'
        f"COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; {words}\n"
        "COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _trn_complete; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    proc = subprocess.run(["bash", "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_script_completes_commands_and_group_options(trn_home):
    assert "status" in bash_complete("trn st")
    # bash splits at '=': the candidates must be what follows it
    assert sorted(bash_complete("trn run optimizer=")) == ["=adamw", "=sgd"]
    assert bash_complete("trn run optimizer=s") == ["sgd"]


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts_parse(shell):
    if shutil.which(shell) is None:
        pytest.skip(f"needs {shell} on PATH")
    script = run_trn("completion", shell).stdout
    proc = subprocess.run([shell, "-n"], input=script, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "argv, line",
    [
        (["lsit"], "trn: error: unknown command 'lsit' (did you mean list?); see `trn --help`"),
        (
            ["list", "--state", "runing"],
            "trn list: error: --state: 'runing' is not one of submitted, running, completed, "
            "failed, cancelled, preempted, pruned, lost (did you mean running?); see `trn list --help`",
        ),
        (
            ["list", "--jsno"],
            "trn list: error: unrecognized arguments: --jsno (did you mean --json?); "
            "see `trn list --help`",
        ),
        (
            ["run", "--dryrun"],
            "trn run: error: unrecognized arguments: --dryrun (did you mean --dry-run?); "
            "see `trn run --help`",
        ),
        (["xyzzy"], "trn: error: unknown command 'xyzzy'; see `trn --help`"),
    ],
)
def test_a_mistyped_verb_choice_or_flag_is_one_line_naming_the_nearest(capsys, argv, line):
    from trn.cli.main import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines() == [line]
