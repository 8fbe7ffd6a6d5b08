"""The Stackelberg POMDP without the per-episode observation-action map -- the paper's
ablation (`TrainConfig.episode_map = false`, its code's `fix_episode_actions=False`).

With the map (`mechdsl.pomdp`), the leader's action at an information set is drawn once
per episode and every later encounter reuses it, so the followers equilibrate against
one fixed mechanism.  Here the action is drawn afresh from the actor every time an
information set is met: in each rollout of each equilibrium sub-episode (every follower,
every alternative action) and in each reward sub-episode.  The followers then learn
from noisy payoffs, and an episode has one decision per environment step.

Within one rollout each information set is met at most once, so drawing a whole fresh
map per rollout and reading that rollout's cell of `mechdsl.evaluate` is the same, in
distribution, as drawing each action when its set is met; the rollout's decisions are
the information sets on its path.  The MW updates are Algorithm 2's draw for draw
(`mechdsl.dynamics.sampled_mw`), each alternative's payoff read from its own rollout.

Returns: a decision's return is the normalized reward still to come (gamma = 1, the
reward of a sub-episode divided by R, as the paper's code): the whole episode's mean
for an equilibrium decision, the rewards from its own sub-episode on for a reward one.
MAPPO's critic sees the centralized state at the decision -- the phase, the progress
through it, the followers' current mixed strategies and the drawn type profile; PPO's
sees the information set's features only.  Exact ties in the followers' final weights
are read against the leader's payoffs averaged over the last equilibrium round's draws.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from mechdsl.dynamics import normalized
from mechdsl.evaluate import Payoffs, evaluate
from mechdsl.nets import Agent, Head, Sample
from mechdsl.pomdp import StackelbergPOMDP
from mechdsl.ppo import Batch
from mechdsl.ties import play


@dataclass
class FreshEpisodes:
    """B episodes played without the map: the learner's batch and what each episode did."""

    batch: Batch  # the decisions the learner trains on (after `response_prob`)
    episode: torch.Tensor  # [N] the episode of each decision in `batch`
    phase: torch.Tensor  # [N] 0: equilibrium sub-episode, 1: reward sub-episode
    rewards: torch.Tensor  # [B, R] normalized reward of each reward sub-episode
    steps: torch.Tensor  # [B] environment steps (every leader decision, kept or not)

    @property
    def returns(self) -> torch.Tensor:
        """[B] the episode's mean normalized reward."""
        return self.rewards.mean(-1)


def n_central_fresh(p: StackelbergPOMDP) -> int:
    """Width of MAPPO's critic input here: features, phase, progress, strategies, types."""
    return p.features.shape[1] + 2 + sum(t * a for t, a in zip(p.ir.type_counts, p.ir.action_counts)) + p.T


def check_fresh(p: StackelbergPOMDP) -> Optional[str]:
    """Why this game cannot be played without the map (None: it can)."""
    if p.ir.mixed and p.tb.has_rounds:
        return ("episode_map = false does not support a mixed commitment followed by rounds "
                "(a rollout's path then depends on the row drawn)")
    return None


def run_fresh(p: StackelbergPOMDP, head: Head, agent: Agent, B: int, gen: torch.Generator, mappo: bool,
              response_prob: float = 1.0) -> FreshEpisodes:
    """B whole episodes, every leader decision drawn afresh from `agent`."""
    tb, mw, dev = p.tb, p.mw, p.device
    n, ac, tc = p.n, p.ir.action_counts, p.ir.type_counts
    owner = torch.cat([torch.full((ac[i],), i, dtype=torch.long, device=dev) for i in range(n)])  # [NA]
    alt = torch.cat([torch.arange(ac[i], device=dev) for i in range(n)])
    stride = torch.tensor(p.strides, dtype=torch.long, device=dev)[owner] if n else owner
    NA = len(owner)
    logw = [torch.zeros(B, tc[i], ac[i], dtype=p.dtype, device=dev) for i in range(n)]
    rate = math.log1p(mw.step)
    bidx = torch.arange(B, device=dev)
    prior = tb.prior.float().expand(B, -1)
    parts: list[dict[str, torch.Tensor]] = []
    v_ties = None
    for r in range(mw.rounds if NA else 0):
        t = torch.multinomial(prior, 1, generator=gen).squeeze(1)  # [B]
        ti = tb.tidx[t]
        acts = [torch.multinomial(torch.softmax(logw[i][bidx, ti[:, i]], -1).float(), 1, generator=gen).squeeze(1)
                for i in range(n)]
        a = sum(acts[i] * p.strides[i] for i in range(n))
        own = torch.stack(acts, 1)[:, owner]  # [B, NA] each rollout's follower's sampled action
        prof = a.view(B, 1) - own * stride + alt * stride  # [B, NA] the rollout's action profile
        extra = _state(p, logw, t, 0, r / max(1, mw.rounds)) if mappo else None
        smp = head.sample(agent, B * NA, gen)
        pay = evaluate(tb, head.to_map(smp))
        tt = t.repeat_interleave(NA)
        Un = normalized(tb, pay.U, mw.normalize)
        u = Un[torch.arange(B * NA, device=dev), owner.repeat(B), tt, prof.reshape(-1)].view(B, NA)
        for i in range(n):
            logw[i][bidx, ti[:, i]] += rate * u[:, owner == i]
        parts.append(_decisions(p, smp, pay, tt, prof.reshape(-1), NA, extra, sub=-1))
        if r == mw.rounds - 1:
            v_ties = pay.V.view(B, NA, p.T, p.A).mean(1)
    if v_ties is None:
        v_ties = evaluate(tb, head.to_map(head.sample(agent, B, gen))).V
    # the reward sub-episodes: types drawn, followers play the argmax of their weights
    R = p.R
    strat, _ = play(tb, logw, v_ties, mw.ties)
    t = torch.multinomial(prior, R, replacement=True, generator=gen)  # [B, R]
    ti = tb.tidx[t]
    a = torch.zeros(B, R, dtype=torch.long, device=dev)
    for i in range(n):
        a = a + strat[i].gather(1, ti[..., i]) * p.strides[i]
    smp = head.sample(agent, B * R, gen)
    pay = evaluate(tb, head.to_map(smp))
    N = B * R
    rewards = ((pay.V[torch.arange(N, device=dev), t.reshape(-1), a.reshape(-1)] - p.lo) / p.span).view(B, R)
    for j in range(R):  # one part per sub-episode: its own progress and return
        rows = torch.arange(B, device=dev) * R + j
        part = Payoffs(pay.U[rows], pay.V[rows], pay.path[rows])
        pick = Sample(smp.action[rows], None if smp.weights is None else smp.weights[rows],
                      None if smp.prices is None else smp.prices[rows])
        extra = _state(p, logw, t[:, j], 1, j / R) if mappo else None
        parts.append(_decisions(p, pick, part, t[:, j], a[:, j], 1, extra, sub=j))
    cat = {k: torch.cat([q[k] for q in parts]) if parts[0][k] is not None else None for k in parts[0]}
    steps = torch.bincount(cat["episode"], minlength=B)
    # returns: the mean reward for equilibrium decisions, the rewards to come for reward ones
    to_come = rewards.flip(-1).cumsum(-1).flip(-1) / R  # [B, R]
    ep, sub = cat["episode"], cat["sub"]
    ret = torch.where(sub < 0, rewards.mean(-1)[ep], to_come[ep, sub.clamp(min=0)]).float()
    keep = torch.ones_like(ep, dtype=torch.bool)
    if response_prob < 1.0:
        coin = torch.rand(len(ep), generator=gen, device=dev) < response_prob
        keep = (sub >= 0) | coin
    s_idx = cat["s"][keep]
    central = cat["central"][keep] if mappo else p.features[s_idx]
    batch = Batch(s_idx, cat["action"][keep], None if cat["weights"] is None else cat["weights"][keep].float(),
                  None if cat["prices"] is None else cat["prices"][keep].float(), central, ret[keep])
    return FreshEpisodes(batch=batch, episode=ep[keep], phase=(sub[keep] >= 0).long(), rewards=rewards, steps=steps)


def _state(p: StackelbergPOMDP, logw: list[torch.Tensor], t: torch.Tensor, phase: int, progress: float) -> torch.Tensor:
    """[B, F''] the centralized state a decision is taken in, beyond its information set."""
    B = t.shape[0]
    strat = [torch.softmax(lw, -1).reshape(B, -1).float() for lw in logw]
    flags = torch.tensor([phase, progress], dtype=torch.float32, device=t.device).expand(B, 2)
    types = torch.nn.functional.one_hot(t, p.T).float()
    return torch.cat([flags, *strat, types], 1)


def _decisions(p: StackelbergPOMDP, smp: Sample, pay: Payoffs, t: torch.Tensor, a: torch.Tensor, per: int,
               extra: Optional[torch.Tensor], sub: int) -> dict[str, Optional[torch.Tensor]]:
    """The decisions of one batch of rollouts (rollout k of episode k // per, played on
    type profile t[k] and action profile a[k]): the information sets on each path."""
    N = t.shape[0]
    rows = torch.arange(N, device=t.device)
    path = pay.path[rows, p.tb.obs_class[a], t]  # [N, D]
    k, d = (path >= 0).nonzero(as_tuple=True)
    s = path[k, d]
    out = {
        "episode": k // per, "s": s, "action": smp.action[k, s],
        "weights": None if smp.weights is None else smp.weights[k, s],
        "prices": None if smp.prices is None else smp.prices[k, s],
        "sub": torch.full_like(s, sub),
        "central": None if extra is None else torch.cat([p.features[s], extra[k // per]], 1),
    }
    return out
