"""How the evaluator's and the exact solver's time grow with agents, types and messages.

Builds sequential-price-with-messages models programmatically (n agents, one item,
values uniform on `types` points of [0, 1], `messages` messages each, prices at 0 and
the midpoints of the values, welfare objective, MW with T = 1000) and prints, per
model: its size, the median time of `evaluate` on a batch of random policies, and the
median time of `solve` under both follower models (or the size error it raises).

    python bench/evaluator.py            # under a minute on two cores
    python bench/evaluator.py --repeats 5
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mechdsl.compiler.build import build_ir  # noqa: E402
from mechdsl.compiler.errors import MechSizeError  # noqa: E402
from mechdsl.compiler.model import (  # noqa: E402
    Aggregate,
    Binary,
    Const,
    Dynamics,
    Follower,
    Item,
    Leader,
    Model,
    Outcome,
    Rounds,
    TypeField,
    Var,
)
from mechdsl.evaluate import Policy, Tables, evaluate  # noqa: E402
from mechdsl.solve import solve  # noqa: E402

BATCH = 1024
SLOW = 5.0  # seconds: a solve this slow is timed once


def spm_like(agents: int, types: int, messages: int) -> Model:
    values = list(np.linspace(0.0, 1.0, types)) if types > 1 else [1.0]
    grid = [0.0] + [(a + b) / 2 for a, b in zip(values, values[1:])]
    followers = [
        Follower(
            name=f"a{i + 1}", fields=[TypeField(name="value", kind="scalar")],
            type_labels=[f"value={v:g}" for v in values], type_values={"value": [float(v) for v in values]},
            action_name="message", action_labels=[str(k) for k in range(messages)],
            action_values=[float(k) for k in range(messages)],
        )
        for i in range(agents)
    ]
    prior = [1.0 / types**agents] * types**agents

    def quasi_linear(i: int):
        return Binary(op="-", left=Outcome(what="worth", agent=Const(value=i)), right=Outcome(what="paid", agent=Const(value=i)))

    welfare = Aggregate(func="sum", var="i", domain="agents", body=Outcome(what="worth", agent=Var(name="i")))
    return Model(
        name=f"spm_n{agents}_t{types}_m{messages}", items=[Item(name="good")], followers=followers, prior=prior,
        leader=Leader(observe=list(range(agents)), rounds=Rounds(price_kind="grid", grid=grid)),
        utilities=[quasi_linear(i) for i in range(agents)], objective=welfare,
        objective_name="welfare", dynamics=Dynamics(equilibrium=1000, reward=100),
    )


def random_policies(ir, batch: int, gen: torch.Generator) -> Policy:
    legal = torch.tensor(ir.legal, dtype=torch.float64)  # [S, K]
    act = torch.multinomial(legal, batch, replacement=True, generator=gen).T  # [B, S]
    return Policy(action=act.contiguous())


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_solve(ir, model: str, repeats: int) -> str:
    """Median over repeats after a first run; a first run over SLOW seconds is not repeated (*)."""
    try:
        t0 = time.perf_counter()
        sol = solve(ir, model)
        first = time.perf_counter() - t0
    except MechSizeError as err:
        return "too large: " + err.message.split(" (")[0].split(",")[0]
    if first > SLOW or repeats <= 1:
        t, mark = first, "*"
    else:
        t, mark = median_time(lambda: solve(ir, model), repeats), " "
    extra = f"{sol.policies_enumerated} MW runs" if model == "mw" else f"{sol.profiles_solved} MILPs"
    return f"{t:7.2f}s{mark} value {sol.value:.4g}  ({sol.policies_total} policies, {extra})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    rows = [
        ("agents", 1, 3, 1), ("agents", 2, 3, 1), ("agents", 3, 3, 1), ("agents", 4, 3, 1),
        ("types", 2, 2, 2), ("types", 2, 3, 2), ("types", 2, 4, 2),
        ("messages", 2, 2, 1), ("messages", 2, 2, 2), ("messages", 2, 2, 3),
    ]
    print(f"evaluate: median of {args.repeats} calls on {BATCH} random policies; solve: median of "
          f"{args.repeats} runs after a first one (* : one run, over {SLOW:g}s); 1 torch thread\n")
    head = f"{'vary':9} {'n':>2} {'T':>2} {'M':>2} {'infosets':>8} {'TxA':>6} {'evaluate':>10}  {'solve mw':<58} solve favourable"
    print(head)
    print("-" * len(head))
    t_start = time.perf_counter()
    for vary, n, t, m in rows:
        ir = build_ir(spm_like(n, t, m))
        tb = Tables(ir)
        pol = random_policies(ir, BATCH, gen)
        ev = median_time(lambda: evaluate(tb, pol), args.repeats)
        mw = bench_solve(ir, "mw", args.repeats)
        fav = bench_solve(ir, "favourable", args.repeats)
        size = f"{ir.n_type_profiles}x{ir.n_action_profiles}"
        print(f"{vary:9} {n:>2} {t:>2} {m:>2} {ir.n_infosets:>8} {size:>6} {ev * 1e3:8.1f}ms  {mw:<58} {fav}", flush=True)
    print(f"\ntotal {time.perf_counter() - t_start:.0f}s")


if __name__ == "__main__":
    main()
