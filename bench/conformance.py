"""Conformance: train random small specs of every family with the default settings and
compare with the exact optimum.

    python bench/conformance.py                       # 60 specs spread over the families
    python bench/conformance.py --only mixed --count 10 --seeds 3 --json out.json
    python bench/conformance.py --workers 2 -O soften_ties=0   # a setting changed, 2 processes

Specs come from `tests/specgen.py` (family i of a run is the same spec whatever --count
or --only, for a given --seed) and are written to runs/conformance/<family>-<i>.mech so a
failure can be reproduced with `mechdsl solve` / `mechdsl train`.  Each is solved
exactly (`mechdsl.solve.solve`, default limit, `mw` followers; cached by IR content hash
in runs/.bench-cache/) and trained with the defaults -- `config_for(ir, {...})` with only
`seed`, `seeds` and `threads=1` set (and any `-O` given, for every spec alike), no tuning
per spec.  With `--workers N` the training runs go to N processes (solving stays in this
one); each run is a pure function of its spec and seed, so the results are the same.  A run succeeds when its learned
exact value (`SeedResult.value`) is within 1% of the objective's range
(`ir.objective_bounds`) of the exact optimum (the supremum when `solve` reports one).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.specgen import FAMILIES, generate  # noqa: E402

TOL = 0.01  # success: within 1% of the objective's range
CACHE = ROOT / "runs" / ".bench-cache" / "conformance-optima.json"
OUT = ROOT / "runs" / "conformance"


def make_specs(seed: int, count: int, only: str) -> list[tuple[str, int, str]]:
    """(family, index, text): `count` specs, round-robin over the families (or `only`).
    Each family draws from its own generator, so <family>-<i> is the same spec for a
    given seed whatever the count or the selection."""
    fams = [f for f in FAMILIES if not only or f in only.split(",")]
    if not fams:
        raise SystemExit(f"--only {only!r} names no family; families: {', '.join(FAMILIES)}")
    per = {f: count // len(fams) + (1 if k < count % len(fams) else 0) for k, f in enumerate(fams)}
    out = []
    for f in fams:
        rng = random.Random(f"conformance:{seed}:{f}")
        out.extend((f, i, generate(f, rng)) for i in range(per[f]))
    return out


def optimum(ir) -> dict[str, Any]:
    """The exact answer (value, supremum, seconds), cached by the IR's content hash."""
    data = json.loads(CACHE.read_text()) if CACHE.is_file() else {}
    key = ir.content_hash()
    if key in data:
        return {**data[key], "cached": True}
    from mechdsl.solve import solve

    t0 = time.time()
    try:
        sol = solve(ir)
        ans = {"value": sol.value, "supremum": sol.supremum, "exact": sol.exact,
               "policy_value": sol.policy_value, "seconds": time.time() - t0, "error": None}
    except Exception as e:  # too large, or a solver bug: reported as such
        ans = {"value": None, "supremum": False, "exact": False, "policy_value": None,
               "seconds": time.time() - t0, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}
    data[key] = ans
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    CACHE.write_text(json.dumps(data, indent=1))
    return {**ans, "cached": False}


def prepare(family: str, index: int, text: str) -> dict[str, Any]:
    """Write the spec and solve it (in the main process: the optimum cache is one file)."""
    import mechdsl

    path = OUT / f"{family}-{index}.mech"
    path.write_text(text)
    rel = str(path.relative_to(ROOT))
    ir = mechdsl.compile(mechdsl.load(str(path), {}))
    lo, hi = ir.objective_bounds
    opt = optimum(ir)
    return {"family": family, "index": index, "spec": rel, "bounds": [lo, hi], "optimum": opt["value"],
            "supremum": opt["supremum"], "solve_seconds": opt["seconds"], "solve_error": opt["error"], "runs": []}


def train_spec(job: tuple[dict[str, Any], int, dict[str, str]]) -> dict[str, Any]:
    """Train one prepared spec with the defaults (plus `overrides`)."""
    rec, seeds, overrides = job
    import torch

    torch.set_num_threads(1)
    import mechdsl
    from mechdsl.config import config_for
    from mechdsl.train import train

    rec = dict(rec, runs=[])
    if rec["optimum"] is None:
        return rec
    ir = mechdsl.compile(mechdsl.load(str(ROOT / rec["spec"]), {}))
    lo, hi = rec["bounds"]
    span = hi - lo if hi > lo else 1.0
    res = train(config_for(ir, {**overrides, "seed": 0, "seeds": seeds, "threads": 1}), ir)
    for r in res.runs:
        gap = rec["optimum"] - r.value
        rec["runs"].append({"seed": r.seed, "value": r.value, "gap": gap, "gap_frac": gap / span,
                            "ok": r.value >= rec["optimum"] - TOL * span, "follower_regret": r.regret,
                            "steps": r.steps, "seconds": r.seconds, "stopped": r.stopped})
    return rec


def summary_table(recs: list[dict[str, Any]]) -> str:
    head = ("family", "specs", "runs", "success", "failures", "rate", "median s/seed", "max s")
    body = []
    fams = [f for f in FAMILIES if any(r["family"] == f for r in recs)]
    for f in fams + ["all"]:
        rs = [r for r in recs if f == "all" or r["family"] == f]
        runs = [x for r in rs for x in r["runs"]]
        n_runs = sum(max(1, len(r["runs"])) for r in rs)  # a spec without an optimum counts as one failure
        ok = sum(x["ok"] for x in runs)
        secs = [x["seconds"] for x in runs]
        body.append((f, len(rs), n_runs, ok, n_runs - ok, f"{100 * ok / max(1, n_runs):.1f}%",
                     f"{statistics.median(secs):.1f}" if secs else "-", f"{max(secs):.1f}" if secs else "-"))
    return _grid(head, body)


def failure_table(recs: list[dict[str, Any]]) -> Optional[str]:
    head = ("spec", "seed", "optimum", "learned", "regret", "regret/range", "follower regret", "stopped")
    body = []
    for r in recs:
        if r["optimum"] is None:
            body.append((r["spec"], "-", "-", "-", "-", "-", "-", f"no optimum: {r['solve_error']}"))
        for x in r["runs"]:
            if not x["ok"]:
                opt = f"{r['optimum']:.6g}" + (" (sup)" if r["supremum"] else "")
                body.append((r["spec"], x["seed"], opt, f"{x['value']:.6g}", f"{x['gap']:.4g}",
                             f"{100 * x['gap_frac']:.2f}%", f"{x['follower_regret']:.3g}", x["stopped"]))
    return _grid(head, body) if body else None


def _grid(head, body) -> str:
    widths = [max(len(str(r[i])) for r in [head, *body]) for i in range(len(head))]
    line = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)  # noqa: E731
                               for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(head), "  ".join("-" * w for w in widths), *map(line, body)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0, help="generator seed (which specs)")
    ap.add_argument("--count", type=int, default=60, help="number of specs, spread over the families")
    ap.add_argument("--only", default="", help="comma-separated families: " + ", ".join(FAMILIES))
    ap.add_argument("--seeds", type=int, default=1, help="training seeds per spec (0, 1, ...)")
    ap.add_argument("--json", default="", help="write every record to this file")
    ap.add_argument("-O", "--option", action="append", default=[], metavar="NAME=VALUE",
                    help="a training setting for every spec (TrainConfig field)")
    ap.add_argument("--workers", type=int, default=1, help="training processes (timings then share the CPU)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    specs = make_specs(args.seed, args.count, args.only)
    print(f"conformance: {len(specs)} specs, generator seed {args.seed}, {args.seeds} training seed(s) each; "
          f"specs in {OUT.relative_to(ROOT)}/", flush=True)
    overrides = dict(o.split("=", 1) for o in args.option)
    t_all = time.time()
    jobs = [(prepare(family, index, text), args.seeds, overrides) for family, index, text in specs]
    pool = None
    if args.workers > 1:
        import multiprocessing as mp

        pool = mp.get_context("spawn").Pool(args.workers)
    done = pool.imap(train_spec, jobs) if pool else map(train_spec, jobs)
    recs = []
    for rec in done:
        recs.append(rec)
        if rec["optimum"] is None:
            print(f"  {rec['spec']}: NO OPTIMUM ({rec['solve_error']})", flush=True)
            continue
        vals = ", ".join(f"{x['value']:.4g}{'' if x['ok'] else ' FAIL'} ({x['seconds']:.1f}s)" for x in rec["runs"])
        sup = " sup" if rec["supremum"] else ""
        print(f"  {rec['spec']}: optimum {rec['optimum']:.4g}{sup} (solve {rec['solve_seconds']:.1f}s); "
              f"learned {vals}", flush=True)
    total = time.time() - t_all
    if pool:
        pool.close()

    print()
    print(summary_table(recs))
    fails = failure_table(recs)
    print()
    print("failures:" if fails else "failures: none")
    if fails:
        print(fails)
    n_runs = sum(max(1, len(r["runs"])) for r in recs)
    ok = sum(x["ok"] for r in recs for x in r["runs"])
    print()
    print(f"success {ok}/{n_runs} = {100 * ok / max(1, n_runs):.1f}% (target >= 98%); total {total:.0f}s")
    if args.json:
        Path(args.json).write_text(json.dumps({"seed": args.seed, "seeds": args.seeds, "options": overrides,
                                               "total_seconds": total,
                                               "specs": recs}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
