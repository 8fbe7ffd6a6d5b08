"""The paper's experiments as a table: how often, how fast, MAPPO (and PPO) reach the
exact optimum of every spec in specs/paper.

    python bench/paper.py                    # 10 seeds per spec, MAPPO everywhere, PPO on two
    python bench/paper.py --quick            # 3 seeds, no PPO, no SB3
    python bench/paper.py --only allocation --seeds 5 --json out.json
    python bench/paper.py --examples         # specs/examples too: every shipped spec

Success: the learned (final greedy) policy's exact value is within 1% of the objective's
range of the exact optimum (`mechdsl.solve` under the default tie reading, cached in
bench/.cache by IR hash and reading) and its followers' regret within the tolerance.
Steps and seconds to the optimum: the first greedy evaluation within that tolerance.
"seconds" is the whole run of a seed (it stops when the policy has converged).

With Stable-Baselines3 importable, SB3 PPO also trains on the step-by-step Gymnasium
env of one spec (`--sb3-spec`) for the steps the batched MAPPO needed there (capped at
`--sb3-seconds`), and the table shows both learners' environment steps per second.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_VARIANTS = "allocation:messages=1,2,3 spm_messages:messages=1,2"
DEFAULT_PPO = "allocation:messages=3 matrix_design"


def parse_variants(text: str) -> dict[str, list[dict[str, str]]]:
    """'stem:name=v1,v2 other:...' -> {stem: [{name: v1}, {name: v2}]}"""
    out: dict[str, list[dict[str, str]]] = {}
    for part in text.split():
        stem, _, rest = part.partition(":")
        if not rest:
            out.setdefault(stem, []).append({})
            continue
        name, _, vals = rest.partition("=")
        out.setdefault(stem, []).extend({name: v} for v in vals.split(","))
    return out


def cases(args) -> list[tuple[str, dict[str, str]]]:
    variants = parse_variants(args.variants)
    out = []
    folders = ["paper"] + (["examples"] if getattr(args, "examples", False) else [])
    paths = [p for f in folders for p in sorted(glob.glob(str(ROOT / "specs" / f / "*.mech")))]
    for path in paths:
        stem = Path(path).stem
        if args.only and not any(o in stem for o in args.only.split(",")):
            continue
        for sets in variants.get(stem, [{}]):
            out.append((path, sets))
    return out


def label(path: str, sets: dict[str, str]) -> str:
    return Path(path).stem + "".join(f" {k}={v}" for k, v in sets.items())


def optimum(ir, limit: int) -> Optional[float]:
    cache = ROOT / "bench" / ".cache" / "optima.json"
    data = json.loads(cache.read_text()) if cache.is_file() else {}
    from mechdsl.compiler.model import DEFAULT_TIES

    key = f"{ir.content_hash()}:{ir.model.dynamics.ties or DEFAULT_TIES}"
    if key in data:
        return data[key]
    try:
        from mechdsl.solve import solve

        sol = solve(ir, limit=limit)
        value = None if sol.value is None else float(sol.value)
    except Exception as e:  # too large, interval prices, or no solver yet
        print(f"    (no exact optimum: {str(e).splitlines()[0][:100]})", flush=True)
        value = None
    data[key] = value
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(data, indent=1))
    return value


def run_seed(job: tuple) -> dict[str, Any]:
    """One training run (in a worker process when --workers > 1)."""
    path, sets, algo, seed, overrides = job
    import torch

    torch.set_num_threads(1)
    import mechdsl
    from mechdsl.config import config_for
    from mechdsl.train import train

    ir = mechdsl.compile(mechdsl.load(path, sets))
    cfg = config_for(ir, {**overrides, "algo": algo, "seed": seed, "seeds": 1})
    r = train(cfg, ir).runs[0]
    return {"seed": seed, "value": r.value, "regret_fraction": r.regret / _follower_span(ir),
            "steps": r.steps, "seconds": r.seconds, "curve": r.curve}


def _follower_span(ir) -> float:
    """The smallest follower payoff range: regret as a fraction of it is conservative."""
    return min((h - l for l, h in ir.utility_bounds if h > l), default=1.0)


def summarize(runs: list[dict[str, Any]], opt: Optional[float], span: float, tol: float) -> dict[str, Any]:
    ok, to_steps, to_secs = 0, [], []
    for r in runs:
        if opt is None:
            continue
        if r["value"] >= opt - tol * span and r.get("regret_fraction", 0.0) <= tol:
            ok += 1
        first = next((row for row in r["curve"] if row["value"] >= opt - tol * span), None)
        if first is not None:
            to_steps.append(first["steps"])
            to_secs.append(first["seconds"])
    med = lambda xs: statistics.median(xs) if xs else None  # noqa: E731
    return {
        "success": None if opt is None else ok, "seeds": len(runs),
        "median_steps_to_opt": med(to_steps), "median_seconds_to_opt": med(to_secs),
        "median_seconds": med([r["seconds"] for r in runs]), "median_steps": med([r["steps"] for r in runs]),
        "mean_value": statistics.fmean(r["value"] for r in runs), "optimum": opt,
        "steps_per_second": sum(r["steps"] for r in runs) / max(1e-9, sum(r["seconds"] for r in runs)),
    }


def sb3_speed(path: str, sets: dict[str, str], steps: int, seconds: float, seed: int = 0) -> dict[str, Any]:
    """SB3 PPO on the Gymnasium env: steps per second and the greedy value reached."""
    try:
        import stable_baselines3  # noqa: F401
    except ImportError as e:
        return {"skipped": f"stable-baselines3 is not importable ({e}); pip install .[sb3]"}
    import numpy as np
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    from mechdsl.env import make_env

    env = make_env(path, **sets)
    t0 = time.time()

    class Stop(BaseCallback):
        def _on_step(self) -> bool:
            return time.time() - t0 < seconds

    model = PPO("MultiInputPolicy", env, seed=seed, verbose=0, device="cpu")
    model.learn(total_timesteps=int(steps), callback=Stop())
    wall = time.time() - t0
    done = model.num_timesteps
    from mechdsl.pomdp import StackelbergPOMDP

    pomdp = StackelbergPOMDP(env.ir)
    feats = np.asarray(env.ir.obs_features, dtype=np.float32)
    legal = np.asarray(env.ir.legal, dtype=bool)
    act, _ = model.predict({"obs": feats, "action_mask": legal.astype(np.int8)}, deterministic=True)
    value = None
    if not env.continuous:
        a = np.where(legal[np.arange(len(act)), act], act, legal.argmax(1))
        value = float(pomdp.exact(pomdp.make_map(torch.as_tensor(a).unsqueeze(0))).value[0])
    return {"steps": done, "seconds": wall, "steps_per_second": done / max(wall, 1e-9), "value": value}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="3 seeds, MAPPO only, no SB3")
    ap.add_argument("--examples", action="store_true", help="also every spec in specs/examples")
    ap.add_argument("--only", default="", help="comma-separated substrings of spec names")
    ap.add_argument("--variants", default=DEFAULT_VARIANTS, help="param variants per spec stem")
    ap.add_argument("--ppo", default=DEFAULT_PPO, help="specs (stem[:name=v]) also run with plain PPO; '' for none")
    ap.add_argument("--option", "-O", action="append", default=[], metavar="NAME=VALUE", help="TrainConfig override")
    ap.add_argument("--workers", type=int, default=1, help="parallel processes (timings then share the CPU)")
    ap.add_argument("--solve-limit", type=float, default=1e7)
    ap.add_argument("--sb3-spec", default="escape", help="spec stem for the SB3 comparison; '' to skip")
    ap.add_argument("--sb3-seconds", type=float, default=120.0)
    ap.add_argument("--json", default="", help="write all results to this file")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.ppo, args.sb3_spec = 3, "", ""

    import torch

    torch.set_num_threads(1)
    import mechdsl
    from mechdsl.config import TrainConfig

    overrides = dict(o.split("=", 1) for o in args.option)
    tol = TrainConfig().updated(overrides).tol
    ppo_cases = {(stem, tuple(sorted(s.items()))) for stem, ss in parse_variants(args.ppo).items() for s in ss}
    rows, results = [], {}
    pool = None
    if args.workers > 1:
        import multiprocessing as mp

        pool = mp.get_context("spawn").Pool(args.workers)
    t_all = time.time()
    for path, sets in cases(args):
        ir = mechdsl.compile(mechdsl.load(path, sets))
        lo, hi = ir.objective_bounds
        span = hi - lo if hi > lo else 1.0
        name = label(path, sets)
        print(f"{name}: solving ...", flush=True)
        opt = optimum(ir, int(args.solve_limit))
        algos = ["mappo"] + (["ppo"] if (Path(path).stem, tuple(sorted(sets.items()))) in ppo_cases else [])
        for algo in algos:
            jobs = [(path, sets, algo, s, overrides) for s in range(args.seeds)]
            runs = pool.map(run_seed, jobs) if pool else [run_seed(j) for j in jobs]
            summ = summarize(runs, opt, span, tol)
            results[f"{name} [{algo}]"] = {**summ, "runs": [{k: v for k, v in r.items() if k != "curve"} for r in runs]}
            rows.append((name, algo, summ))
            print(f"  {algo}: {fmt_row(summ)}", flush=True)

    sb3 = None
    if args.sb3_spec:
        match = [(p, s) for p, s in cases(argparse.Namespace(only=args.sb3_spec, variants=args.variants, examples=False))]
        if match:
            path, sets = match[0]
            name = label(path, sets)
            ours = results.get(f"{name} [mappo]")
            budget = int(ours["median_steps_to_opt"] or ours["median_steps"]) if ours else 100_000
            print(f"SB3 PPO on the Gymnasium env of {name}: {budget:,} steps (cap {args.sb3_seconds:.0f}s) ...", flush=True)
            sb3 = sb3_speed(path, sets, budget, args.sb3_seconds)
            if ours and "steps_per_second" in sb3:
                sb3["speed_ratio"] = ours["steps_per_second"] / sb3["steps_per_second"]
            sb3["spec"] = name
            results["sb3"] = sb3

    print()
    print(table(rows))
    print()
    if sb3 is not None:
        if "skipped" in sb3:
            print(f"SB3 comparison skipped: {sb3['skipped']}")
        else:
            val = "n/a" if sb3["value"] is None else f"{sb3['value']:.4g}"
            print(f"SB3 PPO on the Gymnasium env ({sb3['spec']}): {sb3['steps']:,} steps in {sb3['seconds']:.1f}s "
                  f"= {sb3['steps_per_second']:,.0f} steps/s, greedy value {val}; batched MAPPO: "
                  f"{sb3.get('speed_ratio', float('nan')):,.0f}x the steps per second")
    print(f"total {time.time() - t_all:.0f}s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))
    if pool:
        pool.close()
    return 0


def _f(x, spec="{:.3g}") -> str:
    return "-" if x is None else spec.format(x)


def fmt_row(s: dict[str, Any]) -> str:
    succ = "n/a" if s["success"] is None else f"{s['success']}/{s['seeds']}"
    return (f"success {succ}, steps to opt {_f(s['median_steps_to_opt'], '{:,.0f}')}, "
            f"s to opt {_f(s['median_seconds_to_opt'], '{:.1f}')}, s/seed {_f(s['median_seconds'], '{:.1f}')}, "
            f"mean value {s['mean_value']:.4g} (opt {_f(s['optimum'], '{:.4g}')})")


def table(rows) -> str:
    head = ("spec", "algo", "success", "steps to opt", "s to opt", "s / seed", "mean value", "optimum")
    body = []
    for name, algo, s in rows:
        succ = "n/a" if s["success"] is None else f"{s['success']}/{s['seeds']}"
        body.append((name, algo, succ, _f(s["median_steps_to_opt"], "{:,.0f}"), _f(s["median_seconds_to_opt"], "{:.1f}"),
                     _f(s["median_seconds"], "{:.1f}"), f"{s['mean_value']:.4g}", _f(s["optimum"], "{:.4g}")))
    widths = [max(len(str(r[i])) for r in [head, *body]) for i in range(len(head))]
    line = lambda r: "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(head), "  ".join("-" * w for w in widths), *map(line, body)])


if __name__ == "__main__":
    sys.exit(main())
