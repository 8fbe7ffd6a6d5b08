"""How exact and sampled mode scale: time per MW round and peak memory of one POMDP
iteration, one factor at a time, with fitted growth exponents.

The family: unit-demand sequential prices (`bench/scale.py` writes the spec), n agents,
m items, k equally likely values per agent (a scalar value, the same for every item),
`messages` messages observed by the leader (not in the agents sweep), prices [0, 0.5], welfare.  Around the base
point (2 agents, 1 item, 2 values, 2 messages) each sweep varies one factor:

    agents 2..8, items 1..3, types per agent 2..10, messages 1..4

With `--target` each (point, mode) also trains one seed (MAPPO, the defaults, seed 0,
`--workers 1`) until its greedy map is within 1% of the objective's range of the exact
optimum (`mechdsl solve`, where it can enumerate the point's policies within
`SOLVE_LIMIT` and `SOLVE_SECONDS`; "-" where it cannot), capped at `--target-seconds`: the columns "to
target s" (the first evaluation within tolerance; "> cap" if none) and the training's
peak memory.  In sampled mode the greedy value the target is checked against is the
sampled estimate (its certificate is estimated too); the exact optimum is the same.

Each (point, mode) runs in a fresh process (peak RSS of the iteration: the high-water
mark reset after compiling, less what the process held then), for one iteration: `episodes` POMDP episodes of `rounds` MW rounds
plus the reward phase, the fastest of `REPEATS`.  Exact mode runs only where its payoff tensors fit the memory
budget (`mechdsl.memory`).  The exponent is the least-squares slope of log(time per
round) on log(factor) -- 1.0 means linear growth.

    python bench/scale.py --quick          # a few minutes on 2 cores
    python bench/scale.py --quick --target # and the time to the exact optimum (longer)
    python bench/scale.py --device cuda    # where a GPU is available
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SPEC = """items {items}
agents bidder[{n}] {{
    type value ~ uniform {values}
    action message in range({messages})
}}
leader {{
    {observe}
    rounds {{
        visit remaining agent
        price each item in [0, 0.5]
        observe remaining
    }}
}}
valuation unit-demand of value
objective welfare
"""

BASE = {"n": 2, "m": 1, "k": 2, "messages": 2, "observe": True}
# the agents sweep keeps the leader's side small (it observes no message: 2^n observation
# classes would grow the information sets, not the followers' work this bench is about)
SWEEPS = {"agents": ("n", [2, 3, 4, 5, 6, 7, 8]), "items": ("m", [1, 2, 3]),
          "types": ("k", [2, 4, 6, 8, 10]), "messages": ("messages", [1, 2, 3, 4])}
REPEATS = 3
SOLVE_LIMIT = 200_000  # leader policies `solve` may enumerate for a point's target
SOLVE_SECONDS = 60  # ... and the seconds it may take (else the point has no target)
QUICK = {"agents": [2, 4, 6, 8], "items": [1, 2, 3], "types": [2, 4, 10], "messages": [1, 2, 4]}


def spec_text(n: int, m: int, k: int, messages: int, observe: bool = True) -> str:
    values = "[" + ", ".join(f"{j / (k - 1):.6g}" for j in range(k)) + "]" if k > 1 else "[1]"
    items = ", ".join(f"item{j + 1}" for j in range(m))
    return SPEC.format(items=items, n=n, values=values, messages=messages,
                       observe="observe message" if messages > 1 and observe else "")


def one(point: dict, mode: str, episodes: int, rounds: int, device: str, target_seconds: float = 0.0) -> dict:
    """Run in a child process: one iteration of `mode` at `point`; time and memory."""
    import torch

    from mechdsl.compiler import loads
    from mechdsl.compiler.build import build_ir
    from mechdsl.dynamics import MWConfig
    from mechdsl.memory import choose_mode

    torch.set_num_threads(1)
    ir = build_ir(loads(spec_text(**point), "scale.mech"))
    if mode == "exact":
        try:
            choose_mode(ir, "exact", episodes, 0, 1, 10, device)
        except Exception as e:  # noqa: BLE001 -- a size error: exact does not fit here
            return {"skipped": str(getattr(e, "message", e)).split(";")[0]}
    mw = MWConfig.from_ir(ir, "first")
    mw.rounds = rounds
    if mode == "exact":
        from mechdsl.pomdp import StackelbergPOMDP

        pomdp = StackelbergPOMDP(ir, device, mw=mw, reward_rounds=10)
    else:
        from mechdsl.sampled import SampledPOMDP

        pomdp = SampledPOMDP(ir, device, mw=mw, reward_rounds=10)
    gen = torch.Generator(device=device).manual_seed(0)
    leader_map = pomdp.uniform_map(episodes, gen)
    base = reset_peak()
    best = best_it = math.inf
    for _ in range(REPEATS):  # the fastest of a few: the machine is shared
        t0 = time.perf_counter()
        st = pomdp.equilibrium(pomdp.reset(leader_map), gen)
        if device == "cuda":
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        pomdp.reward(st, gen)
        t2 = time.perf_counter()
        best, best_it = min(best, t1 - t0), min(best_it, t2 - t0)
    peak = peak_bytes()
    out = {"per_round_ms": 1000 * best / max(1, rounds), "iteration_s": best_it, "mem_mb": max(0, peak - base) / 2**20,
           "T": ir.n_type_profiles, "A": ir.n_action_profiles, "S": ir.n_infosets}
    if target_seconds:
        out.update(to_target(ir, mode, target_seconds, device))
    return out


def _status(key: str) -> int:
    """A /proc/self/status memory line in bytes (Linux), else -1."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return -1


def reset_peak() -> int:
    """Start a fresh peak-RSS measurement; returns the resident bytes now.  On Linux the
    high-water mark is reset (/proc/self/clear_refs), so a peak of compiling or of an
    earlier phase does not hide this one's; elsewhere the process's peak so far."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_bytes() -> int:
    hwm = _status("VmHWM")
    return hwm if hwm >= 0 else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def to_target(ir, mode: str, cap: float, device: str) -> dict:
    """Seconds until one seed's greedy map is within 1% of the exact optimum, and the
    training's peak memory above what the process held before it; {} where the optimum
    cannot be solved."""
    from mechdsl.compiler.errors import MechError
    from mechdsl.config import config_for
    from mechdsl.solve import solve
    from mechdsl.train import train

    def too_long(*_):
        raise TimeoutError

    signal.signal(signal.SIGALRM, too_long)  # this runs in the point's own process
    signal.alarm(SOLVE_SECONDS)
    try:
        opt = solve(ir, limit=SOLVE_LIMIT).value
    except (MechError, TimeoutError):
        return {}
    finally:
        signal.alarm(0)
    base = reset_peak()
    cfg = config_for(ir, {"steps": "1e12", "seed": "0", "target": str(opt), "max_seconds": str(cap), "mode": mode,
                          "device": device})
    seed = train(cfg, ir).runs[0]
    lo, hi = ir.objective_bounds
    hit = seed.first_within(opt, cfg.tol * max(hi - lo, 1e-12))
    peak = peak_bytes()
    return {"optimum": opt, "target_s": hit["seconds"] if hit else None, "train_mb": max(0, peak - base) / 2**20}


def child(point: dict, mode: str, args) -> dict:
    cmd = [sys.executable, __file__, "--one", json.dumps({"point": point, "mode": mode}), "--episodes",
           str(args.episodes), "--rounds", str(args.rounds), "--device", args.device,
           "--target-seconds", str(args.target_seconds if args.target else 0)]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    timeout = args.timeout + (args.target_seconds + 120 if args.target else 0)
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"skipped": f"over {timeout:g} s"}
    if out.returncode != 0:
        return {"skipped": (out.stderr.strip().splitlines() or ["failed"])[-1][:60]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def target_cols(r: dict, m: str, args) -> str:
    if "optimum" not in r:
        return f" {'-':>{len(m) + 11}} {'-':>{len(m) + 9}}"
    hit = f"{r['target_s']:.1f}" if r["target_s"] is not None else f"> {args.target_seconds:g}"
    return f" {hit:>{len(m) + 11}} {r['train_mb']:>{len(m) + 9}.1f}"


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y on log x."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    den = sum((a - mx) ** 2 for a in lx)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / den if den else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer points per sweep, fewer rounds")
    ap.add_argument("--episodes", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=None, help="MW rounds per iteration (default 20, quick 10)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sweeps", default=",".join(SWEEPS), help="which sweeps, e.g. agents,messages")
    ap.add_argument("--modes", default="exact,sampled")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per point and mode")
    ap.add_argument("--target", action="store_true", help="also train to the exact optimum (time and memory)")
    ap.add_argument("--target-seconds", type=float, default=120.0, help="cap on each training run to the target")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.rounds = args.rounds or (10 if args.quick else 20)
    if args.one:
        job = json.loads(args.one)
        print(json.dumps(one(job["point"], job["mode"], args.episodes, args.rounds, args.device, args.target_seconds)))
        return
    modes = args.modes.split(",")
    print(f"scale: {args.episodes} episodes x {args.rounds} MW rounds per iteration, device {args.device}; "
          "time per MW round (ms) and peak memory of the iteration (MB); - : exact does not fit")
    extra = lambda m: f" {m + ' to target s':>20} {m + ' train MB':>17}" if args.target else ""  # noqa: E731
    print(f"{'sweep':<9} {'value':>5} {'T':>8} {'A':>6} {'S':>6} | " +
          " | ".join(f"{m + ' ms/round':>17} {m + ' MB':>11}" + extra(m) for m in modes))
    fits: dict[tuple[str, str], tuple[list, list]] = {}
    for name in args.sweeps.split(","):
        key, values = SWEEPS[name]
        for v in (QUICK[name] if args.quick else values):
            point = dict(BASE, **{key: v, **({"observe": False} if name == "agents" else {})})
            res = {m: child(point, m, args) for m in modes}
            info = next((r for r in res.values() if "T" in r), {})
            cols = []
            for m in modes:
                r = res[m]
                if "per_round_ms" in r:
                    cols.append(f"{r['per_round_ms']:>17.2f} {r['mem_mb']:>11.1f}" + (target_cols(r, m, args) if
                                                                                      args.target else ""))
                    xs, ys = fits.setdefault((name, m), ([], []))
                    xs.append(v)
                    ys.append(r["per_round_ms"])
                else:
                    cols.append(f"{'-':>17} {'-':>11}" + (f" {'-':>{len(m) + 11}} {'-':>{len(m) + 9}}"
                                                          if args.target else ""))
            print(f"{name:<9} {v:>5} {info.get('T', ''):>8} {info.get('A', ''):>6} {info.get('S', ''):>6} | "
                  + " | ".join(cols), flush=True)
    print("\ngrowth exponents of time per MW round (log-log least squares; 1 = linear):")
    for (name, m), (xs, ys) in fits.items():
        if len(xs) >= 2:
            print(f"  {name:<9} {m:<8} {slope(xs, ys):6.2f}   over {xs[0]}..{xs[-1]} ({len(xs)} points)")


if __name__ == "__main__":
    main()
