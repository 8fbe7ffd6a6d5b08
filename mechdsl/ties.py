"""How the followers' final weights become play: the tie readings.

After the equilibrium phase each follower type plays the action of highest weight.
When several actions tie exactly (a type whose payoff is the same under every action
keeps uniform weights), which one it plays is a modelling choice, and no result may
hinge on the order in which a spec lists actions.  The readings:

- `first`: the lowest-index tied action (the paper's code);
- `pessimistic`: the tied actions, jointly over followers and types, that are worst for
  the leader (the weak-Stackelberg reading; the default for MW followers);
- `favourable`: the same, best for the leader (the strong-Stackelberg reading).

Only exact ties (within `TIE_TOL` of the top weight, as `argmax_strategy` reads them) are
ever re-read, so every reading is a best response of the dynamics.  Joint readings are
exact: coordinate ascent over one follower at a time (exact when at most one follower
has ties), then enumeration of every joint choice when several followers have ties and
there are at most `CAP` of them; beyond that the coordinate-ascent answer is flagged.  A
flagged reading is still exact where no tie can move the leader's value at all
(`immaterial`), which the certificate checks -- not `play`, which runs on every
training batch.
"""
from __future__ import annotations

import math

import torch

from mechdsl.compiler.model import DEFAULT_TIES, TIE_READINGS
from mechdsl.dynamics import TIE_TOL, argmax_strategy
from mechdsl.evaluate import Tables

READINGS = TIE_READINGS
DEFAULT = DEFAULT_TIES
CAP = 4096  # joint tie choices enumerated per game
CHUNK = 4_000_000  # games x choices x type profiles per enumeration step
EPS = 1e-12  # leader values this close are equal (then the lower action index wins)


def tie_masks(logw: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per follower [B, T_i, A_i]: the actions tied for the top weight."""
    out = []
    for lw in logw:
        top = lw.max(-1, keepdim=True).values
        out.append(lw >= top - TIE_TOL * top.abs().clamp(min=1.0))
    return out


def profile_values(tb: Tables, V: torch.Tensor, strat: list[torch.Tensor]) -> torch.Tensor:
    """The leader's value when followers play pure strategies strat[i] [B, T_i]. [B]"""
    a = _actions(tb, strat)  # [B, T]
    return (V.gather(2, a.unsqueeze(-1)).squeeze(-1) * tb.prior.view(1, -1)).sum(-1)


def play(tb: Tables, logw: list[torch.Tensor], V: torch.Tensor, reading: str) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Pure strategies [B, T_i] per follower under `reading`, and [B] whether the joint
    reading is exact (always, except past `CAP` joint choices)."""
    if reading not in READINGS:
        raise ValueError(f"unknown tie reading {reading!r}; one of {', '.join(READINGS)}")
    first = argmax_strategy(logw)
    B = V.shape[0]
    exact = torch.ones(B, dtype=torch.bool, device=V.device)
    if reading == "first" or tb.n == 0:
        return first, exact
    sign = 1.0 if reading == "favourable" else -1.0
    masks = tie_masks(logw)
    strat = _ascend(tb, V, masks, [s.clone() for s in first], sign)
    sizes = torch.stack([_pad(m.sum(-1), tb) for m in masks], 1)  # [B, n, Tmax] (1 where no tie)
    tied_followers = (sizes > 1).any(-1).sum(-1)  # [B]
    joint = tied_followers >= 2
    if bool(joint.any()):
        log_k = (sizes.double().log().sum((1, 2)))  # log of the number of joint choices
        small = joint & (log_k <= math.log(CAP) + 1e-9)
        exact = ~joint | small
        rows = small.nonzero().view(-1)
        if rows.numel():
            best = _enumerate(tb, V[rows], [m[rows] for m in masks], sizes[rows], sign)
            for i in range(tb.n):
                strat[i][rows] = best[i]
    return strat, exact


def immaterial(tb: Tables, V: torch.Tensor, masks: list[torch.Tensor]) -> torch.Tensor:
    """[B] whether no tie can change the leader's value: at every type profile and every
    action of the others, V is the same under each of a follower's tied actions (as when
    its actions are messages the map ignores).  Then every joint reading is worth the
    same, and the coordinate-ascent answer is exact however many choices there are."""
    ac = tb.ir.action_counts
    out = torch.ones(V.shape[0], dtype=torch.bool, device=V.device)
    for i in range(tb.n):
        pre, post = math.prod(ac[:i]), math.prod(ac[i + 1:])
        v = V.reshape(V.shape[0], tb.T, pre, ac[i], post)
        tied = masks[i][:, tb.tidx[:, i], :].view(V.shape[0], tb.T, 1, ac[i], 1)  # [B, T, 1, A_i, 1]
        hi = torch.where(tied, v, torch.full_like(v, -math.inf)).amax(3)
        lo = torch.where(tied, v, torch.full_like(v, math.inf)).amin(3)
        scale = v.abs().amax((1, 2, 3, 4)).clamp(min=1.0).view(-1, 1, 1, 1)
        out &= ((hi - lo) <= EPS * scale).flatten(1).all(1)
    return out


def _actions(tb: Tables, strat: list[torch.Tensor]) -> torch.Tensor:
    """Action profile index per type profile [B, T] of pure strategies [B, T_i]."""
    ac = tb.ir.action_counts
    a = torch.zeros(strat[0].shape[0] if strat else 1, tb.T, dtype=torch.long, device=tb.prior.device)
    for i, s in enumerate(strat):
        a = a + s[:, tb.tidx[:, i]] * math.prod(ac[i + 1:])
    return a


def _pad(x: torch.Tensor, tb: Tables) -> torch.Tensor:
    """[B, T_i] -> [B, Tmax], padding with 1 (no choice)."""
    Tm = max(tb.ir.type_counts)
    if x.shape[1] == Tm:
        return x
    return torch.cat([x, torch.ones(x.shape[0], Tm - x.shape[1], dtype=x.dtype, device=x.device)], 1)


def _ascend(tb: Tables, V: torch.Tensor, masks: list[torch.Tensor], strat: list[torch.Tensor], sign: float,
            sweeps: int = 50) -> list[torch.Tensor]:
    """Coordinate ascent of sign * value: each follower in turn re-reads its tied types
    given the others; stops when a sweep changes nothing."""
    ac = tb.ir.action_counts
    B = V.shape[0]
    for _ in range(sweeps):
        changed = False
        for i in range(tb.n):
            if not bool((masks[i].sum(-1) > 1).any()):
                continue
            stride = math.prod(ac[i + 1:])
            base = _actions(tb, strat) - strat[i][:, tb.tidx[:, i]] * stride  # [B, T]
            cand = base.unsqueeze(-1) + torch.arange(ac[i], device=V.device).view(1, 1, -1) * stride  # [B, T, A_i]
            pay = V.gather(2, cand) * tb.prior.view(1, -1, 1)
            c = torch.zeros(B, tb.ir.type_counts[i], ac[i], dtype=V.dtype, device=V.device)
            c.index_add_(1, tb.tidx[:, i], pay)  # [B, T_i, A_i]
            score = torch.where(masks[i], sign * c, torch.full_like(c, -math.inf))
            top = score.max(-1, keepdim=True).values
            good = score >= top - EPS * top.abs().clamp(min=1.0)
            cur_good = good.gather(2, strat[i].unsqueeze(-1)).squeeze(-1)
            new = torch.where(cur_good, strat[i], good.to(torch.int8).argmax(-1))
            if not torch.equal(new, strat[i]):
                strat[i], changed = new, True
        if not changed:
            break
    return strat


def _enumerate(tb: Tables, V: torch.Tensor, masks: list[torch.Tensor], sizes: torch.Tensor,
               sign: float) -> list[torch.Tensor]:
    """Every joint choice of tied actions (games whose count is at most CAP): the best
    for sign * value; among equals the earliest, i.e. lower actions first."""
    nb, n = V.shape[0], tb.n
    tc = tb.ir.type_counts
    flat = torch.cat([sizes[:, i, : tc[i]] for i in range(n)], 1)  # [nb, P] choices per (follower, type)
    stride = torch.cumprod(torch.cat([torch.ones(nb, 1, dtype=flat.dtype, device=flat.device), flat[:, :-1]], 1), 1)
    K = int(flat.prod(1).max())
    counts = flat.prod(1)  # [nb]
    offs = [0]
    for t in tc:
        offs.append(offs[-1] + t)
    rank = [m.to(torch.long).cumsum(-1) - 1 for m in masks]  # position of each tied action
    best_val = torch.full((nb,), -math.inf, dtype=V.dtype, device=V.device)
    best = [torch.zeros(nb, tc[i], dtype=torch.long, device=V.device) for i in range(n)]
    step = max(1, CHUNK // max(1, nb * tb.T))
    for k0 in range(0, K, step):
        k = torch.arange(k0, min(K, k0 + step), device=V.device)  # [k]
        digit = (k.view(1, -1, 1) // stride.unsqueeze(1)) % flat.unsqueeze(1)  # [nb, k, P]
        strat = []
        for i in range(n):
            d = digit[:, :, offs[i]:offs[i + 1]]  # [nb, k, T_i]
            hit = masks[i].unsqueeze(1) & (rank[i].unsqueeze(1) == d.unsqueeze(-1))  # [nb, k, T_i, A_i]
            strat.append(hit.to(torch.int8).argmax(-1))
        kk = k.numel()
        a = _actions(tb, [s.reshape(nb * kk, -1) for s in strat]).view(nb, kk * tb.T)  # [nb, k*T]
        cell = a + (torch.arange(tb.T, device=V.device) * tb.A).repeat(kk).view(1, -1)
        vals = (V.reshape(nb, -1).gather(1, cell).view(nb, kk, tb.T) * tb.prior.view(1, 1, -1)).sum(-1)
        score = torch.where(k.view(1, -1) < counts.view(-1, 1), sign * vals, torch.full_like(vals, -math.inf))
        top = score.max(1).values
        pick = (score >= top.view(-1, 1) - EPS * top.abs().clamp(min=1.0).view(-1, 1)).to(torch.int8).argmax(1)
        better = top > best_val + EPS * best_val.abs().clamp(min=1.0, max=1e300)
        best_val = torch.where(better, top, best_val)
        for i in range(n):
            chosen = strat[i][torch.arange(nb, device=V.device), pick]
            best[i] = torch.where(better.view(-1, 1), chosen, best[i])
    return best
