"""Many agents: train the unit-demand sequential price mechanism of issue 9 and compare
its welfare with the first best.

The family: `n` bidders, 2 items, each bidder's value for each item uniform on
{0, 0.5, 1} (independently), 2 messages the leader observes, sequential posted prices
from [0, 0.75] over the remaining items, welfare.  The first best is E[the best
assignment of the two items to two different bidders], computed exactly by enumerating
the 9^n type profiles (numpy).  Training uses the defaults with `--mode auto` (sampled
mode once the exact tensors exceed the memory budget) and a wall-clock cap per seed;
the report is the one `mechdsl train --json` prints (its certificate exact where one
map's tensors fit, else estimated with Hoeffding bounds).

    python bench/agents.py --agents 5 --seconds 900
    python bench/agents.py --agents 6 --seconds 840 --seeds 2 --workers 2

Prints: agents, type profiles, training seconds, steps, welfare (and its exact fraction
of the first best), regret as a fraction of the followers' payoff range, verdict, peak RSS;
per seed the learned map's value and what the step after training did, and, for a map
that ignores the messages (`mechdsl/pooling.py`), its exact welfare over every type
profile (one rollout each: no message changes anything, so that mean is exact).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SPEC = """\"\"\"Unit-demand sequential prices, {n} bidders, 2 items (bench/agents.py).\"\"\"
param n = {n}
items left, right
agents bidder[n] {{
    type value[item] ~ uniform [0, 0.5, 1]
    action message in range(2)
}}
leader {{
    observe message
    rounds {{
        visit remaining agent
        price each item in {prices}
        observe remaining
    }}
}}
valuation unit-demand of value
objective welfare
"""
VALUES = (0.0, 0.5, 1.0)


def first_best(n: int) -> float:
    """E[max over bidders i != j of v_i(left) + v_j(right)] over the 9^n equally likely
    type profiles (with one bidder, its better item)."""
    import numpy as np

    grid = np.array(list(itertools.product(VALUES, repeat=2)))  # [9, 2] one bidder's (left, right)
    idx = np.indices((9,) * n).reshape(n, -1).T  # [9^n, n]
    v = grid[idx]  # [P, n, 2]
    if n == 1:
        return float(v.max(-1).mean())
    left, right = v[..., 0], v[..., 1]
    pair = left[:, :, None] + right[:, None, :]  # [P, i, j]
    eye = np.eye(n, dtype=bool)[None]
    return float(np.where(eye, -np.inf, pair).max((1, 2)).mean())


def blind_welfare(run_dir: Path) -> dict[int, float]:
    """Per seed whose map acts alike in every observation class (it ignores the messages,
    e.g. after mechdsl/pooling.py): its exact welfare, the mean over all 9^n type
    profiles of one rollout each -- exact because no message changes anything."""
    import torch

    from mechdsl.cells import Cells, evaluate_cells, unravel
    from mechdsl.evaluate import Policy, Tables
    from mechdsl.pooling import class_copies
    from mechdsl.runs import RunDir

    run = RunDir.existing(str(run_dir))
    ir, saved = run.read_ir(), run.load_policy()
    copies = class_copies(ir)
    out: dict[int, float] = {}
    if saved is None or copies is None:
        return out
    tb = Tables(ir, profiles=False)
    types = unravel(torch.arange(ir.n_type_profiles), list(ir.type_counts))
    prior = torch.tensor(ir.prior, dtype=torch.float64)
    for r in saved["runs"]:
        act = r["policy"]["action"]
        if any(not torch.equal(act[copies[c]], act[copies[0]]) for c in range(len(copies))):
            continue
        cells = Cells(torch.zeros(len(types), dtype=torch.long), types, torch.zeros_like(types))
        V = evaluate_cells(tb, Policy(action=act.unsqueeze(0)), cells, utilities=False).V
        out[int(r["seed"])] = float((V * prior).sum())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=900.0, help="wall-clock cap per seed")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1, help="seeds trained at once (processes)")
    ap.add_argument("--steps", default="", help="step budget per seed (default: train's)")
    ap.add_argument("--memory-budget", default="", help="as `mechdsl train --memory-budget`")
    ap.add_argument("--mode", default="auto")
    ap.add_argument("--prices", default="[0, 0.75]", help="the price grid, as the spec writes it")
    ap.add_argument("--keep", default="", help="keep the run directory here")
    args = ap.parse_args()
    fb = first_best(args.agents)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(args.keep) if args.keep else Path(tmp) / "run"
        spec = Path(tmp) / f"spm{args.agents}.mech"
        spec.write_text(SPEC.format(n=args.agents, prices=args.prices))
        cmd = [sys.executable, "-c", "from mechdsl.cli import main; main()", "train", str(spec), "--json",
               "--seeds", str(args.seeds), "--workers", str(args.workers), "--mode", args.mode, "-O", f"max_seconds={args.seconds}",
               "--solve-limit", "0",  # the reference is the first best; the exact optimum is out of reach
               "-o", str(run_dir)]
        if args.steps:
            cmd += ["--steps", args.steps]
        if args.memory_budget:
            cmd += ["--memory-budget", args.memory_budget]
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        wall = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**10
        blind = blind_welfare(run_dir) if out.returncode == 0 else {}
    if out.returncode != 0:
        raise SystemExit(f"train failed ({out.returncode}):\n{out.stderr[-3000:]}")
    rep = json.loads(out.stdout)
    cert = rep.get("certificate") or {}
    value = rep["value"]
    print(f"{'agents':>6} {'T':>9} {'mode':>8} {'seconds':>8} {'welfare':>8} {'first best':>10} {'share':>6} "
          f"{'regret %':>8} {'verdict':>14} {'peak MB':>8}")
    print(f"{args.agents:>6} {9 ** args.agents:>9,} {rep.get('mode', '?'):>8} {wall:>8.0f} {value:>8.4f} {fb:>10.4f} "
          f"{value / fb:>6.1%} {100 * (cert.get('regret_fraction') or 0):>8.2f} {cert.get('verdict', '?'):>14} "
          f"{peak:>8.0f}")
    for e in rep.get("per_seed", []):
        print(f"  seed {e['seed']}: welfare {e['value']:.4f} ({e['value'] / fb:.1%} of the first best), regret "
              f"{100 * (e.get('regret_fraction') or 0):.2f}%, {e.get('verdict')}, {e.get('steps', 0):,} steps, "
              f"{e.get('seconds', 0):.0f} s, stopped: {e.get('stopped')}")
        p = e.get("polish") or {}
        if e["seed"] in blind:
            w = blind[e["seed"]]
            print(f"    its map ignores the messages: exact welfare {w:.4f} ({w / fb:.1%}) over all "
                  f"{9 ** args.agents:,} type profiles")
        if e.get("learned") is not None:
            print(f"    learned map {e['learned']:.4f} ({e['learned'] / fb:.1%}); after training: {p.get('method')}, "
                  f"{p.get('stopped')}, {p.get('evaluated', 0):,} candidates, {p.get('seconds', 0):.0f} s")


if __name__ == "__main__":
    main()
