"""Followers' no-regret dynamics (multiplicative weights, the paper's Algorithm 2) and
the equilibrium check of Definition 3.3.

All functions take the payoff tensor ``U[B, n, T, A]`` of `mechdsl.evaluate` and work
on a batch of games at once.  Weights are kept as log-weights so any number of rounds
is safe: ``w *= (1 + step) ** payoff`` becomes ``logw += payoff * log(1 + step)``.

Strategies are a list (one per follower) of tensors ``[B, T_i, A_i]`` of probabilities.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from mechdsl.compiler.model import DEFAULT_FOLLOWER_MODEL, DEFAULT_TIES
from mechdsl.evaluate import Tables

TIE_TOL = 1e-9


@dataclass
class MWConfig:
    step: float = 0.1
    rounds: int = 100
    normalize: bool = True
    ties: str = DEFAULT_TIES  # how exact ties in the final weights are read (mechdsl.ties)
    # the followers' response model and its knobs (mechdsl.followers; docs/followers.md)
    model: str = DEFAULT_FOLLOWER_MODEL
    learning_rate: float = 0.1
    epsilon: float = 0.1

    @classmethod
    def from_ir(cls, ir, ties: Optional[str] = None, model: Optional[str] = None) -> "MWConfig":
        d = ir.model.dynamics
        return cls(step=d.step, rounds=d.equilibrium, normalize=d.normalize,
                   ties=ties or d.ties, model=model or d.model, learning_rate=d.learning_rate, epsilon=d.epsilon)


def normalized(tb: Tables, U: torch.Tensor, normalize: bool) -> torch.Tensor:
    """Scale follower i's payoffs into [0, 1] by its declared bounds (if asked)."""
    if not normalize:
        return U
    lo = torch.tensor([b[0] for b in tb.ir.utility_bounds], dtype=U.dtype, device=U.device)
    hi = torch.tensor([b[1] for b in tb.ir.utility_bounds], dtype=U.dtype, device=U.device)
    span = torch.where(hi - lo > 0, hi - lo, torch.ones_like(hi))
    return (U - lo.view(1, -1, 1, 1)) / span.view(1, -1, 1, 1)


def _shape(tb: Tables):
    return list(tb.ir.type_counts), list(tb.ir.action_counts)


def expected_payoffs(tb: Tables, U: torch.Tensor, strategies: list[torch.Tensor]) -> list[torch.Tensor]:
    """Q_i[b, t_i, a_i]: follower i's expected payoff for each own action, given its type,
    over the others' types (the prior conditioned on t_i) and the others' strategies."""
    B, n = U.shape[0], U.shape[1]
    tc, ac = _shape(tb)
    prior = tb.prior.view(*tc)
    out = []
    for i in range(n):
        # weight over (t, a_-i): prior(t) * prod_{j != i} sigma_j(a_j | t_j)
        w = prior.expand(B, *tc)
        w = w.reshape(B, *tc, *([1] * n))
        for j in range(n):
            if j == i:
                continue
            shape = [B] + [1] * n + [1] * n
            shape[1 + j] = tc[j]
            shape[1 + n + j] = ac[j]
            w = w * strategies[j].reshape(shape)
        Ui = U[:, i].reshape(B, *tc, *ac)
        prod = w * Ui  # broadcast over a_i (w has size 1 there)
        # sum over all t_-i and a_-i, keep t_i and a_i
        keep_t, keep_a = 1 + i, 1 + n + i
        dims = [d for d in range(1, 1 + 2 * n) if d not in (keep_t, keep_a)]
        q = prod.sum(dim=dims) if dims else prod  # [B, T_i, A_i]
        p_ti = prior.sum(dim=[d for d in range(n) if d != i]) if n > 1 else prior
        q = q / p_ti.clamp(min=1e-300).view(1, -1, 1)
        out.append(q)
    return out


def pure(strategy_idx: list[torch.Tensor], tb: Tables) -> list[torch.Tensor]:
    """One-hot strategies from action indices [B, T_i]."""
    return [
        torch.nn.functional.one_hot(s, tb.ir.action_counts[i]).to(tb.dtype)
        for i, s in enumerate(strategy_idx)
    ]


def argmax_strategy(logw: list[torch.Tensor]) -> list[torch.Tensor]:
    """The reward phase plays the action of highest weight; ties go to the lowest index."""
    out = []
    for lw in logw:
        top = lw.max(-1, keepdim=True).values
        near = lw >= top - TIE_TOL * top.abs().clamp(min=1.0)
        out.append(near.to(torch.int8).argmax(-1))
    return out


def expected_mw(tb: Tables, U: torch.Tensor, cfg: MWConfig) -> list[torch.Tensor]:
    """Deterministic MW: every round, every type updates on its expected payoff against
    the others' current mixed strategies.  Returns the final log-weights."""
    B, n = U.shape[0], U.shape[1]
    Un = normalized(tb, U, cfg.normalize)
    logw = [torch.zeros(B, tb.ir.type_counts[i], tb.ir.action_counts[i], dtype=U.dtype, device=U.device) for i in range(n)]
    rate = math.log1p(cfg.step)
    for _ in range(cfg.rounds):
        strat = [torch.softmax(lw, -1) for lw in logw]
        q = expected_payoffs(tb, Un, strat)
        logw = [lw + rate * qi for lw, qi in zip(logw, q)]
    return logw


def sampled_mw(
    tb: Tables,
    U: torch.Tensor,
    cfg: MWConfig,
    generator: torch.Generator,
    logw: Optional[list[torch.Tensor]] = None,
    rounds: Optional[int] = None,
) -> list[torch.Tensor]:
    """Algorithm 2 exactly: each round sample a type profile and an action profile, then
    every follower updates the weights of its sampled type with the payoff each of its
    actions would have earned against the others' sampled actions."""
    B, n = U.shape[0], U.shape[1]
    dev = U.device
    Un = normalized(tb, U, cfg.normalize)
    ac = tb.ir.action_counts
    strides = [math.prod(ac[i + 1 :]) for i in range(n)]
    if logw is None:
        logw = [torch.zeros(B, tb.ir.type_counts[i], ac[i], dtype=U.dtype, device=dev) for i in range(n)]
    else:
        logw = [lw.clone() for lw in logw]
    rate = math.log1p(cfg.step)
    bidx = torch.arange(B, device=dev)
    prior = tb.prior.to(dev)
    Uflat = Un.reshape(B, n, -1)  # [B, n, T*A]
    for _ in range(cfg.rounds if rounds is None else rounds):
        t = torch.multinomial(prior.expand(B, -1).float(), 1, generator=generator).squeeze(1)  # [B]
        ti = tb.tidx[t]  # [B, n]
        acts = []
        for i in range(n):
            p = torch.softmax(logw[i][bidx, ti[:, i]], -1)
            acts.append(torch.multinomial(p.float(), 1, generator=generator).squeeze(1))
        a = sum(acts[i] * strides[i] for i in range(n))
        for i in range(n):
            alt = torch.arange(ac[i], device=dev)
            prof = (a - acts[i] * strides[i]).unsqueeze(1) + alt.unsqueeze(0) * strides[i]  # [B, A_i]
            flat = t.unsqueeze(1) * tb.A + prof
            pay = Uflat[bidx.unsqueeze(1), i, flat]  # [B, A_i]
            logw[i][bidx, ti[:, i]] += rate * pay
    return logw


def regret(tb: Tables, U: torch.Tensor, strategies: list[torch.Tensor]) -> torch.Tensor:
    """Each follower's largest gain from a fixed deviation, per type: the epsilon of an
    epsilon-approximate B-CCE (Definition 3.3), in the spec's payoff units.  [B, n, Tmax]"""
    q = expected_payoffs(tb, U, strategies)
    B, n = U.shape[0], U.shape[1]
    out = torch.zeros(B, n, max(tb.ir.type_counts), dtype=U.dtype, device=U.device)
    for i in range(n):
        now = (q[i] * strategies[i]).sum(-1)
        best = q[i].max(-1).values
        out[:, i, : q[i].shape[1]] = (best - now).clamp(min=0.0)
    return out


def leader_value(tb: Tables, V: torch.Tensor, strategies: list[torch.Tensor]) -> torch.Tensor:
    """The leader's expected objective when followers play `strategies`.  [B]"""
    B = V.shape[0]
    n = len(strategies)
    tc, ac = _shape(tb)
    w = tb.prior.view(1, *tc, *([1] * n)).expand(B, *tc, *([1] * n))
    for j in range(n):
        shape = [B] + [1] * n + [1] * n
        shape[1 + j] = tc[j]
        shape[1 + n + j] = ac[j]
        w = w * strategies[j].reshape(shape)
    return (w * V.reshape(B, *tc, *ac)).reshape(B, -1).sum(-1)
