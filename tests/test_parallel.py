"""Seeds in parallel processes (`train --workers N`, mechdsl.parallel): bit for bit the
results of training them one by one, and a real Ctrl-C stops every worker, writes the
partial summary of all seeds, and --resume continues them to the sequential answer."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch
from click.testing import CliRunner

from mechdsl import compile as compile_model, load
from mechdsl.cli import main
from mechdsl.config import config_for
from mechdsl.parallel import default_workers, pack, train_seeds, unpack
from mechdsl.runs import RunDir
from tests.checks import interrupt_when

ROOT = Path(__file__).resolve().parent.parent
ALLOCATION = str(ROOT / "specs" / "paper" / "allocation.mech")
# long enough that Ctrl-C finds both seeds running; no early stop, so every seed runs its budget
LONG = ["--set", "messages=2", "--seeds", "2", "--steps", "5e5", "-O", "episodes=32", "-O", "stall=1000000",
        "-O", "patience=1000000"]


def rows_by_seed(path: Path) -> dict[int, list[dict[str, float]]]:
    """metrics.csv per seed, without the wall-clock column (the only one that may differ)."""
    out: dict[int, list[dict[str, float]]] = {}
    with open(path / "metrics.csv", newline="") as f:
        for r in csv.DictReader(f):
            row = {k: float(v) for k, v in r.items() if v and k != "seconds"}
            out.setdefault(int(row["seed"]), []).append(row)
    return out


def same_policies(a: list[dict], b: list[dict]) -> None:
    assert [r["seed"] for r in a] == [r["seed"] for r in b]
    for x, y in zip(a, b):
        assert x["policy"].keys() == y["policy"].keys()
        for k in x["policy"]:
            assert torch.equal(x["policy"][k], y["policy"][k]), (x["seed"], k)
        for k in ("value", "regret", "normalized", "steps", "stopped"):
            assert x.get(k) == y.get(k), (x["seed"], k)


def test_two_workers_give_the_one_by_one_results():
    """The API: values, curves, greedy maps and network weights, bit for bit."""
    ir = compile_model(load(ALLOCATION, {"messages": "2"}))
    cfg = config_for(ir, {"steps": "300000", "episodes": "64", "seeds": "2", "seed": "3"})
    rows: dict[int, list] = {1: [], 2: []}
    ended: dict[int, list] = {1: [], 2: []}
    res = {w: train_seeds(cfg, ir, workers=w, callback=rows[w].append, on_seed_end=ended[w].append) for w in (1, 2)}
    assert [r.seed for r in res[2].runs] == [3, 4] and sorted(ended[2]) == ended[1] == [3, 4]
    strip = lambda curve: [{k: v for k, v in row.items() if k != "seconds"} for row in curve]  # noqa: E731
    for x, y in zip(res[1].runs, res[2].runs):
        assert (x.seed, x.value, x.regret, x.normalized, x.steps, x.stopped) == \
            (y.seed, y.value, y.regret, y.normalized, y.steps, y.stopped)
        assert strip(x.curve) == strip(y.curve) and x.curve
        for k in x.policy:
            assert torch.equal(x.policy[k], y.policy[k])
        for k in x.agent_state:
            assert torch.equal(x.agent_state[k], y.agent_state[k])
    # every curve row reached the callback, whichever process computed it
    key = lambda r: (r["seed"], r["iteration"])  # noqa: E731
    assert sorted(map(key, rows[2])) == sorted(map(key, rows[1])) and len(rows[1]) == sum(len(r.curve) for r in res[1].runs)


def test_tensors_cross_as_bytes_read_without_code():
    blob = {"a": torch.arange(3), "rows": [{"x": 1.5}], "s": "budget", "none": None}
    back = unpack(pack(blob))
    assert torch.equal(back["a"], blob["a"]) and back["rows"] == blob["rows"] and back["s"] == "budget"
    assert pack(None) is None and unpack(None) is None
    assert default_workers() == len(os.sched_getaffinity(0))


def test_ctrl_c_stops_every_worker_and_resume_matches_one_by_one(tmp_path):
    """A real SIGINT to the parent only (not the process group): both workers checkpoint and
    stop, the partial summary holds both seeds, and --resume --workers 2 ends where an
    uninterrupted --workers 1 run ends: the same metrics and the same saved policies."""
    out = tmp_path / "par"
    cmd = [sys.executable, "-c", "from mechdsl.cli import main; main()", "train", ALLOCATION, *LONG,
           "--workers", "2", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    stdout, stderr = interrupt_when(proc, lambda: (out / "metrics.csv").is_file() and len(rows_by_seed(out)) == 2,
                                    "evaluation of both seeds", signal.SIGINT)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and f"--out {out} --resume" in stderr
    assert json.loads((out / "summary.json").read_text())["interrupted"] is True
    runs = RunDir(out).load_policy()["runs"]
    assert [r["seed"] for r in runs] == [0, 1] and {r["stopped"] for r in runs} == {"interrupted"}
    assert len(RunDir(out).load_checkpoint()["partials"]) == 2

    res = CliRunner().invoke(main, ["train", ALLOCATION, "--out", str(out), "--resume", "--workers", "2", "--json"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    ref = tmp_path / "seq"
    res1 = CliRunner().invoke(main, ["train", ALLOCATION, *LONG, "--workers", "1", "--out", str(ref), "--json"],
                              catch_exceptions=False)
    assert res1.exit_code == 0, res1.output
    assert rows_by_seed(out) == rows_by_seed(ref)
    same_policies(RunDir(out).load_policy()["runs"], RunDir(ref).load_policy()["runs"])
    a, b = json.loads(res.output), json.loads(res1.output)
    assert a["value"] == b["value"] and a.get("regret") == b.get("regret")
