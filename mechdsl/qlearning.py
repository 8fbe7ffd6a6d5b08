"""Q-learning followers: one stateless (bandit) Q-table per follower type, epsilon-greedy.

Each type keeps Q[a] (initially 0) and plays epsilon-greedy: the greedy action (ties
shared equally) with probability 1 - epsilon, a uniform action otherwise.  After a
round only the action played is updated, with the payoff it earned against the others'
sampled actions: ``Q[a] += learning_rate * (payoff - Q[a])`` (bandit feedback, as the
Q-learning followers of the paper's code and its follow-up).  The reward phase plays
the greedy action (the argmax of Q, ties read by `mechdsl.ties`).

With epsilon > 0 every action keeps being tried, so against opponents that settle, Q
tends to each action's expected payoff and the greedy action to a best response; the
certificate therefore reports the regret of the greedy play.  Q-learning carries no
regret guarantee in general (it can cycle in games without a pure equilibrium).

The deterministic version (`update`, run by `mechdsl.followers.run_expected`) applies the expected update
``Q[a] += learning_rate * pi(a) * (E[payoff of a] - Q[a])``: what `solve` evaluates.
"""
from __future__ import annotations

import torch

from mechdsl.dynamics import TIE_TOL, MWConfig
from mechdsl.evaluate import Tables


def greedy(Q: torch.Tensor, epsilon: float) -> torch.Tensor:
    """The epsilon-greedy distribution of Q-values [..., A] (tied greedy actions share)."""
    top = Q.max(-1, keepdim=True).values
    near = (Q >= top - TIE_TOL * top.abs().clamp(min=1.0)).to(Q.dtype)
    A = Q.shape[-1]
    return (1.0 - epsilon) * near / near.sum(-1, keepdim=True) + epsilon / A


def start(tb: Tables, B: int, dtype=None, device=None) -> list[torch.Tensor]:
    dtype, device = dtype or tb.dtype, device or tb.device
    return [torch.zeros(B, t, a, dtype=dtype, device=device) for t, a in zip(tb.ir.type_counts, tb.ir.action_counts)]


def update(Q: torch.Tensor, pi: torch.Tensor, r: torch.Tensor, cfg: MWConfig) -> torch.Tensor:
    """One expected round (`mechdsl.followers.run_expected`): every Q[a] moves by its
    expected update against the others' current epsilon-greedy play."""
    return Q + cfg.learning_rate * pi * (r - Q)


class QLearner:
    """The sampled version for the POMDP's equilibrium phase: only the action profile
    played is rolled out (bandit feedback)."""

    full_information = False

    def __init__(self, cfg: MWConfig):
        self.lr, self.epsilon = cfg.learning_rate, cfg.epsilon

    def start(self, tb: Tables, B: int, dtype, device) -> list[torch.Tensor]:
        return start(tb, B, dtype, device)

    def policy(self, state: list[torch.Tensor], i: int, ti: torch.Tensor) -> torch.Tensor:
        b = torch.arange(ti.shape[0], device=ti.device)
        return greedy(state[i][b, ti], self.epsilon)

    def update(self, state: list[torch.Tensor], i: int, ti: torch.Tensor, act: torch.Tensor, pay: torch.Tensor) -> None:
        """pay [B, 1]: the payoff of the action played."""
        b = torch.arange(ti.shape[0], device=ti.device)
        q = state[i][b, ti, act]
        state[i][b, ti, act] = q + self.lr * (pay[:, 0] - q)

    def scores(self, state: list[torch.Tensor]) -> list[torch.Tensor]:
        return [q.clone() for q in state]
