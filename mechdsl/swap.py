"""No-swap-regret followers: Blum and Mansour's reduction over multiplicative weights.

Each follower type runs one MW instance per own action j (log-weights ``L[j, k]``).  The
distribution it plays, p, is the stationary distribution of the row-stochastic matrix
whose row j is instance j's strategy (p = p Q); instance j is then updated with the
payoff vector scaled by p_j.  Every instance has no external regret on its share of the
payoffs, so the follower has no *swap* regret, and the time-averaged joint play
converges to the set of Bayesian correlated equilibria (Blum and Mansour 2007,
"From external to internal regret", Theorem 5) -- where plain MW only reaches coarse
correlated equilibria.

State: per follower ``[B, T_i, A_i, A_i]`` log-weights (instance, action).  What the
reward phase reads is ``log p`` ([B, T_i, A_i]), so the tie readings of `mechdsl.ties`
apply to p as they apply to MW's weights.
"""
from __future__ import annotations

import math

import torch

from mechdsl.dynamics import MWConfig
from mechdsl.evaluate import Tables

TINY = 1e-300  # floor of a probability before its log


def stationary(Q: torch.Tensor) -> torch.Tensor:
    """The stationary distribution of row-stochastic matrices Q [..., A, A], by the
    Grassmann-Taksar-Heyman elimination (no subtractions, so it stays accurate when
    some transitions are astronomically small).  [..., A]"""
    A = Q.shape[-1]
    P = Q.clone()
    for k in range(A - 1, 0, -1):
        s = P[..., k, :k].sum(-1, keepdim=True).clamp(min=TINY)  # [..., 1]
        P[..., :k, k] = P[..., :k, k] / s
        P[..., :k, :k] = P[..., :k, :k] + P[..., :k, k:k + 1] * P[..., k:k + 1, :k]
    pi = [torch.ones_like(Q[..., 0, 0])]
    for k in range(1, A):
        pi.append(sum(pi[j] * P[..., j, k] for j in range(k)))
    out = torch.stack(pi, -1)
    return out / out.sum(-1, keepdim=True)


def start(tb: Tables, B: int, dtype=None, device=None) -> list[torch.Tensor]:
    """Uniform instances: per follower [B, T_i, A_i, A_i] zero log-weights."""
    dtype, device = dtype or tb.dtype, device or tb.device
    return [torch.zeros(B, t, a, a, dtype=dtype, device=device)
            for t, a in zip(tb.ir.type_counts, tb.ir.action_counts)]


def played(L: torch.Tensor) -> torch.Tensor:
    """The distribution played: stationary distribution of the instances' strategies."""
    return stationary(torch.softmax(L, -1))


def scores(state: list[torch.Tensor]) -> list[torch.Tensor]:
    """log p per follower [B, T_i, A_i]: what the reward phase's argmax reads."""
    return [played(L).clamp(min=TINY).log() for L in state]


def strategy(L: torch.Tensor) -> torch.Tensor:
    """The expected dynamics' play of one follower: its stationary distribution p."""
    return played(L)


def update(L: torch.Tensor, p: torch.Tensor, q: torch.Tensor, cfg: MWConfig) -> torch.Tensor:
    """One expected round (`mechdsl.followers.run_expected`): instance j moves by
    log(1 + step) * p_j * Q, Q the expected payoffs against the others' current play."""
    return L + math.log1p(cfg.step) * p.unsqueeze(-1) * q.unsqueeze(-2)


class SwapLearner:
    """The sampled version (the POMDP's equilibrium phase, one draw per round): full
    information, like Algorithm 2 -- every alternative action of the follower is
    rolled out against the others' sampled actions."""

    full_information = True

    def __init__(self, cfg: MWConfig):
        self.rate = math.log1p(cfg.step)

    def start(self, tb: Tables, B: int, dtype, device) -> list[torch.Tensor]:
        return start(tb, B, dtype, device)

    def policy(self, state: list[torch.Tensor], i: int, ti: torch.Tensor) -> torch.Tensor:
        """[B, A_i] the distribution follower i's drawn type plays."""
        b = torch.arange(ti.shape[0], device=ti.device)
        return played(state[i][b, ti])

    def update(self, state: list[torch.Tensor], i: int, ti: torch.Tensor, act: torch.Tensor, pay: torch.Tensor) -> None:
        """pay [B, A_i]: each own action's payoff against the others' sampled actions."""
        b = torch.arange(ti.shape[0], device=ti.device)
        p = self.policy(state, i, ti)
        state[i][b, ti] += self.rate * p.unsqueeze(-1) * pay.unsqueeze(-2)

    def scores(self, state: list[torch.Tensor]) -> list[torch.Tensor]:
        return scores(state)
