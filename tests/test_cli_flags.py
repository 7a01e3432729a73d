"""`trn run`'s plan flags (--config/--weights/--profile/--devices/--log-dir/--event-log) as Hydra
overrides: each mapping, each conflict, the --config file, and the example config end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, run_trn

import trn.devices
from trn.config.file import file_overrides, quote
from trn.config.flags import Flags, resolve
from trn.errors import UsageError

EXAMPLE = ROOT / "examples" / "sample_train.json"


def test_profile_weights_event_log_and_log_dir_map_onto_the_config(tmp_path):
    weights = tmp_path / "init.ckpt"
    weights.write_bytes(b"x")
    given = Flags(
        profile="prod",
        weights=str(weights),
        devices="cpu",
        event_log=str(tmp_path / "ev.jsonl"),
        log_dir=str(tmp_path / "logs"),
    )
    got = resolve(given, ["optimizer.lr=0.01"])
    assert got.overrides == [
        "profile=prod",
        f"weights='{weights}'",
        "devices=cpu",
        f"events.file='{tmp_path / 'ev.jsonl'}'",
        "optimizer.lr=0.01",
    ]
    assert got.home == tmp_path / "logs"


@pytest.mark.skipif(
    not hasattr(trn.devices, "parse_devices_flag"), reason="trn.devices has no GPU-list parser yet"
)
def test_devices_list_maps_to_gpu_ids():
    got = resolve(Flags(devices="cuda:0,cuda:1"), []).overrides
    assert got[0] == "devices=gpu" and got[1].startswith("devices.ids=") and "0,1" in got[1]


@pytest.mark.parametrize(
    "given, override, message",
    [
        (
            Flags(profile="prod"),
            "profile=dev",
            "--profile prod conflicts with override profile=dev",
        ),
        (
            Flags(devices="cpu"),
            "devices=auto",
            "--devices cpu conflicts with override devices=auto",
        ),
        (
            Flags(event_log="e.jsonl"),
            "events.file=x",
            "--event-log e.jsonl conflicts with override",
        ),
        (Flags(profile="dev"), "+profile=prod", "--profile dev conflicts with override +profile="),
    ],
)
def test_a_flag_and_an_override_on_the_same_key_is_an_error_naming_both(given, override, message):
    with pytest.raises(UsageError) as err:
        resolve(given, [override])
    assert message in str(err.value) and str(err.value).endswith("keep one")


def test_a_flag_and_an_override_on_different_keys_mix(tmp_path):
    got = resolve(Flags(devices="cpu", profile="dev"), ["devices.processes=2"]).overrides
    assert got == ["profile=dev", "devices=cpu", "devices.processes=2"]


def test_missing_weights_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="--weights nope.ckpt: no such file"):
        resolve(Flags(weights="nope.ckpt"), [])


def test_config_file_selects_groups_and_sets_leaves(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "defaults: [{scheduler: cosine}]\noptimizer: sgd\n"
        'trainer: {max_epochs: 3, gradient_clip_val: null}\nname: "it\'s 3"\nmodel: {hidden: [8, 4]}\n'
    )
    assert file_overrides(path) == [
        "scheduler=cosine",
        "optimizer=sgd",
        "trainer.max_epochs=3",
        "trainer.gradient_clip_val=null",
        "name='it\\'s 3'",
        "model.hidden=[8,4]",
    ]


def test_the_command_line_wins_over_the_config_file(tmp_path):
    got = resolve(Flags(config=str(EXAMPLE), profile="prod"), ["trainer.max_epochs=5"])
    assert "trainer.max_epochs=2" not in got.overrides and "profile=dev" not in got.overrides
    assert got.overrides[-2:] == ["profile=prod", "trainer.max_epochs=5"]
    assert "data.path='sample'" in got.overrides


@pytest.mark.parametrize(
    "text", ["plain", "it's", "a\\b", "ends\\", "q\\'x", "${seed}", "3", " sp "]
)
def test_quoted_strings_survive_hydras_parser(text):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides([f"k={quote(text)}"])[0]
    assert parsed.value() == text


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.json", None, "--config {path}: no such file"),
        ("bad.json", "{not json", "--config {path} is not valid JSON"),
        ("list.yaml", "- 1\n- 2\n", "--config {path}: the file must hold a mapping"),
    ],
)
def test_bad_config_files_are_one_line_usage_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError) as err:
        resolve(Flags(config=str(path)), [])
    assert message.format(path=path) in str(err.value) and "\n" not in str(err.value)


def test_unknown_key_in_config_file_names_the_key_and_the_file(trn_home, tmp_path, cli):
    path = tmp_path / "typo.json"
    path.write_text(json.dumps({"trainer": {"max_epochz": 3}}))
    code, out, err = cli("run", "--dry-run", "--config", str(path))
    assert code == 2 and "trainer.max_epochz: lightning.Trainer has no argument" in err
    assert "(did you mean trainer.max_epochs?)" in err
    assert f"(from --config {path})" in err and len(err.strip().splitlines()) == 1
    assert not (trn_home / "runs").exists()


def test_a_bad_flag_value_names_the_flag(trn_home, cli):
    code, _, err = cli("run", "--dry-run", "--profile", "fast")
    assert code == 2 and "profile=fast: no such option" in err and "(from --profile fast)" in err


def test_example_config_composes_with_flags_over_it(trn_home, cli):
    code, out, err = cli("run", "--dry-run", "--json", "--config", str(EXAMPLE), "--devices", "cpu")
    assert code == 0, err
    config = json.loads(out)["config"]
    assert config["name"] == "sample-train" and config["data"]["path"] == "sample"
    assert config["trainer"]["max_epochs"] == 2 and config["trainer"]["limit_train_batches"] == 8
    assert not (trn_home / "runs").exists()


@pytest.mark.slow
def test_example_config_runs_as_the_plan_says(trn_home, tmp_path):
    # from any directory: the example names the bundled dataset, not a path under the checkout
    proc = run_trn("run", "--json", "--config", str(EXAMPLE), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["state"] == "completed" and record["name"] == "sample-train"
    assert Path(record["job_dir"]).is_relative_to(trn_home)
    assert "data.path='sample'" in record["overrides"]  # the record says what ran
