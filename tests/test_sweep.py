"""`mechdsl sweep` (mechdsl.sweep): grid names and values checked before launch, the
summary across trials, the advice when Ray is missing, and a real 2-trial sweep on a
local Ray instance whose trials match plain `train` runs of the same settings."""
from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from mechdsl import compile as compile_model, load
from mechdsl.cli import main
from mechdsl.compiler.errors import MechError
from mechdsl.config import config_for
from mechdsl.runs import RunDir
from mechdsl.sweep import aggregate, make_plan, parse_grid, split_values, table
from mechdsl.train import train

ROOT = Path(__file__).resolve().parent.parent
ALLOCATION = str(ROOT / "specs" / "paper" / "allocation.mech")


def test_grid_values_split_outside_brackets():
    assert split_values("1,2, 3") == ["1", "2", "3"]
    assert split_values("[0, 0.5],[1, 2]") == ["[0, 0.5]", "[1, 2]"]


@pytest.mark.parametrize("item, expect", [
    ("mesages=1,2", "did you mean 'messages'"),  # a param of the spec
    ("lrr=1e-3,1e-2", "did you mean 'lr'"),  # a training option
    ("seeds=1,2", "--seeds N"),
    ("messages", "NAME=V1,V2"),
    ("option:messages=1", "not a param"),
])
def test_grid_names_are_checked_before_launch(item, expect):
    with pytest.raises(MechError, match=expect):
        parse_grid(ALLOCATION, (item,))


def test_every_point_is_compiled_before_launch():
    axes = parse_grid(ALLOCATION, ("messages=1,2", "lr=3e-3,1e-2"))
    assert [(a.name, a.kind) for a in axes] == [("messages", "param"), ("lr", "option")]
    plan = make_plan(ALLOCATION, axes, {}, {"steps": "1000"}, seeds=3, seed=4)
    assert plan.seeds == [4, 5, 6] and len(plan.points) == 4
    assert [(p.sets, p.config.lr, p.config.steps) for p in plan.points[1:3]] == \
        [({"messages": "1"}, 1e-2, 1000), ({"messages": "2"}, 3e-3, 1000)]
    with pytest.raises(MechError, match="grid point messages=x"):
        make_plan(ALLOCATION, parse_grid(ALLOCATION, ("messages=1,x",)), {}, {}, 1, None)
    with pytest.raises(MechError, match="lr"):
        make_plan(ALLOCATION, parse_grid(ALLOCATION, ("lr=-1",)), {}, {}, 1, None)


def test_summary_counts_verdicts_and_spreads():
    plan = make_plan(ALLOCATION, parse_grid(ALLOCATION, ("messages=1,2",)), {}, {}, 2, 0)
    rows = [{"messages": m, "point": f"messages={m}", "seed": s, "value": v, "max_regret": 0.0, "verdict": verdict,
             "optimum": 1.0, "error": ""}
            for m, s, v, verdict in [("1", 0, 0.5, "certified"), ("1", 1, 1.0, "not certified"),
                                     ("2", 0, 1.0, "certified"), ("2", 1, 1.0, "certified")]]
    points = aggregate(plan, rows)
    assert [(p["mean"], p["std"], p["verdicts"]) for p in points] == [
        (0.75, 0.25, {"certified": 1, "not certified": 1}), (1.0, 0.0, {"certified": 2})]
    text = table({"spec": ALLOCATION, "grid": {"messages": ["1", "2"]}, "seeds": [0, 1], "points": points,
                  "trials": rows, "seconds": 1.0, "sweep_dir": "x"})
    assert "0.75 +- 0.25" in text and "1 certified, 1 not certified" in text


def test_without_ray_the_command_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    res = CliRunner().invoke(main, ["sweep", ALLOCATION, "--grid", "messages=1,2"])
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit)
    assert 'pip install "mechdsl[ray]"' in res.output and "Traceback" not in res.output


def test_two_trial_sweep_on_local_ray_matches_plain_train(tmp_path):
    pytest.importorskip("ray", reason="Ray is the optional extra `mechdsl[ray]` (in the `test` extra)")
    out = tmp_path / "sweep"
    res = CliRunner().invoke(main, ["sweep", ALLOCATION, "--grid", "messages=1,2", "--seeds", "1", "--steps", "3e5",
                                    "-O", "episodes=64", "--cpus", "2", "--solve-limit", "0", "-o", str(out), "--json"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert [p["point"] for p in summary["points"]] == ["messages=1", "messages=2"]
    for name in ("trials.csv", "summary.json", "summary.txt", "sweep.png", "sweep.svg", "sweep.json"):
        assert (out / name).is_file(), name
    with open(out / "trials.csv", newline="") as f:
        trials = list(csv.DictReader(f))
    assert [(t["messages"], t["seed"]) for t in trials] == [("1", "0"), ("2", "0")]
    for t in trials:
        run = RunDir.existing(t["run_dir"])  # a normal run directory
        assert run.read_config()["sets"] == {"messages": t["messages"]} and run.read_summary()["seeds"] == 1
        ir = compile_model(load(ALLOCATION, {"messages": t["messages"]}))
        plain = train(config_for(ir, {"steps": "3e5", "episodes": "64", "seeds": "1"}), ir).runs[0]
        (saved,) = run.load_policy()["runs"]
        assert float(t["value"]) == plain.value == saved["value"]
        assert all(torch.equal(saved["policy"][k], plain.policy[k]) for k in plain.policy)
