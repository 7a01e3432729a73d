"""Composition and validation: every shipped config composes; bad input is one clear problem."""

from __future__ import annotations

import pytest

from trn.config.validate import load
from trn.errors import ConfigError, UsageError
from trn.paths import conf_dir


def shipped_options() -> list[str]:
    """Every `group=option` under conf/ (one test composes each)."""
    out = []
    for group in sorted(p for p in conf_dir().iterdir() if p.is_dir()):
        out += [f"{group.name}={f.stem}" for f in sorted(group.glob("*.yaml"))]
    return out


@pytest.mark.parametrize("override", shipped_options())
def test_every_shipped_config_composes_and_validates(override):
    config = load([override])
    group, option = override.split("=")
    # composed, resolved, valid (profile sets other keys; callbacks=none adds none)
    assert override in ("callbacks=none",) or group in ("profile",) or config[group]


def test_every_yaml_opens_with_the_command_that_uses_it():
    for path in conf_dir().rglob("*.yaml"):
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
        first = lines[1] if lines[0].startswith("# @package") else lines[0]
        assert first.startswith("# trn run"), path


def test_profiles_set_the_trainer():
    assert (
        load(["profile=dev"])["trainer"]["max_epochs"]
        < load(["profile=prod"])["trainer"]["max_epochs"]
    )
    assert load(["profile=prod"])["trainer"]["deterministic"] == "warn"


def test_overrides_apply_and_interpolations_resolve():
    config = load(["optimizer=sgd", "optimizer.lr=0.5", "seed=7"])
    assert config["optimizer"]["_target_"] == "torch.optim.SGD"
    assert config["optimizer"]["lr"] == 0.5
    assert config["data"]["seed"] == 7  # ${seed}


def test_unknown_option_names_the_available_ones():
    with pytest.raises(
        UsageError, match=r"model=nope: no such option in group 'model'; available: mlp"
    ):
        load(["model=nope"])


def test_unknown_key_says_how_to_add_it():
    with pytest.raises(
        ConfigError, match=r"optimizer.foo: no key 'foo' in optimizer.*\+optimizer.foo="
    ):
        load(["optimizer.foo=1"])


def test_all_problems_are_reported_at_once_in_override_syntax():
    with pytest.raises(ConfigError) as info:
        load(["optimizer.lr=abc", "trainer.max_epochs=0", "devices.kind=tpu"])
    problems = info.value.problems
    assert len(problems) == 3
    assert any(p.startswith('optimizer.lr="abc" is not a number') for p in problems)
    assert any(
        p.startswith("trainer.max_epochs=0 is out of range; set trainer.max_epochs >= 1")
        for p in problems
    )
    assert any(p.startswith('devices.kind="tpu" is not one of') for p in problems)
    assert info.value.code == 2


@pytest.mark.parametrize(
    "override, problem",
    [
        ("trainer.max_epochs=1.5", "trainer.max_epochs=1.5 is not an integer; set trainer."),
        ("events.redis.url=localhost:6379", "must match ^(redis|rediss|unix)://); use redis://"),
        ("model._target_=a-b", "has the wrong form (it must match ^[A-Za-z_]"),
        ("objective.metric=''", "objective.metric is empty; set objective.metric to a non-empty"),
        ("name=" + "x" * 101, "is too long; use at most 100 characters"),
    ],
)
def test_each_kind_of_problem_names_its_fix(override, problem):
    with pytest.raises(ConfigError) as info:
        load([override])
    assert problem in info.value.problems[0], info.value.problems


def test_missing_value_is_named():
    with pytest.raises(ConfigError, match=r"data.path has no value; set data.path=VALUE"):
        load(["data.path=???"])


def test_added_unknown_top_level_key_is_refused():
    with pytest.raises(ConfigError, match=r"foo: unknown key"):
        load(["+foo=1"])


def test_bad_override_syntax():
    with pytest.raises(UsageError, match=r"override 'x==' is not valid Hydra syntax"):
        load(["x=="])


def test_targets_outside_the_allowlist_are_refused_unless_allowed():
    with pytest.raises(
        ConfigError, match=r"model._target_=os.system is not in the instantiate allowlist"
    ):
        load(["model._target_=os.system"])
    config = load(["model._target_=mypkg.Net", "allow_targets=[mypkg.]"])
    assert config["model"]["_target_"] == "mypkg.Net"


@pytest.mark.parametrize(
    "override, says",
    [
        # the unknown part is named, wherever it stands, with the nearest known key or group
        ("traner.max_epochs=3", "traner.max_epochs: no key 'traner' (did you mean trainer?)"),
        ("dat=sample", "dat: no key 'dat' (did you mean data?)"),
        (
            "optimizer.lrr=0.1",
            "optimizer.lrr: no key 'lrr' in optimizer (did you mean optimizer.lr?)",
        ),
        ("model.hiden=3", "model.hiden: no key 'hiden' in model (did you mean model.hidden?)"),
        ("optimizer.lr.x=1", "optimizer.lr is a value, not a group of keys; set optimizer.lr="),
        ("zzz=1", "zzz: no key 'zzz'; check the spelling"),
        ("model=mpl", "model=mpl: no such option in group 'model' (did you mean mlp?)"),
        ("trainer.max_epoch=3", "(did you mean trainer.max_epochs?)"),
    ],
)
def test_an_unknown_name_is_named_with_the_nearest_known_one(override, says):
    with pytest.raises((ConfigError, UsageError)) as caught:
        load([override])
    assert says in str(caught.value)


def test_an_unknown_key_the_schema_refuses_suggests_the_known_one():
    with pytest.raises(ConfigError, match=r"checkpoint.evry_n_steps: unknown key \(did you mean "):
        load(["+checkpoint.evry_n_steps=5"])
