"""DOBSS (one MILP) against the enumeration of follower profiles (one LP each) on a
Bayesian security game: 3 targets, one defender resource committed as a mixture, an
attacker of K private kinds (uniform) with random integer payoffs per target and kind.

    python bench/dobss.py                 # K = 2, 4, 6, 8, 10, 12
    python bench/dobss.py --types 2 10 --seed 3

The attacker has 3^K pure strategies; the enumeration runs only where that is within
`MAX_PROFILES`.  Times include building the policy space and the reference check (the
same for both), not compiling; one thread.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mechdsl.compiler import loads  # noqa: E402
from mechdsl.compiler.build import build_ir  # noqa: E402
from mechdsl.dynamics import MWConfig  # noqa: E402
from mechdsl.evaluate import Tables, single_thread  # noqa: E402
from mechdsl.solve.mixed import solve_mixed  # noqa: E402
from mechdsl.solve.profile_search import MAX_PROFILES  # noqa: E402
from mechdsl.solve.profiles import profile_count  # noqa: E402
from mechdsl.solve.space import build_space  # noqa: E402

TARGETS = ("t1", "t2", "t3")


def spec(K: int, seed: int) -> str:
    rng = random.Random(seed * 1000 + K)
    mat = lambda lo, hi: "[" + ", ".join(
        "[" + ", ".join(str(rng.randint(lo, hi)) for _ in range(K)) + "]" for _ in TARGETS) + "]"
    vec = lambda lo, hi: "[" + ", ".join(str(rng.randint(lo, hi)) for _ in TARGETS) + "]"
    return f"""
agent attacker {{
    type kind ~ uniform [{", ".join(str(k) for k in range(K))}]
    action attack in {{{", ".join(TARGETS)}}}
}}

leader {{
    choose cover in {{{", ".join(TARGETS)}}} mixed
}}

table gain[attack, kind] = {mat(1, 9)}
table loss[attack, kind] = {mat(-9, 0)}
table caught[attack] = {vec(1, 9)}
table lost[attack] = {vec(-9, -1)}

utility attacker = if cover == attack then loss[attack, kind] else gain[attack, kind]
objective = if cover == attack then caught[attack] else lost[attack]
"""


def timed(space, cfg, method: str):
    t0 = time.perf_counter()
    sol = solve_mixed(space, cfg, "favourable", 10_000, method=method)
    return sol, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--types", type=int, nargs="+", default=[2, 4, 6, 8, 10, 12])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"{'types':>5} {'profiles':>9} {'dobss s':>8} {'enum s':>8} {'dobss value':>14} {'enum value':>14} agree")
    with single_thread():
        warm = build_ir(loads(spec(2, args.seed)))  # imports and first-call costs out of the table
        solve_mixed(build_space(warm, Tables(warm), 10_000), MWConfig.from_ir(warm), "favourable", 10_000)
        for K in args.types:
            ir = build_ir(loads(spec(K, args.seed)))
            P = profile_count(ir)
            space = build_space(ir, Tables(ir), 10_000)
            cfg = MWConfig.from_ir(ir)
            d, td = timed(space, cfg, "dobss")
            if P <= MAX_PROFILES:
                e, te = timed(space, cfg, "profiles")
                agree = "yes" if abs(d.value - e.value) <= 1e-7 * max(1.0, abs(e.value)) else "NO"
                print(f"{K:>5} {P:>9} {td:>8.3f} {te:>8.3f} {d.value:>14.9f} {e.value:>14.9f} {agree}")
            else:
                print(f"{K:>5} {P:>9} {td:>8.3f} {'-':>8} {d.value:>14.9f} {'-':>14} (past MAX_PROFILES)")


if __name__ == "__main__":
    main()
