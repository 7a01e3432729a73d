"""The project owns its config: any Trainer argument, the callbacks group, its own top-level
groups (``paths``, ``extras``, ``experiment=``), trn's resolvers, one home per project, and
every argument checked before a job exists. Planned in-process against a project shaped like
lightning-hydra-template, in a temp dir outside the repo (tests/template_project.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import template_project
from conftest import PATIENCE

from trn.config.project import ENV
from trn.config.resolvers import fill, unfill
from trn.config.validate import load
from trn.errors import ConfigError


@pytest.fixture
def tpl(tmp_path, monkeypatch) -> Path:
    """The project, with the test in its ``src/`` subdirectory (not its root)."""
    monkeypatch.delenv(ENV, raising=False)
    root = template_project.write(tmp_path / "blobs")
    monkeypatch.chdir(root / "src")
    return root


def plan(cli, *overrides: str) -> dict:
    code, out, err = cli("run", "--dry-run", "--json", "devices=cpu", *overrides)
    assert code == 0, err
    return json.loads(out)


def test_an_experiment_file_sets_anything_over_the_projects_groups(tpl, cli, trn_home):
    config = plan(cli, "experiment=example")["config"]
    assert config["trainer"]["max_epochs"] == 3  # over trn's profile=prod (20)
    assert config["trainer"]["check_val_every_n_epoch"] == 1  # a Trainer key trn does not list
    assert config["model"]["lr"] == 0.02 and config["model"]["net"]["hidden"] == 32
    assert config["data"]["batch_size"] == 64 and config["seed"] == 7
    assert config["tags"] == ["blobs", "example"]  # a key of the project's own
    assert config["callbacks"] == {}  # its `override /callbacks: none`
    plain = plan(cli)["config"]
    assert plain["trainer"]["max_epochs"] == 20 and plain["seed"] == 12
    assert plain["tags"] == ["dev"] and plain["extras"] == {
        "ignore_warnings": False,
        "print_config": True,
    }


def test_paths_resolve_from_the_project_and_the_job_dir_waits_for_the_job(tpl, cli, trn_home):
    config = plan(cli)["config"]
    assert config["paths"] == {
        "root_dir": str(tpl),  # ${trn:project_root}
        "data_dir": "data/",
        "log_dir": f"{tpl}/logs/",
        "output_dir": "${trn:job_dir}",  # ${hydra:runtime.output_dir}: filled in per job
    }
    assert config["data"]["data_dir"] == "data/"  # ${paths.data_dir}
    assert config["callbacks"]["epoch_marker"]["path"] == "${trn:job_dir}/epochs.txt"
    filled = fill(config, "/h/runs/j1", "j1")
    assert filled["model"]["out_dir"] == "/h/runs/j1"
    assert unfill(filled, "/h/runs/j1", "j1") == config
    _, out, _ = cli("run", "--dry-run", "--json", "devices=cpu", "name=${trn:job_id}-x")
    assert json.loads(out)["config"]["name"] == "${trn:job_id}-x"
    # the template's own paths/default.yaml reads rootutils' PROJECT_ROOT
    template_style = plan(cli, "paths.root_dir=${oc.env:PROJECT_ROOT}")["config"]["paths"]
    assert template_style["root_dir"] == str(tpl) and "PROJECT_ROOT" not in os.environ


def test_the_callbacks_group_combines_trns_options_and_the_projects(tpl, cli, trn_home):
    callbacks = plan(cli)["config"]["callbacks"]
    assert list(callbacks) == ["early_stopping", "lr_monitor", "epoch_marker"]
    assert callbacks["early_stopping"]["_target_"] == "lightning.pytorch.callbacks.EarlyStopping"
    assert callbacks["early_stopping"]["monitor"] == "val/loss"  # the project's default.yaml
    only = plan(cli, "callbacks=[early_stopping,lr_monitor]")["config"]["callbacks"]
    assert list(only) == ["early_stopping", "lr_monitor"]
    assert only["early_stopping"]["monitor"] == "val/acc"  # trn's option: objective.metric
    off = plan(cli, "callbacks.epoch_marker=null")["config"]["callbacks"]
    assert off["epoch_marker"] is None


def test_any_trainer_argument_is_set_as_trns_own_are(tpl, cli, trn_home):
    trainer = plan(
        cli,
        "trainer.log_every_n_steps=5",
        "trainer.num_sanity_val_steps=0",
        "trainer.max_time=00:00:10:00",
        "trainer.benchmark=false",
        "trainer.detect_anomaly=true",
        "trainer.fast_dev_run=2",
    )["config"]["trainer"]
    assert trainer["log_every_n_steps"] == 5 and trainer["num_sanity_val_steps"] == 0
    assert trainer["max_time"] == "00:00:10:00" and trainer["fast_dev_run"] == 2
    assert trainer["benchmark"] is False and trainer["detect_anomaly"] is True


def test_the_project_gets_one_home_from_any_of_its_directories(tpl, cli, monkeypatch):
    monkeypatch.delenv("TRN_HOME", raising=False)
    assert plan(cli)["trn_home"] == str(tpl / "outputs")
    monkeypatch.chdir(tpl / "configs" / "model")
    assert plan(cli)["trn_home"] == str(tpl / "outputs")
    code, out, _ = cli("list")
    assert code == 0 and f"no jobs yet in {tpl / 'outputs'} (the project at {tpl})" in out
    monkeypatch.setenv("TRN_HOME", str(tpl / "elsewhere"))
    assert plan(cli)["trn_home"] == str(tpl / "elsewhere")


def test_planning_a_projects_module_reads_its_source_without_torch(tpl):
    """The CLI decides what trains (a LightningModule) and checks every argument from source:
    no torch, no Lightning, none of the project's code imported."""
    probe = (
        "import sys, json\n"
        "from trn.cli.main import main\n"
        "code = main(['run', '--dry-run', '--json', 'devices=cpu', 'experiment=example'])\n"
        "heavy = sorted(m for m in ('torch', 'lightning', 'src') if m in sys.modules)\n"
        "print(json.dumps({'code': code, 'heavy': heavy}), file=sys.stderr)\n"
    )
    env = {**os.environ, "TRN_HOME": str(tpl / "home")}
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tpl / "src",
        env=env,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    result = json.loads(proc.stderr.strip().splitlines()[-1])
    assert result == {"code": 0, "heavy": []}, proc.stderr
    assert json.loads(proc.stdout)["training"]["module"] == "lightning"


def test_a_rerun_config_keeps_the_projects_keys(tpl, trn_home):
    from trn.config.project import find
    from trn.provenance.rerun import rerun_config

    project = find()
    config = load(["devices=cpu"], project=project)
    rerun = rerun_config(config, ["paths.data_dir=other/"], "j1", project=project)
    assert rerun.config["paths"]["data_dir"] == "other/"
    with pytest.raises(ConfigError, match="extras, paths, tags, task_name: unknown key"):
        rerun_config(config, [], "j1")  # without the project, its keys are unknown to trn


# -- bad input: one line naming the key or file and the fix, exit 2, nothing on disk -------------
def bad(cli, home: Path, *overrides: str) -> str:
    code, out, err = cli("run", "devices=cpu", *overrides)
    assert code == 2 and out == "", (code, out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not (home / "runs").exists(), "a job dir was made"
    return err


@pytest.mark.parametrize(
    "overrides, says",
    [
        (
            ["callbacks=[early_stopping,lr_monitr]"],
            "callbacks=lr_monitr: no such option in group 'callbacks' (did you mean lr_monitor?); "
            "available: default, "
            "early_stopping, epoch_marker, lr_monitor, none",
        ),
        (
            ["trainer.log_every_n_steps=often"],
            'trainer.log_every_n_steps="often": lightning.Trainer takes log_every_n_steps as '
            "an integer or null; give an integer or null",
        ),
        (
            ["trainer.check_val_every_n_epochs=2"],
            "trainer.check_val_every_n_epochs: lightning.Trainer has no argument "
            "'check_val_every_n_epochs' (did you mean trainer.check_val_every_n_epoch?)",
        ),
        (
            ["trainer.accelerator=gpu"],
            "trainer.accelerator: trn sets this Trainer argument; set devices=cpu|gpu|auto",
        ),
        (
            ["+trainer.callbacks=[]"],
            "trainer.callbacks: trn sets this Trainer argument; use the callbacks group",
        ),
        (
            ["data.data_dir=${paths.nope}"],
            "data.data_dir: interpolates ${paths.nope}, which is not in the config; set "
            "paths.nope=VALUE or fix the interpolation",
        ),
        (
            ["name=${trn:job_name}"],
            "name: ${trn:job_name}: trn has no such value; use ${trn:project_root}, "
            "${trn:job_dir} or ${trn:job_id}",
        ),
        (
            ["name=${hydra:job.name}"],
            "name: ${hydra:job.name}: trn composes without Hydra's runtime",
        ),
        (
            ["model.lr=abc"],
            'model.lr="abc": src.models.blobs_module.BlobsLitModule takes lr as a number; '
            "give a number",
        ),
        (
            ["+model.dropout=0.1"],
            "model.dropout: src.models.blobs_module.BlobsLitModule takes no argument "
            "'dropout'; remove it (it takes: net, lr, out_dir)",
        ),
        (
            ["model.net.hiden=8"],
            "model.net.hiden: no key 'hiden' in model.net",
        ),
        (
            ["+model.net.hiden=8"],
            "model.net.hiden: src.models.components.dense.DenseNet takes no argument 'hiden' "
            "(did you mean hidden?)",
        ),
        (
            ["~model.net"],
            "model.net is required by src.models.blobs_module.BlobsLitModule (it has no "
            "default); set model.net=VALUE",
        ),
        (
            ["model.net._target_=src.models.components.dense.DenseNe"],
            "model.net._target_=src.models.components.dense.DenseNe: module "
            "src.models.components.dense has no 'DenseNe' (did you mean DenseNet?)",
        ),
        (
            ["+callbacks.ckpt._target_=lightning.pytorch.callbacks.ModelCheckpoint"],
            "callbacks.ckpt=lightning.pytorch.callbacks.ModelCheckpoint: a ModelCheckpoint is "
            "not for trn; trn writes the job's checkpoints itself",
        ),
        (
            ["+callbacks.bar._target_=lightning.pytorch.callbacks.RichProgressBar"],
            "callbacks.bar=lightning.pytorch.callbacks.RichProgressBar: a ProgressBar is not "
            "for trn; trn shows the progress itself",
        ),
        (["+tag=x"], "tag: unknown key; remove it"),
    ],
)
def test_bad_input_is_one_line_and_no_job(tpl, cli, trn_home, overrides, says):
    assert says in bad(cli, trn_home, *overrides)


def test_an_experiment_that_sets_an_unknown_trn_key(tpl, cli, trn_home):
    (tpl / "configs" / "experiment" / "typo.yaml").write_text(
        "# @package _global_\ncheckpoint:\n  every_n_epoch: 2\ntrainer:\n  max_epoch: 3\n"
    )
    err = bad(cli, trn_home, "experiment=typo")
    assert (
        "checkpoint.every_n_epoch: unknown key (did you mean checkpoint.every_n_epochs?); "
        "remove it (known keys of checkpoint:"
    ) in err
    assert "trainer.max_epoch: lightning.Trainer has no argument 'max_epoch' (did you mean " in err


def test_a_user_modelcheckpoint_subclass_is_refused_too(tpl, cli, trn_home):
    (tpl / "src" / "ckpt.py").write_text(
        "from lightning.pytorch.callbacks import ModelCheckpoint\n\n\n"
        "class Every(ModelCheckpoint):\n    pass\n"
    )
    err = bad(cli, trn_home, "+callbacks.mine._target_=src.ckpt.Every")
    assert "callbacks.mine=src.ckpt.Every: a ModelCheckpoint is not for trn" in err
    assert "checkpoint.every_n_epochs" in err and "objective.metric" in err


def test_project_root_without_a_project(cli, trn_home, tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    err = bad(cli, trn_home, "name=${trn:project_root}")
    assert "${trn:project_root}: no project found" in err and "--config-dir" in err


def test_a_resume_and_a_rerun_take_any_trainer_argument(trn_home):
    from trn.lifecycle.resume import apply_overrides
    from trn.provenance.rerun import rerun_config

    config = load(["devices=cpu"])
    resumed = apply_overrides(config, ["trainer.log_every_n_steps=3", "trainer.max_epochs=30"])
    assert resumed["trainer"]["log_every_n_steps"] == 3 and resumed["trainer"]["max_epochs"] == 30
    rerun = rerun_config(config, ["trainer.num_sanity_val_steps=0"], "j1")
    assert rerun.config["trainer"]["num_sanity_val_steps"] == 0
    assert rerun.overrides == ["trainer.num_sanity_val_steps=0"]  # as the user wrote it


def test_every_trainer_argument_the_runner_passes_is_refused_under_trainer():
    """A key both trn and the config passed would fail the job at its start (a keyword given
    twice); each one is refused at plan time instead, naming what to set."""
    import ast

    import trn.runner.main as runner
    from trn.config.arguments import TRN_OWNED
    from trn.devices import Allocation

    passed = set(runner.QUIET_TRAINER) | set(Allocation(accelerator="cpu").trainer_kwargs())
    tree = ast.parse(Path(runner.__file__).read_text())
    calls = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "attr", None) == "Trainer"
    ]
    assert calls, "the runner builds its Trainer elsewhere now: point this test there"
    passed |= {k.arg for call in calls for k in call.keywords if k.arg}  # its own keywords
    assert passed <= set(TRN_OWNED), passed - set(TRN_OWNED)
