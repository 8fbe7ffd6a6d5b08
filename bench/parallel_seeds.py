"""Wall time of `--seeds N` trained one by one against `--workers W` processes
(mechdsl.parallel), and whether the results are the same bit for bit.

    python bench/parallel_seeds.py                                   # allocation, 2 seeds, 1 vs 2 workers
    python bench/parallel_seeds.py --spec specs/paper/spm_messages.mech --set messages=2 --steps 5e6 --seeds 4
    python bench/parallel_seeds.py --workers 1 2 4

Each seed runs its whole budget (no early stop), so the work per seed is fixed.  The
speed-up is at most min(workers, seeds, free cores); each worker pays for starting a
Python process and importing torch (a few seconds), so tiny budgets gain nothing.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    import torch

    from mechdsl import compile as compile_model, load
    from mechdsl.config import config_for
    from mechdsl.parallel import default_workers, train_seeds

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", default=str(ROOT / "specs" / "paper" / "allocation.mech"))
    ap.add_argument("--set", action="append", default=["messages=2"], metavar="NAME=VALUE")
    ap.add_argument("--steps", default="3e6")
    ap.add_argument("--episodes", default="64")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()

    sets = dict(s.split("=", 1) for s in args.set)
    ir = compile_model(load(args.spec, sets))
    cfg = config_for(ir, {"steps": args.steps, "episodes": args.episodes, "seeds": str(args.seeds),
                          "stall": "1000000", "patience": "1000000"})
    print(f"{Path(args.spec).stem} {sets}: {args.seeds} seeds x {float(args.steps):.3g} steps, "
          f"{default_workers()} cores available")
    print(f"{'workers':>8}  {'wall s':>8}  {'speed-up':>8}  same results")
    base = first = None
    for w in args.workers:
        t0 = time.perf_counter()
        res = train_seeds(cfg, ir, workers=w)
        wall = time.perf_counter() - t0
        if first is None:
            first, base = res, wall
        same = all(a.value == b.value and a.steps == b.steps
                   and all(torch.equal(a.policy[k], b.policy[k]) for k in a.policy)
                   and all(torch.equal(a.agent_state[k], b.agent_state[k]) for k in a.agent_state)
                   for a, b in zip(first.runs, res.runs))
        print(f"{w:>8}  {wall:>8.1f}  {base / wall:>8.2f}  {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
