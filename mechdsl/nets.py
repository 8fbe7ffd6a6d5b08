"""The agent: actor-critic networks (`Agent`), the policy distribution they give over a
whole observation-action map (`Head`, drawing `Sample`s), and the centralized critic's
input (`central_features`; why it is unbiased: `mechdsl.train`'s docstring)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from mechdsl.evaluate import Policy
from mechdsl.pomdp import StackelbergPOMDP, State


# ---------------------------------------------------------------------------
# the agent: a masked categorical over actions, Gaussian row weights for mixed choose
# sets, Gaussian logits squashed into [low, high] for interval prices
# ---------------------------------------------------------------------------


def layer_init(layer: nn.Linear, std: float = math.sqrt(2), bias: float = 0.0) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


def mlp(n_in: int, hidden: int, n_out: int, out_std: float) -> nn.Sequential:
    return nn.Sequential(
        layer_init(nn.Linear(n_in, hidden)), nn.Tanh(),
        layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
        layer_init(nn.Linear(hidden, n_out), std=out_std),
    )


class Agent(nn.Module):
    def __init__(self, n_obs: int, n_central: int, K: int, m: int, hidden: int, init_log_std: float = 0.0):
        super().__init__()
        self.actor = mlp(n_obs, hidden, K + m, out_std=0.01)  # K logits (or row weights), m price logits
        self.weight_log_std = nn.Parameter(torch.full((K,), float(init_log_std)))
        self.price_log_std = nn.Parameter(torch.full((m,), float(init_log_std)))
        self.critic = mlp(n_central, hidden, 1, out_std=1.0)
        self.K = K

    def actor_parameters(self):
        return [*self.actor.parameters(), self.weight_log_std, self.price_log_std]

    def heads(self, obs: torch.Tensor, legal: torch.Tensor):
        out = self.actor(obs)
        logits = out[:, : self.K].masked_fill(~legal, -1e9)
        return logits, out[:, : self.K], out[:, self.K :]


@dataclass
class Sample:
    """The actor's draw of B maps: discrete actions, row weights, price logits."""

    action: torch.Tensor  # [B, S]
    weights: Optional[torch.Tensor]  # [B, S, K]
    prices: Optional[torch.Tensor]  # [B, S, m]


class Head:
    """The policy distribution over a whole map, per information set."""

    def __init__(self, pomdp: StackelbergPOMDP):
        self.p = pomdp
        self.mixed = pomdp.mixed_sets  # [S]
        self.priced = pomdp.priced  # [S, m]
        self.has_weights = bool(pomdp.ir.mixed)
        self.has_prices = pomdp.has_prices

    def sample(self, agent: Agent, B: int, gen: torch.Generator) -> Sample:
        obs, legal = self.p.observe()
        with torch.no_grad():
            logits, mean_w, mean_p = agent.heads(obs, legal)
            probs = torch.softmax(logits, -1)
            action = torch.multinomial(probs, B, replacement=True, generator=gen).T.contiguous()
            weights = prices = None
            if self.has_weights:
                std = agent.weight_log_std.exp()
                weights = mean_w + std * torch.randn(B, *mean_w.shape, generator=gen, device=obs.device)
            if self.has_prices:
                std = agent.price_log_std.exp()
                prices = mean_p + std * torch.randn(B, *mean_p.shape, generator=gen, device=obs.device)
        return Sample(action, weights, prices)

    def greedy(self, agent: Agent) -> Sample:
        obs, legal = self.p.observe()
        with torch.no_grad():
            logits, mean_w, mean_p = agent.heads(obs, legal)
        return Sample(
            logits.argmax(-1).unsqueeze(0),
            mean_w.unsqueeze(0) if self.has_weights else None,
            mean_p.unsqueeze(0) if self.has_prices else None,
        )

    def to_map(self, s: Sample) -> Policy:
        return self.p.make_map(s.action, s.weights, s.prices)

    def logprob_entropy(self, agent: Agent, s_idx, action, weights, prices):
        """log pi(decision) and the entropy at it, for decisions at info sets s_idx."""
        obs, legal = self.p.observe()
        logits, mean_w, mean_p = agent.heads(obs, legal)
        logp_all = torch.log_softmax(logits, -1)
        p_all = logp_all.exp()
        ent_all = -(p_all * logp_all).sum(-1)  # [S]
        logp = logp_all[s_idx].gather(1, action.unsqueeze(1)).squeeze(1)
        ent = ent_all[s_idx]
        if self.has_weights:
            lg = legal[s_idx].float()
            nd = torch.distributions.Normal(mean_w[s_idx], agent.weight_log_std.exp())
            lp_w = (nd.log_prob(weights) * lg).sum(-1)
            en_w = (nd.entropy() * lg).sum(-1)
            mixed = self.mixed[s_idx]
            logp = torch.where(mixed, lp_w, logp)
            ent = torch.where(mixed, en_w, ent)
        if self.has_prices:
            pr = self.priced[s_idx].float()
            nd = torch.distributions.Normal(mean_p[s_idx], agent.price_log_std.exp())
            logp = logp + (nd.log_prob(prices) * pr).sum(-1)
            ent = ent + (nd.entropy() * pr).sum(-1)
        return logp, ent


# ---------------------------------------------------------------------------
# critic inputs
# ---------------------------------------------------------------------------


def central_features(p: StackelbergPOMDP, st: State, b_idx: torch.Tensor, s_idx: torch.Tensor) -> torch.Tensor:
    """MAPPO's critic input at decision (b, s): the information set's features and the
    episode's exogenous draws -- how often each type profile came up in its equilibrium
    sub-episodes, minus the prior (the reward sub-episodes' draws are integrated out of
    the return).  The followers' weights and the phase at a decision are their initial
    values, the same for every decision, so they carry nothing.  The action taken at s
    cannot change any of these inputs, so the baseline leaves the gradient unbiased."""
    own = getattr(p, "draw_features", None)  # sampled mode: per-agent type frequencies (mechdsl.sampled)
    if own is not None:
        return torch.cat([p.features[s_idx], own(st)[b_idx]], 1)
    eq = st.eq_types.float()
    eq = eq / eq.sum(-1, keepdim=True).clamp(min=1) - p.tb.prior.float()
    return torch.cat([p.features[s_idx], eq[b_idx] * math.sqrt(p.T)], 1)


def n_central(p: StackelbergPOMDP) -> int:
    return p.features.shape[1] + getattr(p, "n_draws", p.T)
