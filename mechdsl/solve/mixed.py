"""Mixed commitments (`choose ... mixed`): class-wise mixtures from the per-profile LPs,
attained under the favourable model, a supremum approached from the interior under MW."""
from __future__ import annotations

import numpy as np

from compiler.errors import MechSizeError
from mechdsl.dynamics import MWConfig
from mechdsl.solve.answer import Solution, check_policy, finish, none_found
from mechdsl.solve.profile_lp import INTERIOR_STEP, solve_profiles
from mechdsl.solve.pure import solve_pure_mw
from mechdsl.solve.space import VALUE_TOL, fmt_count, PolicySpace


def _mixed_policy(space: PolicySpace, xs: list[np.ndarray]) -> tuple[list[int], list[list[float]]]:
    """Class-wise mixtures over distinct sub-policies -> actions [S] and probs [S][K]."""
    ir = space.tb.ir
    K = ir.n_actions
    actions = space.actions([0] * len(xs))
    probs = [[1.0 if k == a else 0.0 for k in range(K)] for a in actions]
    for c, x in enumerate(xs):
        root = ir.root[c]
        row = [0.0] * K
        x = np.where(x > 1e-12, x, 0.0)
        x = x / x.sum()
        for j, w in enumerate(x):
            if w <= 0:
                continue
            sub = space.subs[c][j]
            row[sub[root]] += float(w)
            for s, k in sub.items():
                if s != root:
                    actions[s] = k
                    probs[s] = [1.0 if q == k else 0.0 for q in range(K)]
        tot = sum(row)
        row = [r / tot for r in row]
        probs[root] = row
        actions[root] = int(np.argmax(row))
    return actions, probs


def solve_mixed(space: PolicySpace, cfg: MWConfig, follower_model: str, limit: int) -> Solution:
    ir = space.tb.ir
    groups = [[sub[ir.root[c]] for sub in space.subs[c]] for c in range(len(space.subs))]
    strict = follower_model == "mw"
    best, solved = solve_profiles(space, groups, strict=strict)
    if not strict:
        if best is None:
            return none_found(space, follower_model, solved)
        actions, probs = _mixed_policy(space, best["xs"])
        ref, strategies, reg = check_policy(space.tb, cfg, actions, probs, best["strategies"])
        note = "leader-favourable equilibrium; mixed leader choices (one linear program per follower profile)"
        return finish(space, follower_model, ref, ref, True, False, actions, probs, strategies, reg, note, profiles=solved)
    # mw: the LP optimum is a supremum, approached from the interior
    pure_sol = None
    if space.total <= limit:
        pure_sol = solve_pure_mw(space, cfg, limit)
    if best is None:
        if pure_sol is None:
            raise MechSizeError(f"{fmt_count(space.total)} leader policies, limit {fmt_count(limit)}")
        pure_sol.note = "no follower profile can be made a strict best response; best pure policy"
        return pure_sol
    actions, probs = _mixed_policy(space, best["interior"])
    ref, strategies, reg = check_policy(space.tb, cfg, actions, probs, None)
    sup = best["value"]
    if pure_sol is not None and pure_sol.value is not None and pure_sol.value >= sup - VALUE_TOL:
        pure_sol.note = "no mixture does better than this pure policy"
        pure_sol.profiles_solved = solved
        return pure_sol
    exact = bool(best.get("strict_at_optimum")) and abs(ref - sup) <= 1e-7
    if exact:
        actions, probs = _mixed_policy(space, best["xs"])
        ref, strategies, reg = check_policy(space.tb, cfg, actions, probs, None)
        exact = abs(ref - sup) <= 1e-7
    note = (
        "optimum attained" if exact else
        f"supremum; attained in the limit (the optimal mixture leaves a follower indifferent; "
        f"this policy moves {INTERIOR_STEP:g} of probability toward the interior so the response is strict)"
    )
    if strategies != best["strategies"]:
        note += "; warning: MW did not settle on the profile the supremum assumes"
    return finish(space, "mw", sup, ref, exact, not exact, actions, probs, strategies, reg, note,
                   enumerated=pure_sol.policies_enumerated if pure_sol else 0, profiles=solved)


# ---------------------------------------------------------------------------
# reading the answer
# ---------------------------------------------------------------------------
