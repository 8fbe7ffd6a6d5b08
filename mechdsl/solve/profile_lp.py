"""One (MI)LP per pure follower profile (scipy's HiGHS): the leader-favourable optimum
over pure policies, and the multiple-LP method for mixed commitments, read as the MW
followers' tie reading says (`mechdsl.ties`).

For a mixed commitment x and a profile p, every incentive row r = (follower i, type t_i,
deviation a') has the follower's margin IC_r(x) (p's payoff minus a''s, >= 0 when p is a
best response) and the leader's change LV_r(x) (her value when that type plays a' instead,
minus her value under p).  Where IC_r(x) = 0 the type is indifferent and the reading
decides; p is played at x when every tied row is one the reading resolves in p's favour:

- `favourable`: always (ties go to the leader): the LP over IC >= 0, attained;
- `pessimistic`: when LV_r(x) >= 0 (the deviation is no worse for the leader);
- `first`: when a' is above p's action (ties go to the lowest index).

A row tied at every x of the region considered (an implicit equality: identically zero
for payoff-identical actions, or forced by the other constraints) must be resolved in p's
favour there: under `pessimistic` it adds LV_r >= 0, under `first` with a' below p it
rules p out; repeated until no new such row appears.  The LP over what remains gives p's
supremum: every other row can be made strict by moving toward the relative interior.
It is attained when some optimal mixture leaves tied only rows resolved in p's favour
(the same closure over the optimal face); otherwise the answer carries an interior
policy, `INTERIOR_STEP` toward the point whose smallest strict margin is largest.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from mechdsl.dynamics import MWConfig
from mechdsl.solve.batch_mw import BatchMW
from mechdsl.solve.profiles import profile_table, Profiles
from mechdsl.solve.space import VALUE_TOL, PolicySpace

INTERIOR_STEP = 1e-3  # how far a supremum policy is moved toward the interior
ROW_TOL = 1e-9  # LP slack on a normalized incentive / leader row
STRICT_TOL = 1e-7  # a normalized margin above this is strict; at or below, a tie
ZERO_TOL = 1e-10  # an incentive row this small (times the follower's payoff range) is identically 0


@dataclass
class _ProfileProblem:
    """Class-wise linear pieces of the leader's value and the followers' incentive
    constraints for one pure follower profile: with x_{c,j} the weight of distinct
    sub-policy j in class c, value = sum g[c] . x[c] and row r of IC = sum H[c][:, r] . x[c],
    which must be >= 0 (follower i of type t_i gains nothing by switching to a');
    the leader's change when that type does switch is sum L[c][:, r] . x[c]."""

    g: list[np.ndarray]  # per class [N_c]
    H: list[np.ndarray]  # per class [N_c, R]
    rows: list[tuple[int, int, int]]  # (follower, type, deviation action)
    L: Optional[list[np.ndarray]] = None  # per class [N_c, R] (built when a reading needs it)
    own: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # [R] the profile's action
    zero: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # [R] identically tied

    def __post_init__(self):
        self.Hn = _normalized(self.H)
        self.Ln = _normalized(self.L) if self.L is not None else None


def _normalized(M: list[np.ndarray]) -> np.ndarray:
    """Stack the classes' columns [nx, R] and scale each row's coefficients to max 1."""
    allm = np.concatenate(M, axis=0)
    return allm / np.maximum(np.abs(allm).max(0), 1e-300) if allm.size else allm


class ProfileBuilder:
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
        self.span = [max(hi - lo, 0.0) for lo, hi in ir.utility_bounds]
        self.gtab = profile_table(space, prof)

    def bound(self) -> torch.Tensor:
        """Per profile: the leader's best value ignoring incentives. [P]"""
        return sum(g.max(0).values for g in self.gtab)

    def build(self, p: int, leader: bool = False) -> _ProfileProblem:
        """The profile's LP pieces; `leader`: also the leader's change per row (L)."""
        tb, space = self.tb, self.space
        n = tb.n
        act = self.prof.act[p]  # [T]
        rows: list[tuple[int, int, int]] = []
        own_rows: list[int] = []
        devs = []  # (i, t_i, a') -> dev action profile per t [T], follower weight [T], leader weight [T]
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
                    own_rows.append(int(s_i[ti]))
                    dev = act + (a2 - own) * self.strides[i]
                    here = tb.tidx[:, i] == ti
                    w = torch.where(here, self.cond[i], torch.zeros_like(self.cond[i]))
                    devs.append((i, dev, w, torch.where(here, tb.prior, torch.zeros_like(tb.prior))))
        g, H, L = [], [], []
        tix = torch.arange(tb.T)
        for c in range(len(space.subs)):
            Uc, Vc, pos = space.U[c], space.V[c], self.pos[c]
            N = Uc.shape[0]
            pa = pos[act]  # [T]
            inside = pa >= 0
            vals = Vc[:, tix, pa.clamp(min=0)] * inside  # [N, T]
            g.append((vals * tb.prior.view(1, -1)).sum(1).numpy())
            Hc = np.zeros((N, len(rows)))
            Lc = np.zeros((N, len(rows)))
            for r, (i, dev, w, wl) in enumerate(devs):
                here = Uc[:, i, tix, pa.clamp(min=0)] * inside
                pd = pos[dev]
                there = Uc[:, i, tix, pd.clamp(min=0)] * (pd >= 0)
                Hc[:, r] = ((here - there) * w.view(1, -1)).sum(1).numpy()
                if leader:
                    Lc[:, r] = (((Vc[:, tix, pd.clamp(min=0)] * (pd >= 0)) - vals) * wl.view(1, -1)).sum(1).numpy()
            H.append(Hc)
            L.append(Lc)
        big = np.concatenate(H, axis=0)
        tol = np.array([ZERO_TOL * self.span[i] for i, _, _ in rows])
        zero = (np.abs(big).max(0) <= tol) if big.size else np.zeros(len(rows), dtype=bool)
        return _ProfileProblem(g=g, H=H, rows=rows, L=L if leader else None,
                               own=np.array(own_rows, dtype=int), zero=zero)


@dataclass
class _LP:
    xs: list[np.ndarray]  # per class weights
    obj: float  # the leader's value (value / earliest), the smallest margin (margin)
    s: Optional[np.ndarray] = None  # margins: each listed row's capped margin


def _lp(prob: _ProfileProblem, groups: Optional[list[list[int]]], objective: str = "value", rows=(),
        lead=(), tight=(), floor: Optional[float] = None, allowed: Optional[list[np.ndarray]] = None) -> Optional[_LP]:
    """One (MI)LP over the profile's region: every incentive row >= 0, the leader rows
    `lead` >= 0 (the deviation no worse for the leader), the incentive rows `tight` = 0,
    the value >= `floor`.

    groups None: pure policy, one binary per distinct sub-policy per class.  groups given
    (per class, a group id per sub-policy): a mixture per class; where a group has several
    members, binaries allow at most one of them (unless `allowed`, per class a bool mask
    of usable sub-policies, already does).
    objective: `value` (the leader's), `earliest` (among solutions worth `floor`, the
    earliest sub-policies: a deterministic tie-break), `margin` (the smallest normalized
    margin of `rows`), `margins` (the sum of the normalized margins of `rows`, each capped
    to [0, 1]).  Returns None when infeasible."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    sizes = [len(g) for g in prob.g]
    nx = sum(sizes)
    offs = np.cumsum([0] + sizes)
    R = len(prob.rows)
    zmap: list[tuple[int, int, int]] = []  # (class, member j, z column)
    if groups is not None and allowed is None:
        for c, gr in enumerate(groups):
            ids, counts = np.unique(gr, return_counts=True)
            for gid, cnt in zip(ids, counts):
                if cnt > 1:
                    zmap += [(c, int(j), nx + len(zmap)) for j in np.nonzero(np.asarray(gr) == gid)[0]]
    nz = len(zmap)
    rows = list(rows)
    where = {r: k for k, r in enumerate(rows)}
    nt = 1 if objective == "margin" else 0
    ns = len(rows) if objective == "margins" else 0
    nvar = nx + nz + nt + ns
    gall = np.concatenate(prob.g)
    cvec = np.zeros(nvar)
    if objective == "value":
        cvec[:nx] = -gall
    elif objective == "earliest":
        cvec[:nx] = np.concatenate([np.arange(s, dtype=float) for s in sizes])
    elif objective == "margin":
        cvec[nx + nz] = -1.0
    else:
        cvec[nx + nz + nt:] = -1.0
    A_rows, lo, hi = [], [], []

    def add(coef, low, high, extra=None):
        row = np.zeros(nvar)
        row[:nx] = coef
        if extra is not None:
            row[extra] = -1.0
        A_rows.append(row)
        lo.append(low)
        hi.append(high)

    for c in range(len(sizes)):  # one unit of weight per class
        add(np.r_[np.zeros(offs[c]), np.ones(sizes[c]), np.zeros(nx - offs[c + 1])], 1.0, 1.0)
    if floor is not None:
        add(gall, floor - VALUE_TOL * max(1.0, abs(floor)), np.inf)
    for r in range(R):
        slot = None
        if r in where and objective == "margin":
            slot = nx + nz
        elif r in where and objective == "margins":
            slot = nx + nz + nt + where[r]
        add(prob.Hn[:, r], -ROW_TOL if slot is None else 0.0, ROW_TOL if r in tight else np.inf, slot)
    for r in lead:
        add(prob.Ln[:, r], -ROW_TOL, np.inf)
    for c, j, zc in zmap:  # y <= z
        row = np.zeros(nvar)
        row[offs[c] + j], row[zc] = 1.0, -1.0
        A_rows.append(row)
        lo.append(-np.inf)
        hi.append(0.0)
    for c, gr in enumerate(groups or []):
        ids: dict = {}
        for (cc, j, zc) in zmap:
            if cc == c:
                ids.setdefault(gr[j], []).append(zc)
        for cols in ids.values():  # at most one member per group
            row = np.zeros(nvar)
            row[cols] = 1.0
            A_rows.append(row)
            lo.append(-np.inf)
            hi.append(1.0)
    integ = np.zeros(nvar)
    if groups is None and objective in ("value", "earliest"):
        integ[:nx] = 1
    integ[nx:nx + nz] = 1
    lb, ub = np.zeros(nvar), np.ones(nvar)
    if allowed is not None:
        ub[:nx] = np.concatenate([a.astype(float) for a in allowed])
    if nt:
        lb[nx + nz] = -1.0
    res = milp(cvec, constraints=[LinearConstraint(np.array(A_rows), np.array(lo), np.array(hi))],
               integrality=integ, bounds=Bounds(lb, ub), options={"mip_rel_gap": 1e-12, "presolve": True})
    if res.status != 0 or res.x is None:
        return None
    x = res.x
    xs = [np.clip(x[offs[c]:offs[c + 1]], 0.0, 1.0) for c in range(len(sizes))]
    if objective == "margin":
        return _LP(xs, float(x[nx + nz]))
    if objective == "margins":
        return _LP(xs, float(x[nx + nz + nt:].sum()), x[nx + nz + nt:])
    if groups is None:  # binaries: snap
        xs = [(np.arange(len(v)) == int(np.argmax(v))).astype(float) for v in xs]
    else:
        xs = _polish(prob, [v / v.sum() for v in xs], lead)
    return _LP(xs, float(sum(g @ v for g, v in zip(prob.g, xs))))


def _polish(prob: _ProfileProblem, xs: list[np.ndarray], lead=(), value: Optional[float] = None) -> list[np.ndarray]:
    """Snap an LP solution onto its face: the nearest point (on the positive weights) where
    the active constraints -- class sums, incentive rows and the leader rows `lead` within
    the solver's tolerance of 0, and the leader's value = `value` if given -- hold exactly,
    so a follower left indifferent is indifferent to the last digit (at a vertex: the
    vertex itself)."""
    flat = np.concatenate(xs)
    sizes = [len(x) for x in xs]
    offs = np.cumsum([0] + sizes)
    free = np.nonzero(flat > 1e-9)[0]
    lead = list(lead)
    M = np.concatenate([prob.Hn, prob.Ln[:, lead]], axis=1) if lead else prob.Hn  # [nx, R + |lead|]
    if not len(free) or (not M.shape[1] and value is None):
        return xs
    eqs, rhs = [], []
    for c in range(len(sizes)):
        e = np.zeros(len(flat))
        e[offs[c]:offs[c + 1]] = 1.0
        eqs.append(e[free])
        rhs.append(1.0)
    for r in np.nonzero(np.abs(flat @ M) <= 1e-6)[0]:
        eqs.append(M[free, r])
        rhs.append(0.0)
    if value is not None:
        eqs.append(np.concatenate(prob.g)[free])
        rhs.append(value)
    E, b = np.array(eqs), np.array(rhs)
    step, *_ = np.linalg.lstsq(E, b - E @ flat[free], rcond=None)
    sol = flat[free] + step
    cand = np.zeros(len(flat))
    cand[free] = sol
    if (cand < -1e-12).any() or np.abs(E @ sol - b).max() > 1e-12 * max(1.0, abs(value or 0.0)):
        return xs
    cand = np.clip(cand, 0.0, None)
    if ((cand @ M) < -1e-12).any():
        return xs
    return [cand[offs[c]:offs[c + 1]] / cand[offs[c]:offs[c + 1]].sum() for c in range(len(sizes))]


# ---------------------------------------------------------------------------
# the profile under a tie reading
# ---------------------------------------------------------------------------


def _tied_rows(prob: _ProfileProblem, groups, lead, allowed, floor) -> Optional[set[int]]:
    """The incentive rows that are 0 at every point of the region (implicit equalities,
    identically-zero rows included); None when the region is empty.  Each round keeps
    the rows no point has made strict yet and maximizes the sum of their margins."""
    cand = [r for r in range(len(prob.rows)) if not prob.zero[r]]
    while True:
        out = _lp(prob, groups, "margins", rows=cand, lead=lead, floor=floor, allowed=allowed)
        if out is None:
            return None
        strict = {r for r, s in zip(cand, out.s if out.s is not None else []) if s > STRICT_TOL}
        if not strict:
            return set(cand) | set(np.nonzero(prob.zero)[0].tolist())
        cand = [r for r in cand if r not in strict]


def _settle(prob: _ProfileProblem, groups, reading: str, lead: set[int], allowed, floor=None):
    """Close the region under the reading: every row tied throughout must be resolved in
    the profile's favour (pessimistic: add its leader row; first: a deviation below the
    profile's action rules the region out).  Returns (tied rows, leader rows) or None."""
    lead = set(lead)
    while True:
        tied = _tied_rows(prob, groups, sorted(lead), allowed, floor)
        if tied is None:
            return None
        if reading == "first" and any(prob.rows[r][2] < prob.own[r] for r in tied):
            return None
        new = tied - lead if reading == "pessimistic" else set()
        if not new:
            return tied, lead
        lead |= new


def _resolved_at(prob: _ProfileProblem, xs: list[np.ndarray], reading: str) -> bool:
    """Whether every tied row at xs is one the reading resolves in the profile's favour."""
    flat = np.concatenate(xs)
    active = np.nonzero(flat @ prob.Hn <= STRICT_TOL)[0]
    if reading == "first":
        return all(prob.rows[r][2] > prob.own[r] for r in active)
    return bool((flat @ prob.Ln[:, active] >= -ROW_TOL).all())


def _piece(groups, xs: list[np.ndarray]) -> list[np.ndarray]:
    """The sub-policies usable beside xs's: every single-member group's, and the member
    xs uses (or its largest) of every multi-member group."""
    return [(x > 1e-12) | _single_member(groups, c, x) for c, x in enumerate(xs)]


def read_profile(prob: _ProfileProblem, groups, reading: str, allowed=None) -> Optional[dict]:
    """The profile's best value under the tie reading (module docstring): None when the
    reading never plays it, else {value, xs, attained, interior (when not attained)}."""
    binaries = groups is not None and allowed is None and any(len(set(g)) < len(g) for g in groups)
    if reading == "favourable" or not prob.rows:
        out = _lp(prob, groups, allowed=allowed)
        return None if out is None else {"value": out.obj, "xs": out.xs, "attained": True}
    start = set(np.nonzero(prob.zero)[0].tolist()) if reading == "pessimistic" else set()
    closed = _settle(prob, groups, reading, start, allowed)
    if closed is None:
        return None
    tied, lead = closed
    out = _lp(prob, groups, lead=sorted(lead), allowed=allowed)
    if out is None:
        return None
    res = {"value": out.obj, "xs": out.xs, "attained": True}
    if _resolved_at(prob, out.xs, reading):
        return res
    face = _settle(prob, groups, reading, lead, allowed, floor=out.obj)  # another optimal point?
    if face is not None:
        ftied, flead = face
        free = [r for r in range(len(prob.rows)) if r not in ftied]
        pt = _lp(prob, groups, "margin", rows=free, lead=sorted(flead), tight=ftied, floor=out.obj, allowed=allowed)
        if pt is not None and (pt.obj > ROW_TOL or not free):
            res["xs"] = _polish(prob, [v / v.sum() for v in pt.xs], sorted(flead), value=out.obj)
            return res
    res["attained"] = False
    free = [r for r in range(len(prob.rows)) if r not in tied]
    inner = _piece(groups, out.xs) if binaries else allowed
    y = _lp(prob, groups, "margin", rows=free, lead=sorted(lead), allowed=inner) if free else None
    if y is None or y.obj <= ROW_TOL:
        if binaries:  # a row strict elsewhere is tied throughout this piece: solve within it
            again = read_profile(prob, groups, reading, allowed=inner)
            if again is not None:
                again["piece"] = True
            return again
        res["interior"] = out.xs  # no strict point found: the reference check will say
        return res
    mix = [(1 - INTERIOR_STEP) * x + INTERIOR_STEP * v for x, v in zip(out.xs, y.xs)]
    res["interior"] = [v / v.sum() for v in mix]
    return res


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
