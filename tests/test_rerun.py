"""The pure half of `trn rerun`: the new config from a job's resolved one, and the code check."""

from __future__ import annotations

import pytest
from conftest import FAST

from trn.errors import UsageError
from trn.provenance.flat import flatten
from trn.provenance.rerun import check_drift, code_drift, rerun_config


@pytest.fixture(scope="module")
def resolved():
    from trn.config.validate import load

    return load(FAST)


def test_a_rerun_equals_the_original_but_for_the_given_overrides(resolved):
    rerun = rerun_config(
        resolved, ["optimizer.lr=0.05", "trainer.max_epochs=2", "name=again"], "j1"
    )
    before, after = flatten(resolved), flatten(rerun.config)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed == {"optimizer.lr", "trainer.max_epochs", "name"}
    assert after["optimizer.lr"] == 0.05 and after["name"] == "again"
    assert rerun.rerun_of == "j1" and rerun.overrides[0] == "optimizer.lr=0.05"
    assert resolved["optimizer"]["lr"] != 0.05  # the job's own config is left alone
    edited = rerun_config(
        resolved, ["~trainer.precision", "+trainer.extra=1"], "j1", validate=False
    )
    assert "precision" not in edited.config["trainer"] and edited.config["trainer"]["extra"] == 1


@pytest.mark.parametrize(
    "override, message",
    [
        ("optimizer=sgd", "optimizer is a config group"),
        ("nope.key=1", "has no nope.key; write +nope.key=1 to add it"),
        ("+seed=3", "seed is already set; write seed=3"),
        ("optimizer.lr=0.1,0.2", "a rerun is one job"),
        ("optimizer.lr=[", "optimizer.lr=[:"),
        ("~nope", "no nope to delete"),
        ("optimizer.lr=-1", "optimizer.lr"),  # the schema still applies
    ],
)
def test_bad_overrides_are_usage_errors(resolved, override, message):
    with pytest.raises(UsageError) as err:
        rerun_config(resolved, [override], "j1")
    assert message in str(err.value) and "\n" not in str(err.value)


CLEAN = {"commit": "a" * 40, "dirty": False, "patch_sha256": None}


@pytest.mark.parametrize(
    "now, words",
    [
        ({**CLEAN, "commit": "b" * 40}, "commit aaaaaaaaaaaa -> bbbbbbbbbbbb"),
        ({**CLEAN, "dirty": True, "patch_sha256": "1" * 64}, "uncommitted changes now, none then"),
    ],
)
def test_code_drift_is_one_line_and_strict_refuses(now, words):
    line = code_drift("j1", CLEAN, now)
    assert line and words in line and "\n" not in line
    assert check_drift("j1", CLEAN, now, strict=False) == line
    with pytest.raises(UsageError, match="--strict"):
        check_drift("j1", CLEAN, now, strict=True)


def test_a_different_patch_drifts_and_the_same_code_does_not():
    then = {**CLEAN, "dirty": True, "patch_sha256": "1" * 64}
    assert "other uncommitted changes" in code_drift("j1", then, {**then, "patch_sha256": "2" * 64})
    assert "are not here" in code_drift("j1", then, CLEAN)
    assert code_drift("j1", then, dict(then)) is None
    assert code_drift("j1", CLEAN, dict(CLEAN)) is None
    assert code_drift("j1", None, CLEAN) is None  # nothing recorded then: nothing to compare
    assert check_drift("j1", CLEAN, {"error": "git timed out"}, strict=True) is None
