"""Training (mechdsl.train), the run directory (mechdsl.runs) and `mechdsl train/eval`.

The learning tests check textbook optima of the paper's small games with fixed seeds:
allocation with 3 messages (a message per item: reward 1, paper Section 7.3), Escape
(row C: 30, Appendix E) and Maintain (row A: 20, Section 7.1), to within 1% of the
objective's range."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import mechdsl
from mechdsl.cli import main
from mechdsl.config import TrainConfig, config_for
from mechdsl.runs import RunDir
from mechdsl.train import train

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT / "specs" / "paper"


def compile_spec(name: str, folder: str = "paper", **sets) -> mechdsl.GameIR:
    path = PAPER.parent / folder / f"{name}.mech"
    return mechdsl.compile(mechdsl.load(str(path), {k: str(v) for k, v in sets.items()}))


def within(value: float, optimum: float, ir) -> bool:
    lo, hi = ir.objective_bounds
    return value >= optimum - 0.01 * (hi - lo)


@pytest.mark.parametrize("name,sets,optimum", [
    ("allocation", {"messages": 3}, 1.0),
    ("escape", {}, 30.0),
    ("maintain", {}, 20.0),
])
def test_mappo_reaches_the_exact_optimum(name, sets, optimum):
    ir = compile_spec(name, **sets)
    res = train(config_for(ir, {"seed": 0}), ir)
    run = res.runs[0]
    assert within(run.value, optimum, ir), (run.value, run.stopped)
    assert run.regret < 1e-6
    assert run.curve and run.curve[-1]["steps"] <= run.steps


def test_continuous_heads_reach_the_optimum():
    """Mixed rows (Maintain's supremum 27.5: A with probability just over 1/4, B otherwise)
    and interval prices (first-best welfare E[max(v1, v2)] = 1.1 is reachable with messages)."""
    ir = compile_spec("maintain_mixed")
    run = train(config_for(ir, {"seed": 0}), ir).runs[0]
    assert within(run.value, 27.5, ir) and run.value <= 27.5 + 1e-9
    assert set(run.policy) == {"action", "probs"}
    # interval prices under the default, pessimistic ties: a buyer indifferent at price =
    # value does not buy, so the optimum needs prices strictly below the values
    ir = compile_spec("spm_messages_interval")
    run = train(config_for(ir, {"seed": 0}), ir).runs[0]
    assert within(run.value, 1.1, ir)
    low, high = ir.interval
    assert ((run.policy["prices"] >= low) & (run.policy["prices"] <= high)).all()


def test_bayesian_mixed_commitment_trains():
    """A mixed commitment against a follower with private types (specs/examples/
    bayesian_security.mech): within 1% of the range of solve's supremum -1/2, from below
    (the run stops at its target; bench/paper.py --examples times whole runs)."""
    ir = compile_spec("bayesian_security", folder="examples")
    run = train(config_for(ir, {"seed": 0, "target": -0.5}), ir).runs[0]
    assert within(run.value, -0.5, ir) and run.value < -0.5, run.value
    assert run.regret < 1e-6 and run.stopped == "target"


def test_ppo_baseline_trains_too():
    ir = compile_spec("escape")
    run = train(config_for(ir, {"algo": "ppo", "seed": 1}), ir).runs[0]
    assert within(run.value, 30.0, ir)


def test_same_seed_same_result():
    ir = compile_spec("allocation", messages=2)
    cfg = config_for(ir, {"steps": 3_000_000, "episodes": 64, "seed": 4})
    a, b = train(cfg, ir).runs[0], train(cfg, ir).runs[0]
    strip = lambda c: [{k: v for k, v in r.items() if k != "seconds"} for r in c]  # noqa: E731
    assert strip(a.curve) == strip(b.curve)
    assert all(torch.equal(a.agent_state[k], b.agent_state[k]) for k in a.agent_state)
    c = train(cfg.updated({"seed": 5}), ir).runs[0]
    assert strip(c.curve) != strip(a.curve)


def test_resume_continues_exactly():
    """Interrupted after two evaluations and resumed from the checkpoint: the same run."""
    ir = compile_spec("allocation", messages=2)
    cfg = config_for(ir, {"steps": 4_000_000, "episodes": 64, "seed": 2})
    full = train(cfg, ir).runs[0]
    saved = {}
    calls = []

    def stop_after_two(row):
        calls.append(row)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, ir, callback=stop_after_two, checkpoint=lambda blob: saved.update(blob=blob))
    resumed = train(cfg, ir, resume=saved["blob"]).runs[0]
    strip = lambda c: [{k: v for k, v in r.items() if k != "seconds"} for r in c]  # noqa: E731
    assert strip(resumed.curve) == strip(full.curve)
    assert resumed.value == full.value and resumed.steps == full.steps


def test_config_layers_and_docs():
    ir = compile_spec("escape")
    ir = ir.model_copy(update={"model": ir.model.model_copy(update={"training": {"lr": 0.005, "seeds": 3}})})
    cfg = config_for(ir, {"seeds": "2", "episodes": "32"})
    assert (cfg.lr, cfg.seeds, cfg.episodes) == (0.005, 2, 32)
    docs = TrainConfig.help()
    assert set(docs) == set(TrainConfig.names()) and all(docs.values())
    with pytest.raises(ValueError):
        TrainConfig().updated({"algo": "dqn"})


def test_run_directories_are_never_reused(tmp_path):
    spec = str(PAPER / "escape.mech")
    a = RunDir.new(spec, root=str(tmp_path))
    (a.path / "x").write_text("1")
    b = RunDir.new(spec, root=str(tmp_path))
    assert (a.path.name, b.path.name) == ("run-001", "run-002")
    out = tmp_path / "mine"
    c = RunDir.new(spec, out=str(out))
    (c.path / "x").write_text("1")
    d = RunDir.new(spec, out=str(out))
    assert c.path == out and d.path.name == "mine-2"
    d.save_checkpoint({"k": torch.ones(2)})
    assert torch.equal(d.load_checkpoint()["k"], torch.ones(2))
    assert not list(d.path.glob("*.tmp"))


def test_cli_train_eval_resume(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    spec = str(PAPER / "escape.mech")
    res = runner.invoke(main, ["train", spec, "--seeds", "2", "--out", str(out), "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    for key in ("value", "optimum", "gap", "regret", "steps", "seconds", "seeds"):
        assert key in rep
    assert rep["value"] == 30.0 and rep["seeds"] == 2 and rep["successes"] == 2
    for name in ("spec.mech", "ir.json", "config.json", "metrics.csv", "checkpoint.pt", "policy.pt", "summary.json", "curve.png"):
        assert (out / name).is_file(), name
    ev = runner.invoke(main, ["eval", str(out), "--json"], catch_exceptions=False)
    assert ev.exit_code == 0 and json.loads(ev.output)["value"] == 30.0
    text = runner.invoke(main, ["eval", str(out)], catch_exceptions=False).output
    assert "row = C" in text and "gap = 0" in text
    # a second run with the same --out goes elsewhere; --resume of a finished run reports it
    res2 = runner.invoke(main, ["train", spec, "--seeds", "1", "--out", str(out), "--json"], catch_exceptions=False)
    assert json.loads(res2.output)["run_dir"] == str(out) + "-2"
    res3 = runner.invoke(main, ["train", spec, "--out", str(out), "--resume", "--json"], catch_exceptions=False)
    assert res3.exit_code == 0 and json.loads(res3.output)["value"] == 30.0


def test_cli_ctrl_c_saves_a_checkpoint(tmp_path, monkeypatch):
    import mechdsl.train as tr

    real = tr.train

    def interrupted(config, ir, callback=None, resume=None, checkpoint=None, **kw):
        def cb(row):
            callback(row)
            raise KeyboardInterrupt
        return real(config, ir, callback=cb, resume=resume, checkpoint=checkpoint, **kw)

    monkeypatch.setattr(tr, "train", interrupted)
    out = tmp_path / "run"
    spec = str(PAPER / "maintain.mech")
    res = CliRunner().invoke(main, ["train", spec, "--out", str(out)])
    assert res.exit_code == 130
    assert (out / "checkpoint.pt").is_file() and "--resume" in res.output
    monkeypatch.setattr(tr, "train", real)
    res = CliRunner().invoke(main, ["train", spec, "--out", str(out), "--resume", "--json"], catch_exceptions=False)
    assert res.exit_code == 0 and json.loads(res.output)["value"] == 20.0
