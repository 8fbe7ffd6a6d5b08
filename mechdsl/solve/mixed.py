"""Mixed commitments (`choose ... mixed`): class-wise mixtures from the per-profile LPs,
attained under the favourable model; under MW, read as the tie reading reads the
followers' ties (`profile_lp.read_profile`): attained where the reading attains the
optimum, else a supremum approached from the interior."""
from __future__ import annotations

import math

import numpy as np

from mechdsl.compiler.errors import MechSizeError
from mechdsl.dynamics import MWConfig
from mechdsl.solve import budget
from mechdsl.solve.answer import Solution, check_policy, finish, none_found
from mechdsl.solve.dobss import dobss_reason, solve_dobss
from mechdsl.solve.profile_lp import INTERIOR_STEP
from mechdsl.solve.profile_search import ranked_profiles, solve_profiles
from mechdsl.solve.pure import solve_pure_mw
from mechdsl.solve.space import VALUE_TOL, fmt_count, PolicySpace

CHECK_TOL = 1e-7  # the reference value agrees with the LP's (relative to max(1, |value|))
VERIFY_LIMIT = 256  # candidate profiles whose LP mixture is checked under MW, best first


def mixed_policy(space: PolicySpace, xs: list[np.ndarray]) -> tuple[list[int], list[list[float]]]:
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


def answer_policy(space: PolicySpace, res: dict) -> tuple[list[float], list[int], list[list[float]]]:
    """A profile's answer (`profile_lp.read_profile`) as a policy: its optimal weights
    where attained, else its interior point -> (weights per class, actions, probs)."""
    xs = res["xs"] if res["attained"] else res["interior"]
    return (xs, *mixed_policy(space, xs))


def _solve_dobss(space: PolicySpace, cfg: MWConfig, follower_model: str) -> Solution:
    """The favourable optimum by one MILP (`mechdsl.solve.dobss`), checked by the reference evaluation."""
    ans = solve_dobss(space)
    actions, probs = mixed_policy(space, ans.xs)
    ref, strategies, reg = check_policy(space.tb, cfg, actions, probs, ans.strategies)
    if abs(ref - ans.value) > CHECK_TOL * max(1.0, abs(ans.value)):
        raise RuntimeError(f"DOBSS value {ans.value!r} disagrees with the reference evaluation {ref!r}")
    note = "leader-favourable equilibrium; mixed leader choices (one mixed-integer program, DOBSS)"
    return finish(space, follower_model, ref, ref, True, False, actions, probs, strategies, reg, note)


def solve_mixed(space: PolicySpace, cfg: MWConfig, follower_model: str, limit: int,
                method: str = "auto") -> Solution:
    """method (favourable model): `auto` (DOBSS where it applies, else one LP per follower
    profile), `dobss` or `profiles`."""
    groups = space.root_groups()
    reason = None
    if follower_model != "mw" and method != "profiles":
        reason = dobss_reason(space)
        if reason is None:
            return _solve_dobss(space, cfg, follower_model)
        if method == "dobss":
            raise MechSizeError(f"DOBSS does not apply: {reason}")
    if follower_model != "mw":
        try:
            best, solved = solve_profiles(space, groups, strict=False)
        except MechSizeError as err:  # say why the one-MILP route was not taken
            if reason is not None:
                err.hint = f"{err.hint}; the single MILP (DOBSS) does not apply here: {reason}"
            raise
        if best is None:
            return none_found(space, follower_model, solved)
        actions, probs = mixed_policy(space, best["xs"])
        ref, strategies, reg = check_policy(space.tb, cfg, actions, probs, best["strategies"])
        note = "leader-favourable equilibrium; mixed leader choices (one linear program per follower profile)"
        return finish(space, follower_model, ref, ref, True, False, actions, probs, strategies, reg, note, profiles=solved)
    # mw: each profile's LP read as the followers' tie reading reads ties
    pure_sol = None
    if space.total <= limit:
        pure_sol = solve_pure_mw(space, cfg, limit)
    floor = pure_sol.value if pure_sol is not None and pure_sol.value is not None else -math.inf
    cands, solved = ranked_profiles(space, groups, cfg.ties, floor)
    if not cands:
        if pure_sol is None:
            raise MechSizeError(f"{fmt_count(space.total)} leader policies, limit {fmt_count(limit)}")
        pure_sol.note = (f"optimum attained by a pure policy (ties read {cfg.ties}); no mixture does better"
                         if floor > -math.inf else
                         f"no follower profile is played under the {cfg.ties} tie reading; best pure policy")
        pure_sol.profiles_solved = solved
        return pure_sol
    enumerated = pure_sol.policies_enumerated if pure_sol else 0
    top = cands[0]["value"]
    # MW followers learning against each other need not settle on a profile at its LP's
    # mixture: verify the candidates best first and keep the first one they do play
    first = None  # the best profile's policy and its reference numbers
    for k, best in enumerate(cands[:VERIFY_LIMIT]):
        budget.check(f"checking the best follower profiles' mixtures under MW ({k} checked)")
        value, attained = best["value"], bool(best["attained"])
        xs, actions, probs = answer_policy(space, best)
        ref, strategies, reg = check_policy(space.tb, cfg, actions, probs, None)
        first = first or (actions, probs, ref, strategies, reg)
        expected = float(sum(g @ x for g, x in zip(best["prob"].g, xs)))  # the profile's value at this policy
        if abs(ref - expected) > CHECK_TOL * max(1.0, abs(value)):
            continue
        proven = value >= top - VALUE_TOL
        if attained:
            note = f"optimum attained (ties read {cfg.ties})"
        else:
            note = (f"supremum, approached but never reached with ties read {cfg.ties}: at the optimal mixture a "
                    f"follower is indifferent and the reading breaks the tie against the leader's optimum; this "
                    f"policy moves {INTERIOR_STEP:g} of probability toward the interior so the response is strict")
        if best.get("piece"):
            note += "; the best over the round sub-policies of one LP optimum (a tie forced there was resolved within it)"
        if not proven:
            note = (f"warning: MW does not play the follower profile at the mixtures of the {k} better profiles "
                    f"(up to {top:.10g} claimed); the best mixture whose profile MW plays: {note}; not proven optimal")
        return finish(space, "mw", value, ref, attained and proven, not attained, actions, probs, strategies, reg,
                      note, enumerated=enumerated, profiles=solved)
    claim = (f"warning: MW does not play the follower profile at the mixture of any of the "
             f"{min(len(cands), VERIFY_LIMIT)} best profiles (up to {top:.10g} claimed); not proven optimal")
    if pure_sol is not None and pure_sol.value is not None:
        pure_sol.note = claim + "; best pure policy"
        pure_sol.exact, pure_sol.profiles_solved = False, solved
        return pure_sol
    actions, probs, ref, strategies, reg = first
    return finish(space, "mw", ref, ref, False, False, actions, probs, strategies, reg, claim + "; this policy's value",
                  enumerated=enumerated, profiles=solved)


# ---------------------------------------------------------------------------
# reading the answer
# ---------------------------------------------------------------------------
