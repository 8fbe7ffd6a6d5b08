"""The follower models: how the followers respond to a leader policy (docs/followers.md).

- `mw`: multiplicative weights (the paper's Algorithm 2), reward phase plays the argmax
  of the weights; no external regret, so a Bayesian coarse correlated equilibrium.
- `swap`: Blum-Mansour over MW (`mechdsl.swap`); no swap regret, so a Bayesian
  correlated equilibrium; plays the argmax of the stationary distribution.
- `qlearning`: epsilon-greedy bandit Q-learning (`mechdsl.qlearning`); plays the greedy
  action; no guarantee in general.
- `favourable` / `pessimistic`: the exact pure Bayes-Nash equilibrium best / worst for
  the leader (`mechdsl.bne`), no dynamics.

Every model gives, for a batch of induced games, *scores* per follower [B, T_i, A_i]
whose argmax (ties read by `mechdsl.ties`) is what the followers play in the reward
phase -- MW's log-weights, log of swap's stationary distribution, Q-values, or the
equilibrium as one-hot -- so the POMDP, the env, the solver and the certificate read
every model the same way.  `respond` is the deterministic (expected) response `solve`
and the certificate use; `traced` the sampled equilibrium phase of the POMDP.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from mechdsl.compiler.model import FOLLOWER_MODELS
from mechdsl import qlearning, swap
from mechdsl.dynamics import MWConfig, expected_mw, expected_payoffs, normalized, pure
from mechdsl.evaluate import Tables
from mechdsl.qlearning import QLearner, greedy
from mechdsl.swap import SwapLearner
from mechdsl.swap import scores as swap_scores
from mechdsl.ties import play

MODELS = FOLLOWER_MODELS
LEARNING = ("mw", "swap", "qlearning")  # dynamics run for `rounds` sub-episodes
EQUILIBRIUM = ("favourable", "pessimistic")  # an exact pure BNE, no dynamics

NOTION = {
    "mw": "Bayesian coarse correlated equilibrium (no external regret)",
    "swap": "Bayesian correlated equilibrium (no swap regret)",
    "qlearning": "greedy play of Q-learning (regret of the greedy play; no general guarantee)",
    "favourable": "leader-favourable pure Bayes-Nash equilibrium",
    "pessimistic": "leader-adverse pure Bayes-Nash equilibrium",
}
LEARNS = {
    "mw": "followers learn by multiplicative weights",
    "swap": "followers learn by swap-regret dynamics (Blum-Mansour over MW)",
    "qlearning": "followers learn by epsilon-greedy Q-learning",
    "favourable": "followers play the leader-favourable pure Bayes-Nash equilibrium",
    "pessimistic": "followers play the leader-adverse pure Bayes-Nash equilibrium",
}
PLAYED = {
    "mw": "argmax of the MW weights",
    "swap": "argmax of the swap dynamics' stationary play",
    "qlearning": "greedy action of the Q-values",
    "favourable": "pure Bayes-Nash equilibrium",
    "pessimistic": "pure Bayes-Nash equilibrium",
}


def check(model: str) -> str:
    if model not in MODELS:
        from mechdsl.compiler.consts import did_you_mean
        from mechdsl.compiler.errors import MechUsageError

        raise MechUsageError(f"unknown follower model {model!r}",
                             hint=did_you_mean(model, MODELS, "use one of: " + ", ".join(MODELS)))
    return model


@dataclass
class Response:
    """The followers' deterministic response in B induced games."""

    strat: list[torch.Tensor]  # per follower [B, T_i] action played (reading `ties`)
    exact: torch.Tensor  # [B] the tie reading was exact (mechdsl.ties)
    scores: list[torch.Tensor]  # per follower [B, T_i, A_i] what the argmax reads
    mixed: list[torch.Tensor]  # per follower [B, T_i, A_i] the final mixed strategies
    found: Optional[torch.Tensor] = None  # equilibrium models: [B] a pure BNE exists


def final_state(tb: Tables, U: torch.Tensor, cfg: MWConfig) -> list[torch.Tensor]:
    """The learning models' expected dynamics, run for `cfg.rounds` rounds."""
    return expected_mw(tb, U, cfg) if cfg.model == "mw" else run_expected(tb, U, cfg)


def _start(tb: Tables, B: int, U: torch.Tensor, cfg: MWConfig) -> list[torch.Tensor]:
    if cfg.model == "swap":
        return swap.start(tb, B, U.dtype, U.device)
    return qlearning.start(tb, B, U.dtype, U.device)  # zeros [B, T_i, A_i]: MW's log-weights too


def _strategy(state: torch.Tensor, cfg: MWConfig) -> torch.Tensor:
    if cfg.model == "swap":
        return swap.strategy(state)
    if cfg.model == "qlearning":
        return greedy(state, cfg.epsilon)
    return torch.softmax(state, -1)


def _update(state: torch.Tensor, sigma: torch.Tensor, q: torch.Tensor, cfg: MWConfig) -> torch.Tensor:
    if cfg.model == "swap":
        return swap.update(state, sigma, q, cfg)
    if cfg.model == "qlearning":
        return qlearning.update(state, sigma, q, cfg)
    return state + math.log1p(cfg.step) * q  # expected_mw's update


def run_expected(tb: Tables, U: torch.Tensor, cfg: MWConfig, observe=None) -> list[torch.Tensor]:
    """A learning model's deterministic dynamics: every round every type plays its
    current strategy sigma and updates on Q, its expected (normalized) payoffs against
    the others' current strategies; `observe(sigma, Q)` sees every round."""
    Un = normalized(tb, U, cfg.normalize)
    state = _start(tb, U.shape[0], U, cfg)
    for _ in range(cfg.rounds):
        sigma = [_strategy(x, cfg) for x in state]
        q = expected_payoffs(tb, Un, sigma)
        if observe is not None:
            observe(sigma, q)
        state = [_update(x, sg, qi, cfg) for x, sg, qi in zip(state, sigma, q)]
    return state


def empirical_regrets(tb: Tables, U: torch.Tensor, cfg: MWConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """External and swap regret of the dynamics' time-averaged joint play (the average
    over the rounds of the product of the followers' strategies: a correlated
    distribution), per follower and type, in the spec's payoff units.  ([B,n,Tmax] x 2)

    With M[j, k] = the average over rounds of sigma(j) * Q(k): the gain of the swap
    function phi is sum_j M[j, phi(j)] - M[j, j], so the swap regret is
    sum_j max_k (M[j, k] - M[j, j]) and the external regret max_k sum_j (M[j, k] - M[j, j]).
    No external regret (small first) is the coarse correlated equilibrium condition, no
    swap regret (small second) the correlated one."""
    B, n = U.shape[0], U.shape[1]
    M = [torch.zeros(B, t, a, a, dtype=U.dtype, device=U.device)
         for t, a in zip(tb.ir.type_counts, tb.ir.action_counts)]

    def observe(sigma, q):
        for i in range(n):
            M[i] += sigma[i].unsqueeze(-1) * q[i].unsqueeze(-2)

    run_expected(tb, U, cfg, observe)
    ext = torch.zeros(B, n, max(tb.ir.type_counts), dtype=U.dtype, device=U.device)
    swp = torch.zeros_like(ext)
    for i in range(n):
        lo, hi = tb.ir.utility_bounds[i]
        scale = ((hi - lo) if hi > lo else 1.0) if cfg.normalize else 1.0
        gain = (M[i] - M[i].diagonal(dim1=-2, dim2=-1).unsqueeze(-1)) / max(cfg.rounds, 1) * scale
        T_i = M[i].shape[1]
        ext[:, i, :T_i] = gain.sum(-2).max(-1).values.clamp(min=0.0)
        swp[:, i, :T_i] = gain.max(-1).values.sum(-1).clamp(min=0.0)
    return ext, swp


def scores_of(state: list[torch.Tensor], cfg: MWConfig) -> list[torch.Tensor]:
    return swap_scores(state) if cfg.model == "swap" else list(state)


def mixed_of(state: list[torch.Tensor], cfg: MWConfig) -> list[torch.Tensor]:
    if cfg.model == "swap":
        return [s.exp() for s in swap_scores(state)]
    if cfg.model == "qlearning":
        return [greedy(q, cfg.epsilon) for q in state]
    return [torch.softmax(w, -1) for w in state]


def respond(tb: Tables, U: torch.Tensor, V: torch.Tensor, cfg: MWConfig, ties: Optional[str] = None) -> Response:
    """What the followers play in each game under `cfg.model`: the learning models run
    their expected dynamics and play the argmax of their scores, ties read `ties`
    (default `cfg.ties`); the equilibrium models play their pure BNE."""
    if cfg.model in EQUILIBRIUM:
        from mechdsl.bne import respond as bne_respond

        eq = bne_respond(tb, U, V, cfg.model)
        onehot = pure(eq.strat, tb)
        return Response(eq.strat, torch.ones_like(eq.found), onehot, onehot, eq.found)
    state = final_state(tb, U, cfg)
    sc = scores_of(state, cfg)
    strat, exact = play(tb, sc, V, ties or cfg.ties)
    return Response(strat, exact, sc, mixed_of(state, cfg))


def learner(cfg: MWConfig):
    """The sampled learner of a learning model other than `mw` (whose sampled run is
    `mechdsl.dynamics.sampled_mw`): `SwapLearner` or `QLearner`."""
    return {"swap": SwapLearner, "qlearning": QLearner}[cfg.model](cfg)


def traced(tb: Tables, U: torch.Tensor, V: torch.Tensor, cfg: MWConfig, generator: torch.Generator,
           strides: list[int]):
    """The POMDP's equilibrium phase for a model other than `mw`: (scores per follower,
    [B, T] type profiles drawn, [B, T, A] mechanism rollouts per (type, action) profile).

    Learning models: each of `cfg.rounds` sub-episodes draws a type profile and the
    followers' actions (in `_traced_mw`'s order), rolls out every alternative action of
    each follower (`swap`, full information) or only the profile played (`qlearning`,
    bandit feedback), and updates.  Equilibrium models: no draws; every (type, action)
    profile the prior allows is rolled out once (the whole induced game is read) and the
    scores are the equilibrium, one-hot."""
    B, n, dev = U.shape[0], U.shape[1], U.device
    t_hist = torch.zeros(B, tb.T, dtype=U.dtype, device=dev)
    visits = torch.zeros(B, tb.T * tb.A, dtype=U.dtype, device=dev)
    if cfg.model in EQUILIBRIUM:
        t_hist[:] = (tb.prior > 0).to(U.dtype)
        visits = t_hist.unsqueeze(-1).expand(B, tb.T, tb.A).clone()
        return respond(tb, U, V, cfg).scores, t_hist, visits
    from mechdsl.dynamics import normalized

    lrn = learner(cfg)
    Uflat = normalized(tb, U, cfg.normalize).reshape(B, n, -1)
    state = lrn.start(tb, B, U.dtype, dev)
    ac = tb.ir.action_counts
    bidx = torch.arange(B, device=dev)
    prior = tb.prior.to(dev)
    for _ in range(cfg.rounds):
        t = torch.multinomial(prior.expand(B, -1).float(), 1, generator=generator).squeeze(1)
        ti = tb.tidx[t]
        acts = [torch.multinomial(lrn.policy(state, i, ti[:, i]).float(), 1, generator=generator).squeeze(1)
                for i in range(n)]
        a = sum(acts[i] * strides[i] for i in range(n))
        t_hist[bidx, t] += 1
        for i in range(n):
            if lrn.full_information:
                alt = torch.arange(ac[i], device=dev)
                prof = (a - acts[i] * strides[i]).unsqueeze(1) + alt.unsqueeze(0) * strides[i]  # [B, A_i]
            else:
                prof = a.unsqueeze(1)
            flat = t.unsqueeze(1) * tb.A + prof
            lrn.update(state, i, ti[:, i], acts[i], Uflat[bidx.unsqueeze(1), i, flat])
            if lrn.full_information or i == 0:
                visits.scatter_add_(1, flat, torch.ones_like(flat, dtype=U.dtype))
    return lrn.scores(state), t_hist, visits.view(B, tb.T, tb.A)


def describe(model: str, ties: str) -> str:
    """What the followers do, in words, for a report's headline (the notion is in the
    certificate's lines)."""
    return LEARNS[model] + (f", ties read {ties}" if model in LEARNING else "")


def rounds_words(cfg: MWConfig) -> str:
    """`after 100 MW rounds` and the like, for certificate warnings."""
    what = {"mw": "MW", "swap": "swap-regret", "qlearning": "Q-learning"}.get(cfg.model)
    return f"after {cfg.rounds} {what} rounds" if what else "at the pure Bayes-Nash equilibrium"

