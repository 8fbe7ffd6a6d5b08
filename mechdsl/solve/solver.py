"""`solve`: the front door of the exact solver; it builds the policy space and hands it to
the pure or mixed solver for the chosen follower model."""
from __future__ import annotations

import time
from typing import Optional


from mechdsl.compiler.errors import MechSizeError, MechUsageError
from mechdsl.compiler.ir import GameIR
from mechdsl.dynamics import MWConfig
from mechdsl.evaluate import Tables, single_thread
from mechdsl.certificate import certify, certify_profile
from mechdsl.solve.answer import Solution, policy_tensor
from mechdsl.solve.mixed import solve_mixed
from mechdsl.solve.pure import solve_pure_favourable, solve_pure_mw
from mechdsl.solve.space import build_space
from mechdsl.ties import READINGS

DEFAULT_LIMIT = 1_000_000  # leader policies to enumerate (after merging equivalent ones)
FOLLOWER_MODELS = ("mw", "favourable")


def solve(ir: GameIR, follower_model: str = "mw", limit: int = DEFAULT_LIMIT, ties: Optional[str] = None) -> Solution:
    """The leader's optimal policy for a compiled spec (see the module docstring).

    `ties`: how exact ties in the MW followers' final weights are read (`mechdsl.ties`;
    default: the spec's `dynamics` block, else pessimistic).  The answer carries its
    certificate.  Raises MechSizeError when the spec is too large for exact solving
    (`limit`: the most leader policies to enumerate, and the most sub-policies in one
    class)."""
    if ties is not None and ties not in READINGS:
        raise MechUsageError(f"unknown tie reading {ties!r}", hint="use one of: " + ", ".join(READINGS))
    if follower_model not in FOLLOWER_MODELS:
        raise MechUsageError(
            f"unknown follower model {follower_model!r}", hint="use one of: " + ", ".join(FOLLOWER_MODELS)
        )
    if ir.interval is not None:
        raise _at_leader(MechSizeError(
            "continuous (interval) prices give infinitely many leader policies; exact solving needs a finite grid",
            hint="write `price each item in [...]` with a list of prices",
        ), ir)
    from mechdsl.memory import require_exact

    require_exact(ir, "exact solving", "train instead: `mechdsl train SPEC` (sampled mode, --mode auto, needs no "
                  "payoff tensors), or use fewer agents, types or messages")
    t0 = time.perf_counter()
    try:
        with single_thread():
            tb = Tables(ir)
            cfg = MWConfig.from_ir(ir, ties)
            space = build_space(ir, tb, limit)
            if ir.mixed:
                sol = solve_mixed(space, cfg, follower_model, limit)
            elif follower_model == "mw":
                sol = solve_pure_mw(space, cfg, limit)
            else:
                sol = solve_pure_favourable(space, cfg)
            sol.ties = cfg.ties
            if sol.value is not None:
                policy = policy_tensor(ir, sol.actions, sol.probs)
                sol.certificate = (certify(ir, policy, cfg.ties, mw=cfg, tb=tb) if follower_model == "mw" else
                                   certify_profile(ir, policy, sol.follower_profile, tb=tb))
    except MechSizeError as err:  # too many policies: point at what the leader chooses
        raise _at_leader(err, ir) from None
    sol.distinct_subpolicies = space.counts
    sol.policies_total = space.total
    sol.seconds = round(time.perf_counter() - t0, 3)
    return sol


def _at_leader(err: MechSizeError, ir: GameIR) -> MechSizeError:
    """Give a size error the position of the leader's choice (or rounds) and the file."""
    leader = ir.model.leader
    spans = [c.span for c in leader.choices] + [leader.rounds.span if leader.rounds else None]
    err.span = err.span or next((s for s in spans if s is not None), None)
    err.path = err.path or ir.model.path
    return err
