"""Exact local search after training: the learned map's neighbours, evaluated exactly.

Why it exists.  The Stackelberg POMDP samples the followers' dynamics (the paper's
Algorithm 2), and policy gradient follows that sampled signal.  Two kinds of optimum
escape it: knife-edge maps whose worth shows only in the exact, expected dynamics
(a follower exactly indifferent at its final play: a payoff tie that expected MW breaks
through its transient and sampling breaks at random; see docs/solutions.md), and maps whose better neighbours differ in two observation classes
at once (no single class's change improves, so no gradient step leads there).

When a map's exact worth is cheap (`StackelbergPOMDP.exact`: evaluation, expected MW,
the tie reading), the trainer ends with a deterministic hill climb on that exact
objective.  A *move* replaces what the map does in one observation class (every
sub-policy below the class's first information set, or a single information set's
action when the class has more than `CLASS_LIMIT` sub-policies); a step evaluates every
single move; when none improves, every pair of moves in two different classes; when
none of those improves either, one more move from each of the `STONES` best
uncertified maps seen (a higher value whose followers' regret is above tolerance: one
class's change can restore the equilibrium another's broke).  It takes the first
improvement so found and repeats.  Maps compare as `rank` orders them:
certified (regret within tolerance) first, then value -- so polishing never trades an
equilibrium for a higher-regret number.  It stops when nothing improves or when the
next neighbourhood would pass the budget of exactly evaluated maps (`TrainConfig.polish`,
and at most `WORK` payoff-cell updates of the followers' dynamics in all, so that the
climb stays within about a minute and stops at the same place on every machine).
Pure maps of the exact POMDP only: maps with mixed rows or continuous prices, and maps
valued on samples (sampled mode), are returned unchanged.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from mechdsl.bne import profile_count
from mechdsl.evaluate import Policy, single_thread
from mechdsl.followers import LEARNING
from mechdsl.memory import exact_training_bytes
from mechdsl.pomdp import Exact, StackelbergPOMDP
from mechdsl.solve.space import count_subpolicies, enumerate_subpolicies

STONES = 8  # uncertified improvements a repair step starts from
CLASS_LIMIT = 256  # sub-policies per class enumerated as moves; beyond, one information set at a time
WORK = 10**9  # at most this many payoff-cell updates (maps x (n+1) x T x A x rounds or profiles): ~1 min
CHUNK_BYTES = 256 << 20  # payoff memory per batch of exact evaluations
Rank = Callable[[Exact], tuple]


@dataclass
class PolishReport:
    """What the hill climb did (kept in the run's results)."""

    learned: float  # exact value of the map training ended with
    value: float  # exact value after polishing
    steps: int = 0  # improvements taken
    evaluated: int = 0  # maps evaluated exactly
    seconds: float = 0.0
    stopped: str = ""  # "local optimum" | "budget" | why it did not run
    moves: list[str] = field(default_factory=list)  # one line per improvement
    method: str = "exact local search"  # or "linear programs" (mechdsl.refine: `evaluated` counts follower profiles)

    def as_dict(self) -> dict:
        return {"learned": self.learned, "value": self.value, "steps": self.steps, "evaluated": self.evaluated,
                "seconds": self.seconds, "stopped": self.stopped, "moves": list(self.moves), "method": self.method}


def class_moves(pomdp: StackelbergPOMDP) -> list[list[dict[int, int]]]:
    """Per observation class, the assignments a move may write (see the module doc)."""
    ir = pomdp.ir
    out = []
    for c, root in enumerate(ir.root):
        if count_subpolicies(ir, root, CLASS_LIMIT + 1) <= CLASS_LIMIT:
            out.append(enumerate_subpolicies(ir, root, CLASS_LIMIT))
        else:
            sets = [s for s, info in enumerate(ir.infosets) if info.cls == c]
            out.append([{s: k} for s in sets for k, ok in enumerate(ir.legal[s]) if ok])
    return out


def polish(pomdp: StackelbergPOMDP, gmap: Policy, start: Exact, rank: Rank,
           budget: int) -> tuple[Policy, Exact, PolishReport]:
    """Hill-climb a one-row pure map (`start`: its `pomdp.exact`) on its exact worth;
    returns the map, its `Exact` and the report.  Deterministic: the same map gives the
    same answer."""
    with single_thread():
        return _climb(pomdp, gmap, start, rank, budget)


def _climb(pomdp: StackelbergPOMDP, gmap: Policy, start: Exact, rank: Rank,
           budget: int) -> tuple[Policy, Exact, PolishReport]:
    t0 = time.perf_counter()
    report = PolishReport(learned=float(start.value[0]), value=float(start.value[0]))
    if gmap.probs is not None or gmap.prices is not None:
        report.stopped = "not run: the map has mixed rows or continuous prices"
        return gmap, start, report
    if budget <= 0:
        report.stopped = "off"
        return gmap, start, report
    if type(pomdp) is not StackelbergPOMDP:  # e.g. sampled mode: its worth is an estimate, no ground to climb on
        report.stopped = "not run: the map's worth is estimated on samples, not exact"
        return gmap, start, report
    chunk = _chunk(pomdp)
    if chunk == 0:
        report.stopped = "not run: one map's exact evaluation is over the memory share"
        return gmap, start, report
    tb = pomdp.tb
    per_cell = pomdp.mw.rounds if pomdp.mw.model in LEARNING else profile_count(pomdp.ir)  # dynamics or BNE search
    budget = min(budget, WORK // max(1, (pomdp.ir.n_followers + 1) * tb.T * tb.A * max(1, per_cell)))
    moves = class_moves(pomdp)
    act, best = gmap.action[0].clone(), start
    report.stopped = "local optimum"
    while True:
        found, stones = None, []
        for stage in ("one class", "two classes", "repair"):
            if stage == "repair":  # from the best uncertified improvements, one more move
                cands = [c for _, a, _ in stones[:STONES] for c in _neighbours(a, moves, False)]
            else:
                cands = _neighbours(act, moves, stage == "two classes")
            if report.evaluated + len(cands) > budget:
                report.stopped = "budget"
                break
            report.evaluated += len(cands)
            rows = _exact_rows(pomdp, cands, chunk)
            j = max(range(len(rows)), key=lambda i: (rank(rows[i]), -i), default=None)
            if j is not None and better(rank(rows[j]), rank(best), pomdp.span):
                found = (cands[j][0], rows[j], f"{stage} ({cands[j][1]})")
                break
            stones += [(float(e.value[0]), c[0], i) for i, (e, c) in enumerate(zip(rows, cands))
                       if float(e.value[0]) > float(best.value[0]) + 1e-9 * pomdp.span]
            stones.sort(key=lambda x: (-x[0], x[2]))
        if found is None:
            break
        act, best = found[0], found[1]
        report.steps += 1
        report.moves.append(f"{found[2]}: {float(best.value[0]):.6g}")
    report.value = float(best.value[0])
    report.seconds = time.perf_counter() - t0
    return Policy(action=act.unsqueeze(0)), best, report


def better(new: tuple, old: tuple, span: float) -> bool:
    """Strictly better by `rank`: certified where it was not, or a higher value (beyond
    float noise) at the same certification."""
    if new[0] != old[0]:
        return bool(new[0])
    return new[1] > old[1] + 1e-9 * span


def _neighbours(act: torch.Tensor, moves: list[list[dict[int, int]]], pairs: bool):
    """Every map one move (or one move in each of two classes) away, with a label."""
    out, seen = [], set()

    def apply(assigns: tuple[dict[int, int], ...]) -> torch.Tensor:
        a = act.clone()
        for d in assigns:
            for s, k in d.items():
                a[s] = k
        return a

    live = [[m for m in ms if any(int(act[s]) != k for s, k in m.items())] for ms in moves]
    groups = (itertools.combinations(range(len(live)), 2) if pairs else ((c,) for c in range(len(live))))
    for cs in groups:
        for combo in itertools.product(*(live[c] for c in cs)):
            a = apply(combo)
            key = a.numpy().tobytes()
            if key not in seen:
                seen.add(key)
                out.append((a, "classes " + "+".join(str(c) for c in cs)))
    return out


def _exact_rows(pomdp: StackelbergPOMDP, cands, chunk: int) -> list[Exact]:
    """Each candidate's `Exact`, evaluated `chunk` maps at a time."""
    out = []
    for i in range(0, len(cands), chunk):
        ex = pomdp.exact(Policy(action=torch.stack([a for a, _ in cands[i:i + chunk]])))
        for r in range(ex.value.shape[0]):
            out.append(Exact(value=ex.value[r:r + 1], normalized=ex.normalized[r:r + 1], regret=ex.regret[r:r + 1],
                             regret_fraction=ex.regret_fraction[r:r + 1],
                             strategies=[s[r:r + 1] for s in ex.strategies]))
    return out


def fits_chunk(ir) -> bool:
    """Whether one map's exact evaluation fits CHUNK_BYTES (polish, mechdsl.refine)."""
    return exact_training_bytes(ir, 1) <= CHUNK_BYTES


def cheap_exact(ir, rounds: int) -> bool:
    """Whether one map's exact worth is cheap: it `fits_chunk` and its followers' dynamics
    (`rounds` of them) take at most WORK payoff-cell updates.  What a sampled-mode seed
    asks before judging its answer exactly (mechdsl.train.final_judge)."""
    work = (ir.n_followers + 1) * ir.n_type_profiles * ir.n_action_profiles * max(1, rounds)
    return fits_chunk(ir) and work <= WORK


def _chunk(pomdp: StackelbergPOMDP) -> int:
    """Maps per exact evaluation batch within CHUNK_BYTES (0: not even one fits)."""
    return int(min(1024, CHUNK_BYTES // max(1, exact_training_bytes(pomdp.ir, 1))))
