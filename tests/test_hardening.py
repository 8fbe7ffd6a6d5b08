"""Hardening of what mechdsl reads and writes (issue: no code execution from run files,
no tracebacks, truthful messages): each defect found by fuzzing and abuse has its test."""
from __future__ import annotations

import json
import pickle
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mechdsl.compiler.errors import MechSemanticError, MechUsageError
from mechdsl.cli import main
from mechdsl.config import TrainConfig
from mechdsl.runs import RunDir, load_tensors, plot_curves

ROOT = Path(__file__).resolve().parent.parent
ESCAPE = str(ROOT / "specs" / "paper" / "escape.mech")
FAST = ["--steps", "20000", "-O", "episodes=16"]  # a few iterations: enough to write every run file


def run(args):
    res = CliRunner().invoke(main, args)
    assert "Traceback" not in res.output
    return res


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "escape"
    res = run(["train", ESCAPE, "--out", str(out), "--json", *FAST])
    assert res.exit_code == 0, res.output
    return out


class Exploit:
    """Unpickling this would run code: a file we read must never do that."""

    def __reduce__(self):
        return (Path(self.marker).write_text, ("pwned",))

    marker = ""


def test_run_files_load_without_running_code(trained, tmp_path):
    for name in ("checkpoint.pt", "policy.pt"):  # plain containers of tensors: weights_only loads them
        assert isinstance(torch.load(trained / name, weights_only=True), dict)
    marker = tmp_path / "pwned"
    Exploit.marker = str(marker)
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)  # the whole run directory, tb/ included
    torch.save({"runs": [Exploit()]}, copy / "policy.pt")
    res = run(["eval", str(copy)])
    assert res.exit_code == 2 and "policy.pt" in res.output and "not a mechdsl run file" in res.output
    assert not marker.exists()
    (copy / "checkpoint.pt").write_bytes(pickle.dumps(Exploit()))
    res = run(["train", ESCAPE, "--out", str(copy), "--resume"])
    assert res.exit_code == 2 and "checkpoint.pt" in res.output
    assert not marker.exists()


@pytest.mark.parametrize("name,content,expect", [
    ("config.json", b'{"spec": "x", "sets": {', "byte 23"),
    ("config.json", b'[1, 2]', "expected a JSON object"),
    ("config.json", b'{"spec": "x"}', "missing or malformed"),
    ("ir.json", b'{"nope": 1}', "ir.json"),
    ("policy.pt", b"\x00garbage", "policy.pt"),
])
def test_damaged_run_files_are_named(trained, tmp_path, name, content, expect):
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)  # the whole run directory, tb/ included
    (copy / name).write_bytes(content)
    res = run(["eval", str(copy)])
    assert res.exit_code == 2 and expect in res.output and name in res.output


def test_resume_refuses_another_spec_or_set(trained, tmp_path):
    res = run(["train", ESCAPE, "--out", str(trained), "--resume", "--set", "x=1"])
    assert res.exit_code == 2 and "differs from the run's" in res.output
    other = str(ROOT / "specs" / "paper" / "maintain.mech")
    res = run(["train", other, "--out", str(trained), "--resume"])
    assert res.exit_code == 2 and "not the spec" in res.output and "spec.mech" in res.output


def test_run_directories_are_claimed_atomically(tmp_path):
    got, errors = [], []

    def claim():
        try:
            got.append(RunDir.new(ESCAPE, out=str(tmp_path / "same")).path)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=claim) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(got)) == 64
    numbered = [RunDir.new(ESCAPE, root=str(tmp_path / "n")).path for _ in range(3)]
    assert len(set(numbered)) == 3


def test_latest_run_is_numeric(tmp_path):
    parent = tmp_path / "escape"
    for n in ("run-999", "run-1000", "run-02"):
        (parent / n).mkdir(parents=True)
        (parent / n / "config.json").write_text("{}")
    assert RunDir.latest(ESCAPE, root=str(tmp_path)).path.name == "run-1000"
    assert RunDir.new(ESCAPE, root=str(tmp_path)).path.name == "run-1001"


def test_ctrl_c_before_any_checkpoint_says_so(tmp_path, monkeypatch):
    import mechdsl.train as tr

    def at_once(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(tr, "train", at_once)
    out = tmp_path / "run"
    res = run(["train", ESCAPE, "--out", str(out)])
    assert res.exit_code == 130 and "before the first checkpoint" in res.output
    assert "checkpoint saved" not in res.output and not (out / "checkpoint.pt").exists()


def test_plot_title_with_dollar_signs(tmp_path):
    rows = [{"steps": s, "greedy_reward": 0.5, "normalized": 0.5} for s in (0, 10)]
    assert plot_curves({0: rows}, tmp_path / "c.png", "a$b$$c_$x") is not None


@pytest.mark.parametrize("args,expect", [
    (["-O", "lr=abc"], "lr expects a number"),
    (["-O", "steps=1e999"], "finite"),
    (["--steps", "nan"], "finite"),
    (["-O", "episodes=0"], "between"),
    (["-O", "equilibrium=1e9"], "between"),
    (["-O", "seeds=2.5"], "whole number"),
    (["-O", "episode=8"], "did you mean 'episodes'"),
])
def test_bad_training_options(tmp_path, args, expect):
    res = run(["train", ESCAPE, "--out", str(tmp_path / "r"), *args])
    assert res.exit_code == 2 and expect in res.output


def test_training_block_values_are_checked(tmp_path):
    spec = tmp_path / "s.mech"
    spec.write_text(Path(ESCAPE).read_text() + "\ntraining { episodes = 0 }\n")
    res = run(["train", str(spec), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "training" in res.output and "episodes" in res.output


def test_unwritable_output_is_an_error():
    res = run(["compile", ESCAPE, "-o", "/nonexistent-dir/x.json"])
    assert res.exit_code == 2 and "/nonexistent-dir/x.json" in res.output


def test_env_rejects_bad_arguments():
    from mechdsl import make_env

    with pytest.raises(MechUsageError):
        make_env(ESCAPE, equilibrium="many")
    with pytest.raises(MechUsageError):
        make_env(ESCAPE, render_mode="human")
    env = make_env(ESCAPE)
    with pytest.raises(MechUsageError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    for bad in ("a", 1.5, [0, 1], np.nan, -1, 99):
        with pytest.raises(ValueError):  # MechUsageError is a ValueError, as Gymnasium users expect
            env.step(bad)
    env.step(np.int64(0))


def test_infinite_payoff_is_an_error_not_nan(monkeypatch):
    """Where the compiler cannot walk the game (too large), the evaluator still refuses
    a payoff that is infinite or NaN somewhere."""
    import mechdsl.compiler.build as build
    import mechdsl.compiler.tree as tree
    from mechdsl.compiler import loads
    from mechdsl.evaluate import Policy, Tables, evaluate

    monkeypatch.setattr(tree, "payoff_range", lambda ir, *a, **k: None)
    text = ('agent buyer {\n    type value ~ uniform [1, 2]\n    action bid in range(2)\n}\n'
            'leader {\n    observe bid\n    choose give in {yes, no}\n}\n'
            'utility buyer = if give == yes then value / bid else 0\nobjective = 1\n')
    try:
        ir = build.build_ir(loads(text, "div.mech"))
    except MechSemanticError as e:  # a compiler that checks payoffs itself is as good
        assert "div" in e.render() or e.span is not None
        return
    tb = Tables(ir)
    with pytest.raises(MechSemanticError) as err:
        evaluate(tb, Policy(action=torch.zeros(1, ir.n_infosets, dtype=torch.long)))
    assert err.value.span is not None and "not a finite number" in err.value.message


def test_training_too_large_for_memory_is_refused(tmp_path, monkeypatch):
    import mechdsl.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": 1 << 20)
    res = run(["train", str(ROOT / "specs" / "examples" / "spm_three_agents.mech"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "of memory" in res.output and "episodes=" in res.output


def test_unknown_training_block_setting(tmp_path):
    spec = tmp_path / "s.mech"
    spec.write_text(Path(ESCAPE).read_text() + "\ntraining { seedz = 2 }\n")
    res = run(["train", str(spec), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "seedz" in res.output and "did you mean 'seed" in res.output


@pytest.mark.parametrize("value", ["1e999", "abc", "nan", "2.5", "-3"])
def test_count_options_are_checked(value):
    res = run(["solve", ESCAPE, "--limit", value])
    assert res.exit_code == 2 and "Invalid value for '--limit'" in res.output


def test_more_followers_than_tensor_dimensions(tmp_path):
    spec = tmp_path / "many.mech"
    spec.write_text("agents a[40] { action m in {A} }\nagent b { action m2 in {X, Y} }\n"
                    "leader { choose c in {P, Q} }\nutility = 0\nobjective = 1\n")
    res = run(["solve", str(spec)])
    assert res.exit_code == 2 and "many.mech:1:1" in res.output and "at most 31 followers" in res.output


def test_summary_of_astronomically_many_strategies(tmp_path):
    spec = tmp_path / "big.mech"
    spec.write_text("agent b {\n    type value ~ uniform linspace(0, 1, 15000)\n    action message in range(2)\n}\n"
                    "leader { observe message\n choose c in {P, Q} }\nutility = 0\nobjective = 1\n")
    res = run(["compile", str(spec)])
    assert res.exit_code == 0 and "about 10^4515 pure strategies" in res.output
