"""Branch and bound on spaces plain enumeration cannot take (mechdsl/solve/branch.py).

    python bench/branch.py                    # the spm_grid rows
    python bench/branch.py --limit 2e3        # a smaller budget of work per row
    python bench/branch.py --enumerate        # plain enumeration too, where it fits 1e6

Each row builds the policy space of `specs/paper/spm_grid.mech` (MW followers, the
spec's pessimistic ties) and runs `branch_mw` on it with `--limit` as its budget of
work (partial policies opened + policies run through MW), as `mechdsl solve` does past
its enumeration limit; it prints the policy count, the partial policies opened, the policies
run through MW (the incumbent's coordinate ascent included), the value, the proven bound,
the gap, the symmetries used and the seconds (the favourable starts' LPs included; the
certificate `solve` adds is not).  Single-threaded and deterministic; only seconds vary.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROWS = [("types=3", "messages=2"), ("types=3", "messages=3"), ("types=5", "messages=2"), ("types=4", "messages=3"),
        ("types=5", "messages=3")]
SPEC = "specs/paper/spm_grid.mech"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=float, default=1e6, help="branch-and-bound work (nodes + policies run)")
    ap.add_argument("--enumerate", action="store_true", help="also enumerate the rows with at most 1e6 policies")
    args = ap.parse_args()
    import torch

    from mechdsl.dynamics import MWConfig
    from mechdsl.evaluate import Tables, single_thread
    from mechdsl.options import load_ir
    from mechdsl.solve.branch import branch_mw
    from mechdsl.solve.mw_search import search_mw
    from mechdsl.solve.space import build_space, fmt_count

    torch.set_num_threads(1)
    head = "| spec | policies | nodes | MW runs | value | root bound | bound | gap | proven | symmetries | seconds |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for sets in ROWS:
        name = f"spm_grid {' '.join(sets)}"
        ir = load_ir(str(ROOT / SPEC), sets)
        with single_thread():
            t0 = time.perf_counter()
            space = build_space(ir, Tables(ir), 10**6)
            cfg = MWConfig.from_ir(ir)
            res = branch_mw(space, cfg, int(args.limit))
            secs = time.perf_counter() - t0
            print(f"| {name} | {fmt_count(space.total)} | {res.nodes} | {res.leaves} | {res.value:.6g} | "
                  f"{res.root_bound:.6g} | {res.bound:.6g} | {res.bound - res.value:.3g} | "
                  f"{'yes' if res.proven else 'no'} | {res.symmetries} | {secs:.1f} |", flush=True)
            if args.enumerate and space.total <= 10**6:
                t0 = time.perf_counter()
                _, value, ran, _ = search_mw(space, cfg, 10**6)
                print(f"| {name}, enumerated | {fmt_count(space.total)} | - | {ran} | {value:.6g} | - | {value:.6g} | "
                      f"0 | yes | - | {time.perf_counter() - t0:.1f} |", flush=True)


if __name__ == "__main__":
    main()
