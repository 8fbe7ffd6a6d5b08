"""One (MI)LP per pure follower profile (scipy's HiGHS): the leader-favourable optimum
over pure policies, and the multiple-LP method for mixed commitments."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from compiler.errors import MechSizeError
from mechdsl.dynamics import MWConfig
from mechdsl.solve.batch_mw import BatchMW
from mechdsl.solve.profiles import all_profiles, profile_count, profile_table, Profiles
from mechdsl.solve.space import VALUE_TOL, fmt_count, PolicySpace

MAX_PROFILES = 20_000  # pure follower strategy profiles (one LP / MILP each)
INTERIOR_STEP = 1e-3  # how far a supremum policy is moved toward the interior


@dataclass
class _ProfileProblem:
    """Class-wise linear pieces of the leader's value and the followers' incentive
    constraints for one pure follower profile: with x_{c,j} the weight of distinct
    sub-policy j in class c, value = sum g[c] . x[c] and row r of IC = sum H[c][:, r] . x[c],
    which must be >= 0 (follower i of type t_i gains nothing by switching to a')."""

    g: list[np.ndarray]  # per class [N_c]
    H: list[np.ndarray]  # per class [N_c, R]
    rows: list[tuple[int, int, int]]  # (follower, type, deviation action)


class _ProfileBuilder:
    def __init__(self, space: PolicySpace, prof: Profiles):
        self.space = space
        self.prof = prof
        tb = space.tb
        ir = tb.ir
        self.tb = tb
        self.pos = []  # per class: [A] position of each action profile in the class, -1 outside
        for p in space.profiles:
            pos = torch.full((tb.A,), -1, dtype=torch.long)
            pos[torch.tensor(p, dtype=torch.long)] = torch.arange(len(p))
            self.pos.append(pos)
        self.strides = [math.prod(ir.action_counts[i + 1:]) for i in range(ir.n_followers)]
        prior = tb.prior
        self.cond = BatchMW(tb, MWConfig()).cond  # P(t_-i | t_i) per follower, [T]
        self.tmass = []  # per follower: which types have positive mass
        for i in range(ir.n_followers):
            mass = torch.zeros(ir.type_counts[i], dtype=tb.dtype).index_add_(0, tb.tidx[:, i], prior)
            self.tmass.append(mass > 0)
        self.gtab = profile_table(space, prof)

    def bound(self) -> torch.Tensor:
        """Per profile: the leader's best value ignoring incentives. [P]"""
        return sum(g.max(0).values for g in self.gtab)

    def build(self, p: int) -> _ProfileProblem:
        tb, space = self.tb, self.space
        n = tb.n
        act = self.prof.act[p]  # [T]
        rows: list[tuple[int, int, int]] = []
        devs = []  # (i, t_i, a') -> dev action profile per t [T] and weight [T]
        for i in range(n):
            s_i = self.prof.strat[i][p]  # [T_i]
            own = s_i[tb.tidx[:, i]]  # [T]
            for ti in range(tb.ir.type_counts[i]):
                if not bool(self.tmass[i][ti]):
                    continue
                for a2 in range(tb.ir.action_counts[i]):
                    if a2 == int(s_i[ti]):
                        continue
                    rows.append((i, ti, a2))
                    dev = act + (a2 - own) * self.strides[i]
                    w = torch.where(tb.tidx[:, i] == ti, self.cond[i], torch.zeros_like(self.cond[i]))
                    devs.append((i, dev, w))
        g, H = [], []
        tix = torch.arange(tb.T)
        for c in range(len(space.subs)):
            Uc, Vc, pos = space.U[c], space.V[c], self.pos[c]
            N = Uc.shape[0]
            pa = pos[act]  # [T]
            inside = pa >= 0
            vals = Vc[:, tix, pa.clamp(min=0)] * inside  # [N, T]
            g.append((vals * tb.prior.view(1, -1)).sum(1).numpy())
            Hc = np.zeros((N, len(rows)))
            for r, (i, dev, w) in enumerate(devs):
                here = Uc[:, i, tix, pa.clamp(min=0)] * inside
                pd = pos[dev]
                there = Uc[:, i, tix, pd.clamp(min=0)] * (pd >= 0)
                Hc[:, r] = ((here - there) * w.view(1, -1)).sum(1).numpy()
            H.append(Hc)
        return _ProfileProblem(g=g, H=H, rows=rows)


def _milp(prob: _ProfileProblem, groups: Optional[list[list[int]]], slack: bool = False,
          allowed: Optional[list[np.ndarray]] = None, at_least: Optional[float] = None):
    """Maximize the leader's value for one profile.

    groups None: pure policy, one binary per distinct sub-policy per class.
    groups given (per class, a group id per sub-policy): a mixture per class; where a
    group has several members, binaries allow at most one of them.
    slack: instead maximize the smallest incentive margin (for interior points), over
    the sub-policies `allowed` (per class, bool mask).
    at_least: instead, among solutions worth at least this much, prefer the earliest
    sub-policies (smallest sum of indices) -- a deterministic tie-break.
    Returns (x per class, objective) or None when infeasible."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    sizes = [len(g) for g in prob.g]
    nx = sum(sizes)
    offs = np.cumsum([0] + sizes)
    R = len(prob.rows)
    nz = 0
    zmap: list[tuple[int, int, int]] = []  # (class, member j, z column)
    if groups is not None and not slack:
        for c, gr in enumerate(groups):
            ids, counts = np.unique(gr, return_counts=True)
            for gid, cnt in zip(ids, counts):
                if cnt > 1:
                    for j in np.nonzero(np.asarray(gr) == gid)[0]:
                        zmap.append((c, int(j), nx + nz))
                        nz += 1
    nvar = nx + nz + (1 if slack else 0)
    cvec = np.zeros(nvar)
    if slack:
        cvec[-1] = -1.0
    elif at_least is not None:
        cvec[:nx] = np.concatenate([np.arange(s, dtype=float) for s in sizes])
    else:
        cvec[:nx] = -np.concatenate(prob.g)
    A_rows, lo, hi = [], [], []
    for c in range(len(sizes)):  # one unit of weight per class
        row = np.zeros(nvar)
        row[offs[c]:offs[c + 1]] = 1.0
        A_rows.append(row)
        lo.append(1.0)
        hi.append(1.0)
    if at_least is not None:
        row = np.zeros(nvar)
        row[:nx] = np.concatenate(prob.g)
        A_rows.append(row)
        lo.append(at_least - VALUE_TOL * max(1.0, abs(at_least)))
        hi.append(np.inf)
    if R:
        Hall = np.concatenate(prob.H, axis=0)  # [nx, R]
        scale = np.maximum(np.abs(Hall).max(0), 1e-12)
        for r in range(R):
            row = np.zeros(nvar)
            row[:nx] = Hall[:, r] / scale[r]
            if slack:
                row[-1] = -1.0
            A_rows.append(row)
            lo.append(-1e-9 if not slack else 0.0)
            hi.append(np.inf)
    if nz:
        for c, j, zc in zmap:  # y <= z
            row = np.zeros(nvar)
            row[offs[c] + j] = 1.0
            row[zc] = -1.0
            A_rows.append(row)
            lo.append(-np.inf)
            hi.append(0.0)
        for c, gr in enumerate(groups):
            ids = {}
            for (cc, j, zc) in zmap:
                if cc == c:
                    ids.setdefault(gr[j], []).append(zc)
            for cols in ids.values():
                row = np.zeros(nvar)
                row[cols] = 1.0
                A_rows.append(row)
                lo.append(-np.inf)
                hi.append(1.0)
    integ = np.zeros(nvar)
    if groups is None and not slack:
        integ[:nx] = 1
    integ[nx:nx + nz] = 1
    lb = np.zeros(nvar)
    ub = np.ones(nvar)
    if allowed is not None:
        ub[:nx] = np.concatenate([a.astype(float) for a in allowed])
    if slack:
        lb[-1], ub[-1] = -1.0, 1.0
    res = milp(
        cvec,
        constraints=[LinearConstraint(np.array(A_rows), np.array(lo), np.array(hi))],
        integrality=integ,
        bounds=Bounds(lb, ub),
        options={"mip_rel_gap": 1e-12, "presolve": True},
    )
    if res.status != 0 or res.x is None:
        return None
    x = res.x
    xs = [np.clip(x[offs[c]:offs[c + 1]], 0.0, 1.0) for c in range(len(sizes))]
    if slack:
        return xs, float(x[-1])
    if groups is None:  # binaries: snap
        xs = [(np.arange(len(v)) == int(np.argmax(v))).astype(float) for v in xs]
    else:
        xs = _polish(prob, [v / v.sum() for v in xs])
    value = float(sum(g @ v for g, v in zip(prob.g, xs)))
    return xs, value


def _polish(prob: _ProfileProblem, xs: list[np.ndarray]) -> list[np.ndarray]:
    """Snap an LP optimum onto its vertex: solve the active constraints (class sums and
    incentive rows within the solver's tolerance of 0) exactly for the positive weights,
    so a follower left indifferent is indifferent to the last digit."""
    flat = np.concatenate(xs)
    sizes = [len(x) for x in xs]
    offs = np.cumsum([0] + sizes)
    free = np.nonzero(flat > 1e-9)[0]
    if not len(free) or not prob.rows:
        return xs
    Hall = np.concatenate(prob.H, axis=0)  # [nx, R]
    rowval = flat @ Hall
    scale = np.maximum(np.abs(Hall).max(0), 1e-12)
    active = np.nonzero(np.abs(rowval) <= 1e-6 * scale)[0]
    eqs, rhs = [], []
    for c in range(len(sizes)):
        e = np.zeros(len(flat))
        e[offs[c]:offs[c + 1]] = 1.0
        eqs.append(e[free])
        rhs.append(1.0)
    for r in active:
        eqs.append(Hall[free, r] / scale[r])
        rhs.append(0.0)
    sol, *_ = np.linalg.lstsq(np.array(eqs), np.array(rhs), rcond=None)
    cand = np.zeros(len(flat))
    cand[free] = sol
    if (cand < -1e-12).any() or np.abs(np.array(eqs) @ sol - np.array(rhs)).max() > 1e-12:
        return xs
    cand = np.clip(cand, 0.0, None)
    if ((cand @ Hall) < -1e-12 * scale).any():
        return xs
    return [cand[offs[c]:offs[c + 1]] / cand[offs[c]:offs[c + 1]].sum() for c in range(len(sizes))]


def _ic_margin(prob: _ProfileProblem, xs: list[np.ndarray]) -> float:
    if not prob.rows:
        return math.inf
    tot = sum(x @ H for x, H in zip(xs, prob.H))
    return float(tot.min())


def solve_profiles(space: PolicySpace, groups: Optional[list[list[int]]], strict: bool):
    """Best (profile, weights) over all pure follower profiles.

    strict False: the leader-favourable optimum (ties in the followers' incentives
    allowed).  strict True: only profiles that some policy makes a strict best
    response; returns also an interior policy.  Returns dict or None."""
    tb = space.tb
    P = profile_count(tb.ir)
    if P > MAX_PROFILES:
        raise MechSizeError(
            f"{fmt_count(P)} pure follower strategy profiles (one linear program each), limit {fmt_count(MAX_PROFILES)}",
            hint="use fewer types or actions per follower",
        )
    prof = all_profiles(tb)
    builder = _ProfileBuilder(space, prof)
    bound = builder.bound()
    order = torch.argsort(-bound, stable=True).tolist()
    best = None
    solved = 0
    skipped_nonstrict = 0
    for p in order:
        if best is not None and float(bound[p]) < best["value"] - VALUE_TOL:
            break
        prob = builder.build(p)
        out = _milp(prob, groups)
        solved += 1
        if out is None:
            continue
        xs, value = out
        if best is not None and not (value > best["value"] + VALUE_TOL or (value >= best["value"] - VALUE_TOL and p < best["profile"])):
            continue
        cand = {"profile": p, "xs": xs, "value": value, "prob": prob}
        if strict:
            allowed = [(x > 1e-12) | _single_member(groups, c, x) for c, x in enumerate(xs)] if groups is not None else None
            sl = _milp(prob, groups, slack=True, allowed=allowed)
            if sl is None or sl[1] <= 1e-6:
                skipped_nonstrict += 1
                continue
            inner = [(1 - INTERIOR_STEP) * x + INTERIOR_STEP * y for x, y in zip(xs, sl[0])]
            cand["interior"] = [v / v.sum() for v in inner]
            cand["strict_at_optimum"] = _ic_margin(prob, xs) > 1e-9
        best = cand
    if best is not None and groups is None:
        again = _milp(best["prob"], None, at_least=best["value"])
        if again is not None and again[1] >= best["value"] - VALUE_TOL:
            best["xs"], best["value"] = again
    if best is not None:
        best["solved"] = solved
        best["strategies"] = [s[best["profile"]].tolist() for s in prof.strat]
        best["skipped_nonstrict"] = skipped_nonstrict
    return best, solved


def _single_member(groups, c: int, x: np.ndarray) -> np.ndarray:
    """Sub-policies whose group has one member (free to enter an interior mixture), plus
    the chosen member of each multi-member group."""
    gr = np.asarray(groups[c])
    out = np.zeros(len(gr), dtype=bool)
    for gid in np.unique(gr):
        members = np.nonzero(gr == gid)[0]
        if len(members) == 1:
            out[members] = True
        else:
            out[members[np.argmax(x[members])]] = True
    return out
