"""The certificate every reported mechanism carries: its value under each tie reading
and under the followers' actual final mixed strategies, the followers' regret (the
epsilon of the epsilon-B-CCE their play is) per follower and type, and a verdict.

`certified` means: every follower's regret is within `tol` of its payoff range, and the
tie readings (`first`, `pessimistic`, `favourable`) agree within `tol` of the
objective's range -- so the number does not hinge on how exact ties are read or on the
order a spec lists actions.  The value under the final mixed strategies is reported
beside them; when it differs, a note says MW had not converged (it does not change the
verdict: the reward phase plays the argmax of the weights, as in the paper).
"""
from __future__ import annotations

from typing import Optional

import torch
from pydantic import BaseModel

from mechdsl.compiler.ir import GameIR
from mechdsl.dynamics import MWConfig, leader_value, pure, regret
from mechdsl.evaluate import Policy, Tables, evaluate
from mechdsl.ties import DEFAULT, READINGS, immaterial, play, profile_values, tie_masks

TOL = 0.01  # as a fraction of the payoff ranges


class Certificate(BaseModel):
    follower_model: str = "mw"
    notion: str = ""  # the equilibrium notion the model reaches (mechdsl.followers.NOTION)
    ties: str  # the reading `value` is under
    value: float
    values: dict[str, float]  # first, pessimistic, favourable, mixed
    strategies: dict[str, dict[str, str]]  # follower -> type label -> action played under `ties`
    regret: dict[str, dict[str, float]]  # follower -> type label -> regret of that play (spec units)
    max_regret: float
    regret_fraction: float  # the largest regret as a fraction of its follower's payoff range
    mixed_regret: float  # of the final mixed strategies
    # the learning models' time-averaged joint play (a correlated distribution): its
    # external regret (coarse correlated equilibrium: small) and its swap regret per
    # follower and type (correlated equilibrium: small); None for the equilibrium models
    average_regret: Optional[float] = None
    swap_regret: Optional[dict[str, dict[str, float]]] = None
    max_swap_regret: Optional[float] = None
    tolerance: float
    exact_readings: bool = True
    verdict: str  # "certified" | "not certified"
    warnings: list[str] = []
    notes: list[str] = []
    # sampled mode (`mechdsl.estimate.certify_sampled`): estimates on `samples` type profiles
    sampled: bool = False
    samples: int = 0
    confidence: float = 0.0
    value_bound: Optional[float] = None  # half-width of the value's confidence interval
    regret_bound: Optional[float] = None  # upper confidence bound on the largest regret

    @property
    def certified(self) -> bool:
        return self.verdict == "certified"


def certify(ir: GameIR, policy: Policy, ties: str = DEFAULT, mw: Optional[MWConfig] = None,
            tb: Optional[Tables] = None, tol: float = TOL) -> Certificate:
    """The certificate of one leader policy (a one-row `Policy`) under the followers'
    model `mw.model` (default: the spec's; `mechdsl.followers`).  The learning models'
    certificates also carry the external and swap regret of the dynamics' time-averaged
    play (`mechdsl.followers.empirical_regrets`): the approximate (coarse) correlated
    equilibrium the dynamics have reached."""
    from mechdsl.followers import EQUILIBRIUM, NOTION, empirical_regrets, respond

    tb = tb or Tables(ir)
    mw = mw or MWConfig.from_ir(ir)
    pay = evaluate(tb, policy)
    if mw.model in EQUILIBRIUM:
        got = respond(tb, pay.U, pay.V, mw)
        cert = certify_profile(ir, policy, [s[0].tolist() for s in got.strat], tb=tb, tol=tol, model=mw.model)
        if not bool(got.found[0]):
            cert.warnings.append("no pure Bayes-Nash equilibrium at this policy: the followers play the pure "
                                 "profile of least regret")
            cert.verdict = "not certified"
        return cert
    values, played, exact = {}, {}, True
    resp = None
    for reading in READINGS:
        resp = respond(tb, pay.U, pay.V, mw, reading) if resp is None else resp
        strat, ok = play(tb, resp.scores, pay.V, reading)
        values[reading] = float(profile_values(tb, pay.V, strat)[0])
        played[reading] = strat
        exact = exact and bool(ok.all())
    if not exact:  # past the enumeration cap, but every joint reading is worth the same where no tie matters
        exact = bool(immaterial(tb, pay.V, tie_masks(resp.scores)).all())
    mixed = resp.mixed
    values["mixed"] = float(leader_value(tb, pay.V, mixed)[0])
    reg = regret(tb, pay.U, pure(played[ties], tb))[0]  # [n, Tmax]
    mixed_reg = regret(tb, pay.U, mixed)[0]
    cert = _verdict(ir, ties, values, played[ties], reg, float(mixed_reg.max()) if mixed_reg.numel() else 0.0,
                    exact, tol, mw)
    ext, swp = (r[0] for r in empirical_regrets(tb, pay.U, mw))
    followers = ir.model.followers
    swap_by = {followers[i].name: {lab: round(float(swp[i, t]), 12) for t, lab in enumerate(followers[i].type_labels)}
               for i in ir.model.people}
    worst_swap = round(float(swp.max()), 12) if swp.numel() else 0.0
    return cert.model_copy(update={"follower_model": mw.model, "notion": NOTION[mw.model],
                                   "average_regret": round(float(ext.max()) if ext.numel() else 0.0, 12),
                                   "swap_regret": swap_by, "max_swap_regret": worst_swap})


def certify_profile(ir: GameIR, policy: Policy, strategies: list[list[int]], tb: Optional[Tables] = None,
                    tol: float = TOL, model: str = "favourable") -> Certificate:
    """The certificate of a policy with a given pure follower profile (the `favourable`
    or `pessimistic` model's equilibrium): its value and the profile's regret; no tie
    readings apply."""
    from mechdsl.followers import NOTION

    tb = tb or Tables(ir)
    pay = evaluate(tb, policy)
    strat = [torch.tensor([s], dtype=torch.long) for s in strategies]
    value = float(profile_values(tb, pay.V, strat)[0])
    reg = regret(tb, pay.U, pure(strat, tb))[0]
    values = {r: value for r in READINGS}
    values["mixed"] = value
    cert = _verdict(ir, model, values, strat, reg, float(reg.max()) if reg.numel() else 0.0, True, tol,
                    MWConfig.from_ir(ir, model=model))
    return cert.model_copy(update={"follower_model": model, "notion": NOTION[model]})


def _verdict(ir: GameIR, ties: str, values: dict[str, float], strat, reg: torch.Tensor, mixed_reg: float,
             exact: bool, tol: float, mw: MWConfig) -> Certificate:
    from mechdsl.followers import rounds_words

    model = ir.model
    lo, hi = ir.objective_bounds
    span = (hi - lo) if hi > lo else 1.0
    regrets, strategies, worst, worst_frac = {}, {}, 0.0, 0.0
    warnings, notes = [], []
    for i in model.people:  # the chance state has no strategy and no regret
        f = model.followers[i]
        flo, fhi = ir.utility_bounds[i]
        fspan = (fhi - flo) if fhi > flo else 1.0
        regrets[f.name] = {lab: round(float(reg[i, t]), 12) for t, lab in enumerate(f.type_labels)}
        strategies[f.name] = {lab: f.action_labels[int(strat[i][0, t])] for t, lab in enumerate(f.type_labels)}
        for t, lab in enumerate(f.type_labels):
            r = float(reg[i, t])
            worst = max(worst, r)
            if r / fspan > worst_frac:
                worst_frac = r / fspan
            if r > tol * fspan + 1e-12:
                warnings.append(f"regret {r:.4g} of {f.name} ({lab}) is above the tolerance {tol * fspan:.4g}: "
                                f"its play is not an equilibrium {rounds_words(mw)}")
    readings = {r: values[r] for r in READINGS}
    if max(readings.values()) - min(readings.values()) > tol * span:
        shown = ", ".join(f"{r} {v:.6g}" for r, v in readings.items())
        warnings.append(f"the value depends on how exact ties in the followers' weights are read ({shown})")
    if not exact:
        warnings.append("too many joint tie choices to enumerate: the pessimistic/favourable readings are local optima")
    if abs(values["mixed"] - values[ties]) > tol * span:
        notes.append(f"the followers' final mixed strategies are worth {values['mixed']:.6g} "
                     f"(mixed regret {mixed_reg:.4g}): the dynamics have not converged {rounds_words(mw)}")
    return Certificate(
        ties=ties, value=values[ties], values={k: round(v, 12) for k, v in values.items()},
        strategies=strategies, regret=regrets, max_regret=round(worst, 12), regret_fraction=round(worst_frac, 12),
        mixed_regret=round(mixed_reg, 12), tolerance=tol, exact_readings=exact,
        verdict="not certified" if warnings else "certified", warnings=warnings, notes=notes,
    )


def render(cert: Certificate) -> list[str]:
    """The certificate as text lines."""
    vals = ", ".join(f"{k} {v:.6g}" for k, v in cert.values.items())
    lines = [f"certificate: {cert.verdict} (ties read {cert.ties}; regret {cert.max_regret:.3g}, "
             f"{100 * cert.regret_fraction:.2f}% of the payoff range; tolerance {100 * cert.tolerance:g}%)",
             f"  value by reading: {vals}"]
    if cert.notion:
        lines.append(f"  follower model {cert.follower_model}: {cert.notion}")
    if cert.max_swap_regret is not None:
        lines.append(f"  time-averaged play of the dynamics: external regret {cert.average_regret:.3g} (coarse "
                     f"correlated equilibrium), swap regret {cert.max_swap_regret:.3g} (correlated equilibrium)")
    lines += [f"  warning: {w}" for w in cert.warnings]
    lines += [f"  note: {n}" for n in cert.notes]
    return lines
