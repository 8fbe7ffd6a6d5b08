"""DOBSS (Paruchuri et al. 2008): one mixed-integer program for a Bayesian Stackelberg game
with one follower, mixed commitment and leader-favourable ties, in place of one LP per pure
follower strategy profile (A^T of them: 59,049 for 3 actions and 10 types).

The leader's weights x over its distinct sub-policies (one unit per observation class); per
follower type t a binary q[t, a] (the action it plays) and z[t, a, j] = q[t, a] x_j, linear
through: sum_a q_ta = 1, each class's z[t, a, .] sums to q_ta, sum_a z[t, a, .] = x for
every t, and sum_j z_taj (C_ja - C_jb) >= 0 (a is a best response where played).  Maximize
sum z_taj R_jta.  No big-M: the big-M form (a_t, f_t), tried first, made HiGHS report
non-optimal answers as optimal, or fail, on a few random 3x3 games; this one agrees with
the enumeration on all 800 of a stress run (tests/test_dobss.py keeps those seeds).  The
response found is re-solved as one LP and snapped onto its face, so the weights are exact
to LP precision and an indifferent type is indifferent to the last digit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from mechdsl.solve.space import PolicySpace

ROW_TOL = 1e-9  # LP slack on a normalized incentive row
MILP_TOL = 1e-6  # the MILP's objective may exceed the exact LP's by its feasibility tolerance, no more


@dataclass
class DobssAnswer:
    value: float  # the leader's optimum
    xs: list[np.ndarray]  # per class weights over distinct sub-policies
    strategies: list[list[int]]  # [[action per follower type]]
    milp_value: float  # the MILP's own objective (before the LP re-solve)


def dobss_reason(space: PolicySpace) -> Optional[str]:
    """Why DOBSS does not apply to this space (None when it does)."""
    ir = space.tb.ir
    if ir.n_followers != 1:
        return f"{ir.n_followers} followers (DOBSS needs exactly one)"
    for c, roots in enumerate(space.root_groups()):
        if len(set(roots)) != len(roots):
            return (f"observation class '{ir.class_labels[c]}' has pure choices below the mixed one "
                    f"(DOBSS mixes over the leader's commitment only)")
    return None


def _tables(space: PolicySpace):
    """Per follower type: the follower's conditional expected utility C [nx, T1, A] and the
    leader's prior-weighted value R [nx, T1, A], linear in the concatenated weights x (0 on
    the weights of other classes than the action's); which types have positive mass; the
    classes' offsets in x."""
    tb = space.tb
    ir = tb.ir
    T1, A = ir.type_counts[0], ir.action_counts[0]
    sizes = space.counts
    offs = np.cumsum([0] + sizes)
    nx = int(offs[-1])
    ti = tb.tidx[:, 0]
    prior = tb.prior
    mass = torch.zeros(T1, dtype=prior.dtype).index_add_(0, ti, prior)
    cond = prior / mass[ti].clamp(min=1e-300)  # P(t | t_1), [T]
    onehot = torch.nn.functional.one_hot(ti, T1).to(prior.dtype)  # [T, T1]
    C = np.zeros((nx, T1, A))
    R = np.zeros((nx, T1, A))
    for c in range(len(sizes)):
        cols = torch.tensor(space.profiles[c], dtype=torch.long)
        U = space.U[c][:, 0]  # [N, T, A_c]
        V = space.V[c]  # [N, T, A_c]
        Cc = torch.einsum("nta,t,ts->nsa", U, cond, onehot)
        Rc = torch.einsum("nta,t,ts->nsa", V, prior, onehot)
        C[offs[c]:offs[c + 1]][:, :, cols.numpy()] = Cc.numpy()
        R[offs[c]:offs[c + 1]][:, :, cols.numpy()] = Rc.numpy()
    return C, R, mass.numpy() > 0, offs


def _unit_rows(offs, nvar: int):
    rows = []
    for c in range(len(offs) - 1):
        row = np.zeros(nvar)
        row[offs[c]:offs[c + 1]] = 1.0
        rows.append(row)
    return rows


def solve_dobss(space: PolicySpace) -> DobssAnswer:
    """The leader-favourable optimum by one MILP, then the LP of the response it found."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_array

    C, R, live, offs = _tables(space)
    nx, T1, A = C.shape
    # columns: z [T1, A, nx] (z_taj = q_ta x_j) | q [T1, A]
    nz = T1 * A * nx
    nvar = nz + T1 * A
    zc = lambda t, a: (t * A + a) * nx  # first z column of (t, a)
    qc = lambda t, a: nz + t * A + a
    rows, cols, vals, lo, hi = [], [], [], [], []

    def add(cs, vs, low, high):
        rows.extend([len(lo)] * len(cs))
        cols.extend(cs)
        vals.extend(vs)
        lo.append(low)
        hi.append(high)

    every = np.arange(nx)
    for t in range(T1):
        add([qc(t, a) for a in range(A)], [1.0] * A, 1.0, 1.0)  # one action per type
        for a in range(A):
            for c in range(len(offs) - 1):  # each class's weights sum to q_ta
                add(list(range(zc(t, a) + offs[c], zc(t, a) + offs[c + 1])) + [qc(t, a)],
                    [1.0] * (offs[c + 1] - offs[c]) + [-1.0], 0.0, 0.0)
            for b in range(A):  # where a is played it is a best response (rows scaled to max 1)
                d = C[:, t, a] - C[:, t, b]
                if b != a and np.abs(d).max() > 0:
                    add(list(zc(t, a) + every), list(d / np.abs(d).max()), 0.0, np.inf)
        if t:  # the same weights for every type: sum_a z_taj = sum_a z_0aj
            for j in range(nx):
                add([zc(t, a) + j for a in range(A)] + [zc(0, a) + j for a in range(A)],
                    [1.0] * A + [-1.0] * A, 0.0, 0.0)
    cvec = np.zeros(nvar)
    cvec[:nz] = -R.transpose(1, 2, 0).reshape(-1)  # [T1, A, nx] order
    integ = np.zeros(nvar)
    integ[nz:] = 1
    mat = csr_array((vals, (rows, cols)), shape=(len(lo), nvar))
    res = None
    for presolve in (True, False):  # a retry without presolve, should HiGHS's MIP presolve fail
        res = milp(cvec, constraints=[LinearConstraint(mat, np.array(lo), np.array(hi))], integrality=integ,
                   bounds=Bounds(np.zeros(nvar), np.ones(nvar)), options={"mip_rel_gap": 1e-12, "presolve": presolve})
        if res.status == 0 and res.x is not None:
            break
    if res.status != 0 or res.x is None:
        raise RuntimeError(f"DOBSS MILP failed: {res.message}")
    q = res.x[nz:].reshape(T1, A)
    resp = [int(np.argmax(q[t])) for t in range(T1)]
    value, x = _response_lp(C, R, resp, live, offs)
    if value < -res.fun - MILP_TOL * max(1.0, abs(value)):  # the MILP's response is not its optimum's
        raise RuntimeError(f"DOBSS: the MILP's value {-res.fun!r} exceeds its response's LP value {value!r}")
    for t in np.nonzero(~live)[0]:  # a type of no mass: any best response (it carries no weight)
        resp[t] = int(np.argmax(x @ C[:, t, :]))
    xs = [x[offs[c]:offs[c + 1]] for c in range(len(offs) - 1)]
    return DobssAnswer(value=value, xs=xs, strategies=[resp], milp_value=float(-res.fun))


def _response_lp(C, R, resp: list[int], live, offs) -> tuple[float, np.ndarray]:
    """The leader's best weights given the follower's response per type: maximize its value
    over the weights where each (live) type's response is a best response."""
    from scipy.optimize import linprog

    nx, T1, A = C.shape
    g = sum(R[:, t, resp[t]] for t in range(T1))
    ub_rows = []
    for t in range(T1):
        if not live[t]:
            continue
        for a in range(A):
            if a != resp[t]:
                h = C[:, t, resp[t]] - C[:, t, a]  # >= 0
                scale = np.abs(h).max()
                if scale > 0:
                    ub_rows.append(-h / scale)
    A_ub = np.array(ub_rows) if ub_rows else None
    b_ub = np.full(len(ub_rows), ROW_TOL) if ub_rows else None
    A_eq = np.array(_unit_rows(offs, nx))
    res = linprog(-g, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=np.ones(len(offs) - 1), bounds=(0, 1), method="highs")
    if res.status != 0:
        raise RuntimeError(f"DOBSS response LP failed: {res.message}")
    x = np.clip(res.x, 0.0, 1.0)
    for c in range(len(offs) - 1):
        x[offs[c]:offs[c + 1]] /= x[offs[c]:offs[c + 1]].sum()
    H = -np.array(ub_rows).T if ub_rows else np.zeros((nx, 0))  # [nx, rows], >= 0 at a best response
    x = _polish(x, H, A_eq)
    return float(g @ x), x


def _polish(x: np.ndarray, H: np.ndarray, E0: np.ndarray) -> np.ndarray:
    """Snap the LP's weights onto their face: the nearest point on the positive weights where
    the unit sums and the incentive rows within the solver's tolerance of 0 hold exactly (so
    an indifferent type is indifferent to the last digit); x itself where that fails."""
    free = np.nonzero(x > 1e-9)[0]
    act = np.nonzero(np.abs(x @ H) <= 1e-6)[0]
    E = np.concatenate([E0[:, free], H[free][:, act].T], axis=0)
    b = np.r_[np.ones(E0.shape[0]), np.zeros(len(act))]
    step, *_ = np.linalg.lstsq(E, b - E @ x[free], rcond=None)
    cand = np.zeros_like(x)
    cand[free] = x[free] + step
    if (cand < -1e-12).any() or np.abs(E @ cand[free] - b).max() > 1e-12 or ((cand @ H) < -1e-12).any():
        return x
    return np.clip(cand, 0.0, None)
