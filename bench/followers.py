"""The follower models (docs/followers.md) in training: MAPPO against each model's
followers, the learned policy's exact value against the exact optimum under the same
model.  The first row per spec is the slow test of tests/test_followers.py (Q-learning
followers reach MW's optimum on allocation with 3 messages).

    python bench/followers.py                              # allocation, messages=3, every model, seed 0
    python bench/followers.py --seeds 3 --models mw,qlearning
    python bench/followers.py --spec specs/paper/matrix_design.mech --set-none

Success: the learned (final greedy) policy's exact value is within 1% of the objective's
range of the model's exact optimum (`mechdsl.solve --follower-model MODEL`) and its
certificate is certified.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default=str(ROOT / "specs/paper/allocation.mech"))
    ap.add_argument("--set", dest="sets", action="append", default=None, help="NAME=VALUE (default messages=3)")
    ap.add_argument("--set-none", action="store_true", help="no --set (for specs without a messages param)")
    ap.add_argument("--models", default="qlearning,mw,swap,favourable,pessimistic")
    ap.add_argument("--seeds", type=int, default=1)
    args = ap.parse_args()

    import mechdsl
    from mechdsl.config import config_for
    from mechdsl.solve import solve
    from mechdsl.train import train

    sets = {} if args.set_none else dict(s.split("=", 1) for s in (args.sets or ["messages=3"]))
    ir = mechdsl.compile(mechdsl.load(args.spec, sets))
    lo, hi = ir.objective_bounds
    tol = 0.01 * ((hi - lo) if hi > lo else 1.0)
    print(f"{Path(args.spec).stem} {sets or ''}: MAPPO against each follower model, {args.seeds} seed(s)")
    print(f"{'model':>12} {'optimum':>9} {'seed':>5} {'value':>9} {'regret':>8} {'ok':>4} {'steps':>12} {'seconds':>8}")
    for model in args.models.split(","):
        optimum = solve(ir, follower_model=model).value
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            run = train(config_for(ir, {"seed": seed, "follower_model": model}), ir).runs[0]
            ok = optimum is not None and run.value >= optimum - tol and run.regret < tol
            print(f"{model:>12} {optimum if optimum is not None else float('nan'):>9.4g} {seed:>5} {run.value:>9.4g} "
                  f"{run.regret:>8.3g} {'yes' if ok else 'NO':>4} {run.steps:>12,} {time.perf_counter() - t0:>8.1f}")


if __name__ == "__main__":
    main()
