"""The followers' response as an exact pure Bayes-Nash equilibrium (the `favourable` and
`pessimistic` follower models), for a batch of induced games at once.

Every pure follower profile s = (s_i(t_i)) of the induced game is enumerated
(`mechdsl.solve.profiles.all_profiles`); s is a pure BNE when no follower type gains by
a deviation, i.e. its largest conditional gain is at most `TOL` of the follower's
payoff range.  Among the equilibria the followers play the one best (`favourable`) or
worst (`pessimistic`) for the leader; leader values within `EPS` count as equal and
the earlier profile wins.

When a game has no pure BNE (possible: think of matching pennies), the followers play
the pure profile of least regret -- the epsilon-BNE with the smallest epsilon, each
follower's regret measured as a fraction of its payoff range -- read for or against the
leader in the same way; `found` says which games this happened in, and the
certificate shows the regret.  (`solve` never picks a leader policy without a pure
BNE under these models; this fallback is what training and evaluation see.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mechdsl.compiler.errors import MechSizeError
from mechdsl.evaluate import Tables

MAX_PROFILES = 100_000  # pure follower profiles enumerated per induced game
CELLS = 4_000_000  # games x profiles x type profiles x actions per enumeration step
TOL = 1e-9  # a gain this small (times the follower's payoff range) is no gain
EPS = 1e-12  # leader values this close are equal


@dataclass
class Equilibria:
    strat: list[torch.Tensor]  # per follower [B, T_i] the action each type plays
    found: torch.Tensor  # [B] whether that profile is an exact pure BNE
    regret: torch.Tensor  # [B] its largest regret as a fraction of the follower's range


def profile_count(ir) -> int:
    return math.prod(a**t for a, t in zip(ir.action_counts, ir.type_counts))


def check_size(ir) -> None:
    """A `MechSizeError` when the induced game has too many pure profiles to enumerate."""
    count = profile_count(ir)
    if count > MAX_PROFILES:
        shape = " x ".join(f"{a}^{t}" for a, t in zip(ir.action_counts, ir.type_counts))
        raise MechSizeError(
            f"the favourable and pessimistic follower models enumerate every pure follower profile: "
            f"{shape} = {count:,} here, limit {MAX_PROFILES:,}",
            hint="use fewer follower types or actions, or a learning model (mw, swap, qlearning)")


def respond(tb: Tables, U: torch.Tensor, V: torch.Tensor, model: str) -> Equilibria:
    """The pure BNE the followers play in each of B induced games (U [B,n,T,A], V [B,T,A])
    under `model` (`favourable` or `pessimistic`)."""
    from types import SimpleNamespace

    from mechdsl.solve.profiles import all_profiles

    check_size(tb.ir)
    prof = all_profiles(SimpleNamespace(ir=tb.ir, T=tb.T, tidx=tb.tidx.cpu()))  # built on the CPU
    ir, dev = tb.ir, U.device
    B, P = U.shape[0], prof.count
    strides = [math.prod(ir.action_counts[i + 1:]) for i in range(tb.n)]
    spans = [(hi - lo) if hi > lo else 1.0 for lo, hi in ir.utility_bounds]
    prior = tb.prior.to(dev)
    tix = torch.arange(tb.T, device=dev)
    regret = torch.zeros(B, P, dtype=U.dtype, device=dev)
    value = torch.zeros(B, P, dtype=U.dtype, device=dev)
    step = max(1, CELLS // max(1, B * tb.T * max(ir.action_counts + [1])))
    for p0 in range(0, P, step):
        act = prof.act[p0:p0 + step].to(dev)  # [p, T]
        value[:, p0:p0 + step] = (V[:, tix.view(1, -1), act] * prior).sum(-1)
        for i in range(tb.n):
            own = prof.strat[i][p0:p0 + step].to(dev)[:, tb.tidx[:, i].to(dev)]  # [p, T]
            alt = torch.arange(ir.action_counts[i], device=dev)
            dev_act = (act - own * strides[i]).unsqueeze(-1) + alt * strides[i]  # [p, T, A_i]
            Ui = U[:, i]
            gain = Ui[:, tix.view(1, -1, 1), dev_act] - Ui[:, tix.view(1, -1), act].unsqueeze(-1)
            gain = gain * prior.view(1, 1, -1, 1)  # [B, p, T, A_i]
            per_type = torch.zeros(B, act.shape[0], ir.type_counts[i], ir.action_counts[i], dtype=U.dtype, device=dev)
            per_type.index_add_(2, tb.tidx[:, i], gain)
            mass = torch.zeros(ir.type_counts[i], dtype=U.dtype, device=dev).index_add_(0, tb.tidx[:, i], prior)
            r = per_type.max(-1).values / mass.clamp(min=1e-300)  # [B, p, T_i] conditional gain
            r = torch.where(mass > 0, r, torch.zeros_like(r)).amax(-1) / spans[i]
            regret[:, p0:p0 + step] = torch.maximum(regret[:, p0:p0 + step], r)
    return pick(prof, regret, value, model)


def pick(prof, regret: torch.Tensor, value: torch.Tensor, model: str) -> Equilibria:
    """The equilibrium (else the least-regret profile) best or worst for the leader."""
    eq = regret <= TOL
    found = eq.any(1)
    least = regret.min(1, keepdim=True).values
    cand = torch.where(found.view(-1, 1), eq, regret <= least + TOL)
    sign = 1.0 if model == "favourable" else -1.0
    score = torch.where(cand, sign * value, torch.full_like(value, -math.inf))
    top = score.max(1, keepdim=True).values
    best = (score >= top - EPS * top.abs().clamp(min=1.0)).to(torch.int8).argmax(1)  # the earliest
    strat = [s.to(value.device)[best] for s in prof.strat]
    return Equilibria(strat=strat, found=found, regret=regret.gather(1, best.view(-1, 1)).view(-1))
