"""A user's project's configs: found by pyproject, --config-dir or TRN_CONFIG_DIR, searched
before trn's conf/, trusted once, and the same for every command that composes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from project_files import LR, PACKAGE, make_project

from trn.cli.complete import candidates
from trn.config.compose import compose
from trn.config.project import ENV, find, for_resume, from_record
from trn.errors import ConfigError, UsageError
from trn.paths import conf_dir
from trn.registry.record import JobRecord


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """The project, outside the repo; the test starts in an unrelated directory."""
    monkeypatch.delenv(ENV, raising=False)
    root = make_project(tmp_path / "proj")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return root


def test_pyproject_is_found_walking_up_and_a_plain_pyproject_does_not_stop_the_walk(
    project, monkeypatch
):
    inner = project / "sub" / "pkg"
    inner.mkdir(parents=True)
    (project / "sub" / "pyproject.toml").write_text('[project]\nname = "other"\n')
    monkeypatch.chdir(inner)
    found = find()
    assert found.root == project and found.config_dir == project / "conf"
    assert found.allow_targets == (f"{PACKAGE}.",)
    assert found.pyproject == project / "pyproject.toml"
    assert found.env()["PYTHONPATH"].split(os.pathsep)[0] == str(project)
    assert found.to_record() == {"config_dir": str(project / "conf"), "project_root": str(project)}


def test_no_project_outside_one_and_the_search_path_is_trns_alone(project):
    found = find()
    assert found.root is None and found.config_dir is None and found.env() == {}
    assert compose([]).optimizer.lr == 0.003
    with pytest.raises(UsageError, match="model=wide: no such option in group 'model'"):
        compose(["model=wide"])


def test_the_flag_beats_the_variable_which_beats_the_pyproject(project, tmp_path, monkeypatch):
    other = make_project(tmp_path / "other", pyproject='[project]\nname = "other"\n')
    monkeypatch.chdir(project)
    assert find().source.endswith("[tool.trn]")
    monkeypatch.setenv(ENV, str(other / "conf"))
    env_found = find()
    assert env_found.config_dir == other / "conf" and env_found.source == ENV
    assert env_found.root == other  # no [tool.trn] above it: the config dir's parent
    assert env_found.allow_targets == ()
    flag_found = find(project / "conf")
    assert flag_found.config_dir == project / "conf" and flag_found.source == "--config-dir"
    assert flag_found.allow_targets == (f"{PACKAGE}.",)  # from the pyproject above the dir


def test_the_project_adds_options_and_replaces_trns_of_the_same_name(project, monkeypatch):
    monkeypatch.chdir(project)
    cfg = compose(["model=wide"])
    assert cfg.model._target_ == f"{PACKAGE}.models.WideNet"
    assert cfg.optimizer.lr == LR  # the project's adamw.yaml shadows trn's
    assert compose(["optimizer=sgd"]).optimizer._target_ == "torch.optim.SGD"  # trn's still there
    assert compose(["model=mlp"]).model._target_ == "trn.models.MLP"


def test_a_partial_config_yaml_is_laid_over_trns(project, monkeypatch):
    monkeypatch.chdir(project)
    (project / "conf" / "config.yaml").write_text(
        "defaults:\n  - model: wide\n  - scheduler: cosine\ntrainer:\n  max_epochs: 5\nname: mine\n"
    )
    cfg = compose([])
    assert cfg.model._target_ == f"{PACKAGE}.models.WideNet" and cfg.scheduler.name == "cosine"
    assert cfg.trainer.max_epochs == 5 and cfg.name == "mine"  # its values win over profiles
    assert cfg.trainer.deterministic == "warn" and cfg.seed == 0  # the rest is trn's
    assert compose(["trainer.max_epochs=7"]).trainer.max_epochs == 7  # overrides still win
    assert compose(["model=mlp"]).model._target_ == "trn.models.MLP"
    # `_self_` first: its values come before trn's groups, so profile=prod's 20 epochs win
    (project / "conf" / "config.yaml").write_text(
        "defaults:\n  - _self_\n  - model: wide\ntrainer:\n  max_epochs: 5\n"
    )
    assert compose([]).trainer.max_epochs == 20


def test_trust_is_declared_once_and_a_refusal_names_the_line_to_add(project, cli, monkeypatch):
    monkeypatch.chdir(project)
    from trn.config.validate import load

    assert load(["model=wide"])["allow_targets"] == [f"{PACKAGE}."]
    (project / "pyproject.toml").write_text('[tool.trn]\nconfig_dir = "conf"\n')
    with pytest.raises(ConfigError) as err:
        load(["model=wide"])
    assert (
        f'add allow_targets = ["{PACKAGE}."] to [tool.trn] in {project / "pyproject.toml"}'
        in str(err.value)
    )
    # allow_targets: in the project's own config.yaml counts as declared too
    (project / "conf" / "config.yaml").write_text(f"allow_targets: [{PACKAGE}.]\n")
    assert load(["model=wide"])["allow_targets"] == [f"{PACKAGE}."]
    assert find().allow_targets == (f"{PACKAGE}.",)


def test_the_record_finds_the_project_again_from_any_directory(project, monkeypatch):
    monkeypatch.chdir(project)
    record = JobRecord("j", "/d", project=find().to_record())
    monkeypatch.chdir("/")
    again = from_record(record)
    assert again.root == project and again.config_dir == project / "conf"
    assert again.allow_targets == (f"{PACKAGE}.",)  # read afresh from the project's files
    assert for_resume(record) == again
    old = JobRecord.from_dict({"job_id": "old", "job_dir": "/d"})  # from before projects
    assert for_resume(old) == find()  # the cwd's
    code_only = JobRecord("k", "/d", project={"config_dir": None, "project_root": str(project)})
    assert from_record(code_only).root == project
    gone = JobRecord("g", "/d", project={"config_dir": None, "project_root": "/nonexistent/x"})
    with pytest.raises(UsageError, match="project root /nonexistent/x is gone"):
        from_record(gone)


def test_every_inspection_sees_the_projects_options(project, cli, trn_home, capsys):
    cd = str(project / "conf")
    code, out, err = cli("run", "-cd", cd, "--cfg", "job", "model=wide")
    assert code == 0, err
    assert yaml.safe_load(out)["model"]["_target_"] == f"{PACKAGE}.models.WideNet"
    code, out, err = cli("run", "--config-dir", cd, "--info", "searchpath")
    assert code == 0, err
    lines = [ln for ln in out.splitlines() if "://" in ln]
    assert "project" in lines[1] and cd in lines[1]  # right after Hydra's own, before trn's
    assert str(conf_dir()) in lines[2]
    code, out, err = cli("run", "-cd", cd, "--dry-run", "--json", "model=wide", "devices=cpu")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["config"]["optimizer"]["lr"] == LR
    assert plan["project"]["project_root"] == str(project)
    assert plan["project"]["env"]["PYTHONPATH"].split(os.pathsep)[0] == str(project)
    code, out, err = cli("doctor", "-cd", cd, "--json", "model=wide", "devices=cpu")
    assert code == 0 and json.loads(out)["ok"], err
    assert ENV not in os.environ  # the flag held for its command only


def test_config_where_shows_the_search_path_and_each_options_file(project, cli, monkeypatch):
    monkeypatch.chdir(project / PACKAGE)
    code, out, err = cli("config", "where", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert [e["provider"] for e in info["search_path"]] == ["project", "trn"]
    assert info["project_root"] == str(project) and info["allow_targets"] == [f"{PACKAGE}."]
    wide, adamw = info["groups"]["model"]["wide"], info["groups"]["optimizer"]["adamw"]
    assert wide["provider"] == "project" and wide["file"] == str(project / "conf/model/wide.yaml")
    assert adamw["provider"] == "project" and adamw["default"]
    assert adamw["shadows"] == [str(conf_dir() / "optimizer" / "adamw.yaml")]
    assert info["groups"]["model"]["mlp"]["provider"] == "trn"
    assert info["found_by"] == f"{project / 'pyproject.toml'} [tool.trn]"
    code, out, _ = cli("config", "where")
    assert code == 0 and "project  " + str(project / "conf") in out and "(shadows " in out
    code, out, _ = cli("config", "where", "--json", "-cd", str(project / "conf"))
    assert code == 0 and json.loads(out)["found_by"] == "--config-dir"


def test_completion_offers_the_projects_options(project, monkeypatch):
    assert candidates("trn run model=") == ["model=mlp"]
    cd = str(project / "conf")
    assert candidates(f"trn run -cd {cd} model=") == ["model=mlp", "model=wide"]
    monkeypatch.chdir(project)
    assert candidates("trn run model=w") == ["model=wide"]
    assert "optimizer.lr=" in candidates("trn run optimizer.")
    assert candidates("trn run -cd /nonexistent model=") == []  # no error while completing


# -- bad input: one line naming the file or key and the fix, exit 2, nothing on disk --------------
def bad(cli, *argv: str) -> str:
    code, out, err = cli(*argv)
    assert code == 2 and out == "", (code, out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_config_dir_that_is_missing_or_holds_no_yaml(project, cli, trn_home, tmp_path):
    err = bad(cli, "run", "--config-dir", str(tmp_path / "nope"), "profile=dev")
    assert f"--config-dir {tmp_path / 'nope'}: no such directory" in err
    (tmp_path / "empty" / "model").mkdir(parents=True)
    (tmp_path / "empty" / "model" / "notes.txt").write_text("x")
    err = bad(cli, "run", "-cd", str(tmp_path / "empty"), "--dry-run")
    assert "no .yaml files in" in err and str(tmp_path / "empty") in err
    os.environ[ENV] = str(tmp_path / "nope")
    try:
        err = bad(cli, "run", "--dry-run")
    finally:
        del os.environ[ENV]
    assert f"{ENV}={tmp_path / 'nope'}: no such directory" in err
    assert not trn_home.exists()


@pytest.mark.parametrize(
    "table, expected",
    [
        (
            'config_dir = "conf"\nallow_target = ["x."]',
            "[tool.trn] has no key 'allow_target' (did you mean allow_targets?)",
        ),
        ("config_dir = 3", "[tool.trn] config_dir must be a string"),
        (
            'allow_targets = "projnet."',
            "allow_targets must be a list of strings (_target_ prefixes); e.g.",
        ),
        ('config_dir = "confs"', '[tool.trn] config_dir = "confs": no such directory'),
        ('config_dir = "conf', "is not valid TOML"),
    ],
)
def test_a_bad_tool_trn_table(project, cli, trn_home, monkeypatch, table, expected):
    (project / "pyproject.toml").write_text(f"[tool.trn]\n{table}\n")
    monkeypatch.chdir(project)
    err = bad(cli, "run", "profile=dev")
    assert expected in err and str(project / "pyproject.toml") in err
    assert not trn_home.exists()


def test_a_target_whose_module_cannot_be_imported(project, cli, trn_home, monkeypatch):
    monkeypatch.chdir(project)
    (project / "conf" / "model" / "typo.yaml").write_text(f"_target_: {PACKAGE}.modles.WideNet\n")
    err = bad(cli, "run", "model=typo", "devices=cpu")
    assert f"cannot import module '{PACKAGE}.modles'" in err
    assert f"the project root {project} is on the job's path" in err
    (project / "conf" / "model" / "gone.yaml").write_text("_target_: nopkg_xyz.Net\n")
    (project / "pyproject.toml").write_text(
        '[tool.trn]\nconfig_dir = "conf"\nallow_targets = ["nopkg_xyz."]\n'
    )
    err = bad(cli, "run", "model=gone", "devices=cpu")
    assert "cannot import module 'nopkg_xyz'" in err
    # without a project nothing puts its root on the path: the error says so
    monkeypatch.chdir(project.parent / "elsewhere")
    err = bad(cli, "run", "model._target_=nopkg_xyz.Net", "allow_targets=[nopkg_xyz.]")
    assert "no project root is on the job's path" in err and "--config-dir" in err
    assert not trn_home.exists()


def test_a_broken_file_shadowing_a_bundled_option(project, cli, trn_home, monkeypatch):
    monkeypatch.chdir(project)
    broken = project / "conf" / "optimizer" / "adamw.yaml"
    broken.write_text("_target_: torch.optim.AdamW\nlr: [0.1,\n")
    err = bad(cli, "run", "--dry-run")
    assert f"{broken} line 3: not valid YAML" in err and "fix the file" in err
    (project / "conf" / "config.yaml").write_text("defaults: [\n")
    err = bad(cli, "run", "--dry-run", "optimizer=sgd")
    assert str(project / "conf" / "config.yaml") in err and "not valid YAML" in err
    err = bad(cli, "config", "where")  # reads the same file without Hydra: the same line
    assert str(project / "conf" / "config.yaml") in err and "not valid YAML" in err
    assert not trn_home.exists()


def test_the_python_api_flag_plans_with_the_project(project, trn_home):
    from trn.config.flags import Flags
    from trn.lifecycle.planning import plan_with_flags

    plan = plan_with_flags(Flags(config_dir=str(project / "conf")), ["model=wide", "devices=cpu"])
    assert plan.config["optimizer"]["lr"] == LR and plan.config["allow_targets"] == [f"{PACKAGE}."]
    assert plan.project == {"config_dir": str(project / "conf"), "project_root": str(project)}
    assert plan.env["PYTHONPATH"].split(os.pathsep)[0] == str(project)
    assert ENV not in os.environ


def test_config_where_reads_files_only(project):
    import subprocess
    import sys

    code = (
        "import sys; from trn.cli.main import main; "
        f"assert main(['config', 'where', '-cd', {str(project / 'conf')!r}]) == 0; "
        "heavy = [m for m in ('torch', 'lightning', 'hydra') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "project  " + str(project / "conf") in proc.stdout


def test_a_config_dir_with_no_group_is_refused(project, cli, trn_home):
    err = bad(cli, "run", "--config-dir", str(project / "conf" / "model"), "--dry-run")
    assert f"--config-dir {project / 'conf' / 'model'}: no config group in" in err
    assert f"e.g. --config-dir {project / 'conf'}" in err


def test_a_conf_dir_that_is_not_searched_is_named(tmp_path, cli, trn_home, monkeypatch):
    """A ./conf without [tool.trn]: trn's own model would train without a word."""
    monkeypatch.delenv(ENV, raising=False)
    make_project(tmp_path / "loose", pyproject='[project]\nname = "loose"\n')
    monkeypatch.chdir(tmp_path / "loose")
    code, out, err = cli("run", "--dry-run", "--json", "devices=cpu")
    assert code == 0 and json.loads(out)["config"]["model"]["_target_"] == "trn.models.MLP"
    conf = tmp_path / "loose" / "conf"
    assert err.strip() == (
        f"trn: warning: {conf} is not searched: pass --config-dir {conf}, or add [tool.trn] to "
        f"{conf.parent / 'pyproject.toml'} (`trn init --here` writes it); trn's own configs "
        "are used"
    )
    err = bad(cli, "run", "model=wide", "devices=cpu")
    assert "model=wide: no such option in group 'model'; available: mlp" in err
    assert f"({conf / 'model' / 'wide.yaml'} exists, but {conf} is not searched" in err
    trust = f"allow_targets=[{PACKAGE}.]"
    code, _, err = cli("run", "--dry-run", "-cd", str(conf), "model=wide", trust, "devices=cpu")
    assert code == 0 and err == ""  # searched now: no warning


@pytest.mark.parametrize(
    "line, says",
    [
        ("  - dat: wide", "line 3: dat=wide: no config group 'dat' (did you mean data?)"),
        (
            "  - model: wdie",
            "line 3: model=wdie: no such option in group 'model' (did you mean wide?); "
            "available: mlp, wide",
        ),
        (
            "  - override /model: wdie",
            "line 3: model=wdie: no such option in group 'model' (did you mean wide?)",
        ),
    ],
)
def test_a_typo_in_the_projects_defaults_names_its_file_and_line(
    project, cli, trn_home, monkeypatch, line, says
):
    config = project / "conf" / "config.yaml"
    config.write_text(f"defaults:\n  - _self_\n{line}\n\nseed: 3\n")
    monkeypatch.chdir(project)
    err = bad(cli, "run", "--dry-run")
    assert f"{config} {says}" in err
    assert not trn_home.exists()


def test_a_typo_on_the_command_line_names_no_file(project, cli, trn_home, monkeypatch):
    (project / "conf" / "config.yaml").write_text("defaults:\n  - _self_\n  - model: wide\n")
    monkeypatch.chdir(project)
    err = bad(cli, "run", "model=wdie", "--dry-run")
    assert err.startswith("trn run: error: model=wdie: no such option in group 'model' (did")
