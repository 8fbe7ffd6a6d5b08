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
from mechdsl.solve.budget import time_budget
from mechdsl.compiler.model import FOLLOWER_MODELS
from mechdsl.solve.mixed import solve_mixed
from mechdsl.solve.models import mixed_unsupported, solve_pure_model
from mechdsl.solve.pure import solve_pure_favourable, solve_pure_mw
from mechdsl.solve.space import build_space
from mechdsl.ties import READINGS

DEFAULT_LIMIT = 1_000_000  # leader policies to enumerate (after merging equivalent ones); beyond, B&B work


def solve(ir: GameIR, follower_model: Optional[str] = None, limit: int = DEFAULT_LIMIT,
          ties: Optional[str] = None, branch: bool = True, seconds: Optional[float] = None) -> Solution:
    """The leader's optimal policy for a compiled spec (see the module docstring).

    `follower_model`: how the followers respond (`mechdsl.followers`; default: the spec's
    `dynamics { model = ... }`, else mw).

    `ties`: how exact ties in the MW followers' final weights are read (`mechdsl.ties`;
    default: the spec's `dynamics` block, else pessimistic).  The answer carries its
    certificate.  Raises MechSizeError when the spec is too large for exact solving
    (`limit`: the most leader policies to enumerate, and the most sub-policies in one
    class).  Pure policies under `mw` beyond `limit` go to branch and bound
    (`mechdsl/solve/branch.py`), `limit` then capping its work: the answer is the
    optimum, or the best policy found with a proven bound (`bound`, `gap`, `exact`
    false).  branch False: a size error instead.  `seconds`: a wall-clock budget
    (`mechdsl.solve.budget`): branch and bound then answers as when `limit` runs out;
    the other stages stop with a size error."""
    if ties is not None and ties not in READINGS:
        raise MechUsageError(f"unknown tie reading {ties!r}", hint="use one of: " + ", ".join(READINGS))
    follower_model = follower_model or ir.model.dynamics.model
    if follower_model not in FOLLOWER_MODELS:
        from mechdsl.followers import check

        check(follower_model)
    if ir.interval is not None:
        per = "bundle" if ir.model.leader.rounds.bundle_prices else "item"
        raise _at_leader(MechSizeError(
            "continuous (interval) prices give infinitely many leader policies; exact solving needs a finite grid",
            hint=f"write `price each {per} in [...]` with a list of prices; `mechdsl train` learns the prices themselves",
        ), ir)
    for choice in ir.model.leader.choices:
        if choice.interval is not None:
            lo, hi = choice.interval
            raise _at_leader(MechSizeError(
                f"the continuous choice '{choice.name}' in [{lo:g}, {hi:g}] gives infinitely many leader policies; "
                "exact solving needs a finite set", span=choice.span,
                hint=f"solve a grid, `choose {choice.name} in linspace({lo:g}, {hi:g}, 21)`; `mechdsl train` learns "
                     "the number itself"), ir)
    from mechdsl.memory import require_exact

    require_exact(ir, "exact solving", "train instead: `mechdsl train SPEC` (sampled mode, --mode auto, needs no "
                  "payoff tensors), or use fewer agents, types or messages")
    t0 = time.perf_counter()
    try:
        with single_thread(), time_budget(seconds):
            tb = Tables(ir)
            cfg = MWConfig.from_ir(ir, ties, model=follower_model)
            if ir.mixed and follower_model not in ("mw", "favourable"):
                err = mixed_unsupported(follower_model)
                err.span = next((c.span for c in ir.model.leader.choices if c.mixed), None)
                err.path = ir.model.path
                raise err
            space = build_space(ir, tb, limit)
            if ir.mixed:
                sol = solve_mixed(space, cfg, follower_model, limit)
            elif follower_model == "mw":
                sol = solve_pure_mw(space, cfg, limit, branch)
            elif follower_model == "favourable":
                sol = solve_pure_favourable(space, cfg)
            else:
                sol = solve_pure_model(space, cfg, limit)
            sol.ties = cfg.ties
            if sol.value is not None:
                policy = policy_tensor(ir, sol.actions, sol.probs)
                sol.certificate = (certify_profile(ir, policy, sol.follower_profile, tb=tb, model=follower_model)
                                   if follower_model in ("favourable", "pessimistic") else
                                   certify(ir, policy, cfg.ties, mw=cfg, tb=tb))
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
