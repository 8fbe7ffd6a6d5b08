"""One PPO iteration for one learner: `Learner` (an actor-critic of the population with
its optimizers and stopping state) and `ppo_update` (clipped policy gradient with the
KL-adapted learning rate, then the critic's regression)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn

from mechdsl.config import TrainConfig
from mechdsl.evaluate import Policy
from mechdsl.nets import Agent, Head, Sample, central_features
from mechdsl.pomdp import StackelbergPOMDP, State


class Learner:
    """One actor-critic of the population with its optimizers and its own stopping state."""

    def __init__(self, agent: Agent, config: TrainConfig):
        self.agent = agent
        self.actor_opt = torch.optim.Adam(agent.actor_parameters(), lr=config.lr, eps=1e-5)
        self.critic_opt = torch.optim.Adam(agent.critic.parameters(), lr=config.critic_lr, eps=1e-5)
        self.best, self.since_best, self.done = -math.inf, 0, False
        self.value, self.regret, self.row = -math.inf, math.inf, {}
        self.lr = config.lr
        self.best_map: Optional[Policy] = None  # the greedy map of its best evaluation
        self.key = (False, -math.inf, -math.inf)  # the rank of its last evaluation (mechdsl.train.rank)
        self.best_key = self.key  # the rank of its best map
        self.pending_loss: list[float] = []  # critic losses of the iterations since the last evaluation

    def state_dict(self) -> dict[str, Any]:
        """Plain containers of tensors and numbers only, so a checkpoint loads with
        `torch.load(weights_only=True)` and can never run code."""
        return {"agent": self.agent.state_dict(), "actor_opt": self.actor_opt.state_dict(),
                "critic_opt": self.critic_opt.state_dict(), "best": self.best, "since_best": self.since_best,
                "done": self.done, "value": self.value, "regret": self.regret, "row": self.row, "lr": self.lr,
                "best_map": None if self.best_map is None else vars(self.best_map).copy(), "best_key": list(self.best_key),
                "key": list(self.key), "pending_loss": list(self.pending_loss)}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.agent.load_state_dict(d["agent"])
        self.actor_opt.load_state_dict(d["actor_opt"])
        self.critic_opt.load_state_dict(d["critic_opt"])
        self.best, self.since_best, self.done = d["best"], d["since_best"], d["done"]
        self.value, self.regret, self.row, self.lr = d["value"], d["regret"], d["row"], d["lr"]
        dev = next(self.agent.parameters()).device  # files are read onto the CPU
        self.best_map = None if d["best_map"] is None else Policy(
            **{k: None if v is None else v.to(dev) for k, v in d["best_map"].items()})
        self.best_key, self.key = tuple(d["best_key"]), tuple(d["key"])
        self.pending_loss = list(d.get("pending_loss", []))


@dataclass
class Batch:
    """One learner's decisions of an iteration: where (information set), what was drawn
    there, the critic's input and the return."""

    s_idx: torch.Tensor  # [N] information set of each decision
    action: torch.Tensor  # [N] discrete action
    weights: Optional[torch.Tensor]  # [N, K] row weights drawn at mixed choose sets
    prices: Optional[torch.Tensor]  # [N, m] price logits drawn at interval sets
    central: torch.Tensor  # [N, F'] the critic's input
    returns: torch.Tensor  # [N] the return (the critic's target)


def ppo_update(config: TrainConfig, pomdp: StackelbergPOMDP, head: Head, learner: Learner, sample: Sample,
               st: State, target: torch.Tensor, ent_coef: float, gen: torch.Generator,
               keep: Optional[torch.Tensor] = None) -> dict[str, float]:
    """PPO on one learner's decisions: every information set each episode encountered
    (and `keep` [B, S] allows, see TrainConfig.response_prob), with the episode's
    return; then the critic's regression."""
    enc = st.encountered if keep is None else st.encountered & keep
    b_idx, s_idx = enc.nonzero(as_tuple=True)
    b_w = sample.weights[b_idx, s_idx].float() if sample.weights is not None else None
    b_p = sample.prices[b_idx, s_idx].float() if sample.prices is not None else None
    b_cin = central_features(pomdp, st, b_idx, s_idx) if config.algo == "mappo" else pomdp.features[s_idx]
    batch = Batch(s_idx, sample.action[b_idx, s_idx], b_w, b_p, b_cin, target[b_idx])
    return update(config, head, learner, batch, ent_coef, gen)


def update(config: TrainConfig, head: Head, learner: Learner, batch: Batch, ent_coef: float,
           gen: torch.Generator) -> dict[str, float]:
    """The clipped policy-gradient epochs, then the critic's regression, on `batch`."""
    agent, dev = learner.agent, batch.returns.device
    s_idx, b_act, b_w, b_p, b_cin, b_returns = (batch.s_idx, batch.action, batch.weights, batch.prices,
                                                 batch.central, batch.returns)
    N = len(s_idx)
    if N == 0:  # nothing to learn from (a basic-POMDP batch may be empty)
        return {"entropy": math.nan, "approx_kl": 0.0, "lr": learner.lr, "clipfrac": 0.0, "value_loss": math.nan,
                "policy_loss": math.nan, "explained_variance": math.nan, "decisions": 0}
    with torch.no_grad():
        b_logp, _ = head.logprob_entropy(agent, s_idx, b_act, b_w, b_p)
        b_values = agent.critic(b_cin).squeeze(-1)
    b_adv = b_returns - b_values

    # the actor
    mb_size = max(1, math.ceil(N / config.minibatches))
    clipfracs, approx_kl, pg_loss, entropy = [], 0.0, 0.0, 0.0
    for _ in range(config.epochs):
        if config.target_kl is not None and approx_kl > 1.5 * config.target_kl:
            break
        perm = torch.randperm(N, generator=gen, device=dev)
        for start in range(0, N, mb_size):
            mb = perm[start : start + mb_size]
            newlogp, ent = head.logprob_entropy(
                agent, s_idx[mb], b_act[mb], None if b_w is None else b_w[mb], None if b_p is None else b_p[mb]
            )
            logratio = newlogp - b_logp[mb]
            ratio = logratio.exp()
            with torch.no_grad():
                approx_kl = float(((ratio - 1) - logratio).mean())
                clipfracs.append(float(((ratio - 1.0).abs() > config.clip).float().mean()))
            mb_adv = b_adv[mb]
            if len(mb) > 1:
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
            pg1 = -mb_adv * ratio
            pg2 = -mb_adv * torch.clamp(ratio, 1 - config.clip, 1 + config.clip)
            pg = torch.max(pg1, pg2).mean()
            entropy_loss = ent.mean()
            loss = pg - ent_coef * entropy_loss
            learner.actor_opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.actor_parameters(), config.max_grad_norm)
            learner.actor_opt.step()
            pg_loss, entropy = float(pg.detach()), float(entropy_loss.detach())

    with torch.no_grad():  # how far this iteration moved the policy, on all its decisions
        newlogp, _ = head.logprob_entropy(agent, s_idx, b_act, b_w, b_p)
        logratio = newlogp - b_logp
        kl = float(((logratio.exp() - 1) - logratio).mean())
    if config.target_kl is not None:
        if kl > 2 * config.target_kl:
            learner.lr = learner.lr / 1.5
        elif kl < config.target_kl / 2:
            learner.lr = min(config.lr, learner.lr * 1.5)
        for group in learner.actor_opt.param_groups:
            group["lr"] = learner.lr

    # the critic: regress the return on its input.  value_loss is the mean squared error
    # over every minibatch of every critic epoch (Stable-Baselines3's train/value_loss,
    # what the paper's Fig. 6 plots); the regression minimizes half of it.
    v_losses = []
    cmb = max(1, min(N, config.critic_minibatch))
    for _ in range(config.critic_epochs):
        perm = torch.randperm(N, generator=gen, device=dev)
        for start in range(0, N, cmb):
            mb = perm[start : start + cmb]
            mse = ((agent.critic(b_cin[mb]).squeeze(-1) - b_returns[mb]) ** 2).mean()
            learner.critic_opt.zero_grad()
            (0.5 * mse).backward()
            nn.utils.clip_grad_norm_(agent.critic.parameters(), config.max_grad_norm)
            learner.critic_opt.step()
            v_losses.append(float(mse.detach()))
    var_y = float(b_returns.var()) if N > 1 else 0.0
    return {
        "entropy": entropy, "approx_kl": kl, "lr": learner.lr, "clipfrac": sum(clipfracs) / max(1, len(clipfracs)),
        "value_loss": sum(v_losses) / len(v_losses) if v_losses else math.nan, "policy_loss": pg_loss,
        "explained_variance": math.nan if var_y == 0 else 1 - float((b_returns - b_values).var()) / var_y,
        "decisions": N,
    }
