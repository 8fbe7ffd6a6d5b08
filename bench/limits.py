"""How long the compiler takes on abusive but legal inputs, and how fast it refuses
oversized ones (the unit tests check the answers; the times are measured here, on a
shared machine, as medians of a few runs).

    python bench/limits.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mechdsl.compiler import load, loads  # noqa: E402
from mechdsl.compiler.build import build_ir  # noqa: E402
from mechdsl.compiler.errors import MechError  # noqa: E402
from mechdsl.compiler.tree import tree_summary  # noqa: E402

TAIL = "leader { choose c in {A, B} }\nutility = 0\nobjective = 0\n"
CASES = {
    "8,000 chained params": lambda: loads("".join(f"param p{k} = p{k - 1} + 1\n" if k else "param p0 = 0\n"
                                                  for k in range(8000)) + "agent a { action m in {A} }\n" + TAIL),
    "unique of 100,000 numbers": lambda: loads("agent a { action m in unique(range(50000) + range(50000)) }\n" + TAIL),
    "150,000-character docstring (refused)": lambda: loads('"""' + "x" * 150_000 + '"""\n'),
    "10 MB spec (refused)": lambda: loads('"""' + "x" * 10_000_000 + '"""\n'),
    "80,000 tokens (refused)": lambda: loads("param x = [" + "1, " * 40_000 + "1]\n"),
    "98,000-character docstring": lambda: loads('"""' + "x\n" * 49_000 + '"""\nagent a { action m in {A} }\n' + TAIL),
    "tests/fixtures/features.mech to IR + tree": lambda: tree_summary(build_ir(load(ROOT / "tests" / "fixtures" / "features.mech"))),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"{'case':<44} {'median s':>9} {'max s':>7}  outcome")
    for name, fn in CASES.items():
        times, outcome = [], "ok"
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            try:
                fn()
            except MechError as e:
                outcome = f"{e.__class__.__name__}: {e.message[:40]}"
            times.append(time.perf_counter() - t0)
        print(f"{name:<44} {statistics.median(times):>9.3f} {max(times):>7.3f}  {outcome}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
