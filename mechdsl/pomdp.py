"""The Stackelberg POMDP (paper Section 6, Appendix C), batched over episodes.

One episode of the POMDP:

1. the leader's *observation-action map* -- one action per information set, drawn
   from the actor when the set is first encountered and then held fixed (drawing it
   for every set up front is the same in distribution; only the sets the episode
   actually encounters count as decisions);
2. T *equilibrium sub-episodes*: a type profile is drawn, the followers draw actions
   from their multiplicative weights, and for every follower i and every action k
   of i the mechanism is rolled out on (k, a_-i); each follower's weights then move
   by the payoffs of its alternatives (Algorithm 2);
3. R *reward sub-episodes*: a type profile is drawn, the followers play the argmax of
   their weights, and the leader is paid the objective, normalized to [0, 1] by
   ``ir.objective_bounds``, at the end of each.

With the map fixed, every rollout's payoff is a cell of the tensors one
`mechdsl.evaluate.evaluate` call returns, so a batch of B episodes is one evaluation,
one batched MW run and one gather -- pure functions over a `State` (PGX style):

>>> pomdp = StackelbergPOMDP(ir)                                  # doctest: +SKIP
>>> state = pomdp.run(pomdp.uniform_map(64, gen), gen)            # doctest: +SKIP
>>> state.rewards.mean(), state.steps.float().mean()               # doctest: +SKIP

The actor sees only `observe()` (the features of the information set it is at); the
critic may read the whole `State`: the followers' weights, the phase, the exogenous
type draws.  `mechdsl.env.StackelbergEnv` steps the same POMDP one leader decision at a
time; for the same map and the same generator both produce the same rewards.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional, Union

import torch

from mechdsl.compiler.ir import GameIR
from mechdsl.dynamics import (
    MWConfig,
    leader_value,
    normalized,
    pure,
    regret,
)
from mechdsl.evaluate import Payoffs, Policy, Tables, evaluate
from mechdsl.followers import respond, traced
from mechdsl.ties import play, tie_masks

EQUILIBRIUM, REWARD, DONE = 0, 1, 2
PHASES = ("equilibrium", "reward", "done")


@dataclass(frozen=True)
class State:
    """The full state of B episodes.  Fields are filled phase by phase (None before).

    map:            the observation-action map (one `Policy` row per episode)
    phase:          [B] EQUILIBRIUM, REWARD or DONE
    payoffs:        U [B,n,T,A], V [B,T,A], path [B,C,T,D] under the map
    logw:           per follower [B, T_i, A_i] log-weights (the followers' state)
    eq_types:       [B, T] how often each type profile was drawn in equilibrium sub-episodes
    visits:         [B, T, A] mechanism rollouts per (type profile, action profile) there
    reward_types:   [B, R] type profile of each reward sub-episode (exogenous draws)
    reward_actions: [B, R] the followers' action profile in it
    rewards:        [B, R] the leader's normalized reward at its end
    encountered:    [B, S] information sets the episode reached: its decisions
    steps:          [B] environment steps (leader decisions over all sub-episodes)
    """

    map: Policy
    phase: torch.Tensor
    payoffs: Optional[Payoffs] = None
    logw: Optional[tuple[torch.Tensor, ...]] = None
    eq_types: Optional[torch.Tensor] = None
    visits: Optional[torch.Tensor] = None
    reward_types: Optional[torch.Tensor] = None
    reward_actions: Optional[torch.Tensor] = None
    rewards: Optional[torch.Tensor] = None
    encountered: Optional[torch.Tensor] = None
    steps: Optional[torch.Tensor] = None

    @property
    def batch(self) -> int:
        return self.phase.shape[0]

    @property
    def returns(self) -> torch.Tensor:
        """[B] the episode's mean normalized reward (the leader's return divided by R)."""
        return self.rewards.mean(-1)


@dataclass(frozen=True)
class Exact:
    """A map's exact worth: followers run deterministic expected MW for T rounds, then
    play the argmax of their weights (what the reward sub-episodes do, without noise)."""

    value: torch.Tensor  # [B] leader objective, spec units
    normalized: torch.Tensor  # [B] in [0, 1] by the objective bounds
    regret: torch.Tensor  # [B] the followers' largest deviation gain (spec units)
    regret_fraction: torch.Tensor  # [B] the same, each follower's as a fraction of its payoff range
    strategies: list[torch.Tensor]  # per follower [B, T_i] argmax action per type


class StackelbergPOMDP:
    """The fixed facts of one compiled game's Stackelberg POMDP (parameters, not state).

    ``mw``: the followers' dynamics and model (default: the spec's ``dynamics`` block;
    ``mw.model`` other than `mw`: `mechdsl.followers`, whose scores fill ``logw``);
    ``reward_rounds``: R (default: the spec's ``reward``)."""

    def __init__(
        self,
        ir: GameIR,
        device: Union[str, torch.device] = "cpu",
        dtype: torch.dtype = torch.float64,
        mw: Optional[MWConfig] = None,
        reward_rounds: Optional[int] = None,
    ):
        self.ir = ir
        self.tb = self._tables(ir, device, dtype)
        self.device, self.dtype = self.tb.device, dtype
        self.mw = mw or MWConfig.from_ir(ir)
        if self.mw.model in ("favourable", "pessimistic"):  # their equilibrium phase enumerates profiles
            from mechdsl.bne import check_size

            check_size(ir)
        self.R = int(reward_rounds if reward_rounds is not None else ir.model.dynamics.reward)
        tb, dev = self.tb, self.device
        self.S, self.K, self.m, self.n = tb.S, tb.K, tb.m, tb.n
        self.T, self.A, self.C = tb.T, tb.A, tb.C
        lo, hi = ir.objective_bounds
        self.lo, self.span = float(lo), float(hi - lo) if hi > lo else 1.0
        self.legal = tb.legal  # [S, K]
        self.features = torch.tensor(ir.obs_features, dtype=torch.float32, device=dev)  # [S, F]
        self.is_choose = tb.is_choose
        # which information sets carry a continuous part of the decision
        self.mixed_sets = tb.is_choose & bool(ir.mixed)  # weights over rows
        self.interval_sets = (~tb.is_choose) & (ir.interval is not None)  # prices in [low, high]
        self.has_prices = ir.continuous  # continuous values: interval prices, or continuous choices
        self.low, self.high = ir.interval or (0.0, 0.0)
        cont = list(ir.choice_intervals.values())
        if cont:  # one value per continuous choice at every choose set (`m` is the width of that part)
            self.m = len(cont)
            self.interval_sets = tb.is_choose.clone()
            self.low = torch.tensor([lo for lo, _ in cont], dtype=dtype, device=dev)
            self.high = torch.tensor([hi for _, hi in cont], dtype=dtype, device=dev)
            self.priced = self.interval_sets.view(-1, 1).expand(self.S, self.m).clone()
        else:  # one price per item, or per bundle: priced while everything in it is in stock
            slots = ir.price_slots if ir.interval is not None else [[j] for j in range(self.m)]
            self.m = len(slots)
            stock = [s.stock if s.kind == "round" and s.stock else [0] * tb.m for s in ir.infosets]
            in_stock = [[all(row[j] > 0 for j in slot) for slot in slots] for row in stock]
            self.priced = torch.tensor(in_stock, dtype=torch.bool, device=dev).view(self.S, self.m) \
                & self.interval_sets.view(-1, 1)
        self.n_choose = len(ir.choose_actions)
        self.strides = [math.prod(ir.action_counts[i + 1 :]) for i in range(self.n)]
        self.support = tb.prior > 0 if tb.prior is not None else None  # [T] type profiles that can occur

    def _tables(self, ir: GameIR, device, dtype) -> Tables:
        """The IR as tensors (`mechdsl.sampled` builds them without the profile-indexed ones)."""
        return Tables(ir, device, dtype)

    # -- what the actor sees ---------------------------------------------------------
    def observe(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The actor's observation of every information set and its legal actions:
        ([S, F] features, [S, K] mask).  Identical in every episode and phase: the
        leader does not see the followers' weights, the phase or the types."""
        return self.features, self.legal

    # -- the map ------------------------------------------------------------------------
    def make_map(
        self,
        action: torch.Tensor,
        weights: Optional[torch.Tensor] = None,
        price_logits: Optional[torch.Tensor] = None,
    ) -> Policy:
        """Turn the actor's raw outputs into a map.

        action [B,S]: the discrete action per information set; weights [B,S,K]: at mixed
        choose sets, one weight (a logit) per row, normalized into a distribution over
        the legal rows; price_logits [B,S,m]: at interval round sets, squashed into
        [low, high] by a sigmoid."""
        B = action.shape[0]
        probs = prices = None
        if self.ir.mixed:
            w = weights if weights is not None else torch.zeros(B, self.S, self.K, dtype=self.dtype, device=self.device)
            w = w.to(self.dtype).masked_fill(~self.legal, -math.inf)
            probs = torch.softmax(w, -1)
            onehot = torch.nn.functional.one_hot(action, self.K).to(self.dtype)
            probs = torch.where(self.mixed_sets.view(1, -1, 1), probs, onehot)
            action = torch.where(self.mixed_sets.view(1, -1), probs.argmax(-1), action)
        if self.has_prices:
            low, high = self.low, self.high
            x = price_logits if price_logits is not None else torch.zeros(B, self.S, self.m, dtype=self.dtype, device=self.device)
            prices = low + (high - low) * torch.sigmoid(x.to(self.dtype))
            prices = torch.where(self.priced.view(1, self.S, self.m), prices, torch.zeros_like(prices))
        return Policy(action=action, probs=probs, prices=prices)

    def uniform_map(self, batch: int, generator: torch.Generator) -> Policy:
        """B maps with every legal action equally likely (continuous parts at their centre)."""
        p = self.legal.to(torch.float32)
        action = torch.multinomial(p, batch, replacement=True, generator=generator).T.contiguous()
        return self.make_map(action)

    # -- the episode ---------------------------------------------------------------------
    def reset(self, leader_map: Policy) -> State:
        """A new batch of episodes whose observation-action map is `leader_map`."""
        B = leader_map.batch
        return State(map=leader_map, phase=torch.full((B,), EQUILIBRIUM, dtype=torch.long, device=self.device))

    def equilibrium(self, state: State, generator: torch.Generator) -> State:
        """The T equilibrium sub-episodes: the followers' MW on the map's payoffs.
        (A state past this phase is returned unchanged.)"""
        if int(state.phase[0]) != EQUILIBRIUM:
            return state
        pay = evaluate(self.tb, state.map)
        if self.mw.model == "mw":
            logw, t_hist, visits = _traced_mw(self.tb, pay.U, self.mw, generator, self.strides)
        else:  # the other follower models (mechdsl.followers): their scores stand in for the weights
            logw, t_hist, visits = traced(self.tb, pay.U, pay.V, self.mw, generator, self.strides)
        return replace(state, payoffs=pay, logw=tuple(logw), eq_types=t_hist, visits=visits,
                       phase=torch.full_like(state.phase, REWARD))

    def reward(self, state: State, generator: torch.Generator) -> State:
        """The R reward sub-episodes: types drawn, followers play their argmax action.
        (A state not in the reward phase is returned unchanged.)"""
        if int(state.phase[0]) != REWARD:
            return state
        B, R, tb = state.batch, self.R, self.tb
        t = torch.multinomial(tb.prior.expand(B, -1).float(), R, replacement=True, generator=generator)  # [B, R]
        strat, _ = play(tb, list(state.logw), state.payoffs.V, self.mw.ties)  # per follower [B, T_i]
        ti = tb.tidx[t]  # [B, R, n]
        a = torch.zeros(B, R, dtype=torch.long, device=self.device)
        for i in range(self.n):
            a = a + strat[i].gather(1, ti[..., i]) * self.strides[i]
        V = state.payoffs.V.reshape(B, -1)
        rew = (V.gather(1, t * self.A + a) - self.lo) / self.span
        reward_visits = torch.zeros(B, self.T * self.A, dtype=self.dtype, device=self.device)
        reward_visits.scatter_add_(1, t * self.A + a, torch.ones(B, R, dtype=self.dtype, device=self.device))
        reward_visits = reward_visits.view(B, self.T, self.A)
        enc, lengths = self._reach(state.map, state.payoffs, state.visits + reward_visits)
        steps = ((state.visits + reward_visits) * lengths).sum((1, 2)).round().long()
        return replace(state, reward_types=t, reward_actions=a, rewards=rew, encountered=enc, steps=steps,
                       phase=torch.full_like(state.phase, DONE))

    def run(self, leader_map: Policy, generator: torch.Generator) -> State:
        """A whole episode for each map in the batch."""
        state = self.reset(leader_map)
        state = self.equilibrium(state, generator)
        return self.reward(state, generator)

    # -- decisions and steps ----------------------------------------------------------------
    def _branches(self, leader_map: Policy, pay: Payoffs) -> list[tuple[Optional[torch.Tensor], torch.Tensor]]:
        """(weight [B,C] or None, path [B,C,T,D]) per way a rollout may continue: one
        path, or -- when a mixed choose set is followed by rounds -- one per row."""
        tb = self.tb
        if not (self.ir.mixed and tb.has_rounds and leader_map.probs is not None):
            return [(None, pay.path)]
        out = []
        root = tb.root
        for k in range(self.n_choose):
            act = leader_map.action.clone()
            act[:, root] = k
            p = evaluate(tb, Policy(action=act, prices=leader_map.prices)).path
            out.append((leader_map.probs[:, root, k], p))
        return out

    def _reach(self, leader_map: Policy, pay: Payoffs, visits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Information sets on the path of any rollout that took place ([B,S] bool) and
        the leader decisions per rollout of each (type, action) profile ([B,T,A])."""
        B, C, T, S = visits.shape[0], self.C, self.T, self.S
        cls = self.tb.obs_class
        seen = torch.zeros(B, T, C, dtype=self.dtype, device=self.device)
        seen.index_add_(2, cls, visits)
        seen = (seen > 0).permute(0, 2, 1)  # [B, C, T]
        enc = torch.zeros(B * S, dtype=torch.bool, device=self.device)
        bidx = torch.arange(B, device=self.device).view(B, 1, 1, 1)
        lengths = torch.zeros(B, C, T, dtype=self.dtype, device=self.device)
        branches = self._branches(leader_map, pay)
        for w, path in branches:
            on = path >= 0  # [B, C, T, D]
            if w is None:
                live = seen.unsqueeze(-1) & on
                lengths = lengths + on.sum(-1)
            else:  # column 0 is the mixed choose set, shared by every row's branch
                took = (w > 0).view(B, C, 1, 1)
                on = on.clone()
                on[..., 0] = False
                live = seen.unsqueeze(-1) & on & took
                lengths = lengths + (on & took).sum(-1)
            idx = (bidx * S + path.clamp(min=0))[live]
            enc[idx] = True
        if branches[0][0] is not None:  # the choose decision itself, once per rollout
            root = self.tb.root.view(1, C, 1).expand(B, C, T)
            enc[(torch.arange(B, device=self.device).view(B, 1, 1) * S + root)[seen]] = True
            lengths = lengths + 1
        lengths = lengths[:, cls].permute(0, 2, 1)  # [B, T, A]
        return enc.view(B, S), lengths

    # -- exact worth of a map ---------------------------------------------------------------
    def exact(self, leader_map: Policy) -> Exact:
        """Evaluate + expected MW + argmax + leader value: the map's worth with no noise."""
        pay = evaluate(self.tb, leader_map)
        idx = respond(self.tb, pay.U, pay.V, self.mw).strat  # the model's expected dynamics (or its BNE)
        strat = pure(idx, self.tb)
        value = leader_value(self.tb, pay.V, strat)
        reg = regret(self.tb, pay.U, strat)
        spans = torch.tensor([(h - l) if h > l else 1.0 for l, h in self.ir.utility_bounds], dtype=reg.dtype,
                             device=reg.device).view(1, -1, 1)
        worst = reg.amax((1, 2)) if reg.numel() else value * 0
        frac = (reg / spans).amax((1, 2)) if reg.numel() else value * 0
        return Exact(value=value, normalized=(value - self.lo) / self.span, regret=worst, regret_fraction=frac,
                     strategies=idx)

    def expected_reward(self, state: State) -> torch.Tensor:
        """[B] E[reward sub-episode | state after the equilibrium phase]: the prior-weighted
        objective of the followers' argmax play, i.e. R -> infinity."""
        V = state.payoffs.V
        strat = pure(play(self.tb, list(state.logw), V, self.mw.ties)[0], self.tb)
        return (leader_value(self.tb, V, strat) - self.lo) / self.span

    def spread_reward(self, state: State) -> torch.Tensor:
        """[B] the same with every exactly tied follower mixing uniformly over its tied
        actions instead of reading the tie (what TrainConfig.soften_ties blends in)."""
        V = state.payoffs.V
        spread = [(m / m.sum(-1, keepdim=True)).to(V.dtype) for m in tie_masks(list(state.logw))]
        return (leader_value(self.tb, V, spread) - self.lo) / self.span


def _traced_mw(tb: Tables, U: torch.Tensor, cfg: MWConfig, generator: torch.Generator, strides: list[int]):
    """`mechdsl.dynamics.sampled_mw` draw for draw (same generator calls, same updates;
    tests/test_pomdp.py checks they agree bit for bit), also recording what the
    equilibrium sub-episodes did: the type profiles drawn ([B, T] counts) and the
    mechanism rollouts of each (type, action) profile ([B, T, A] counts), which decide
    the episode's encountered information sets and its step count."""
    B, n = U.shape[0], U.shape[1]
    dev = U.device
    Un = normalized(tb, U, cfg.normalize)
    ac = tb.ir.action_counts
    logw = [torch.zeros(B, tb.ir.type_counts[i], ac[i], dtype=U.dtype, device=dev) for i in range(n)]
    rate = math.log1p(cfg.step)
    bidx = torch.arange(B, device=dev)
    prior = tb.prior.to(dev)
    Uflat = Un.reshape(B, n, -1)
    ts, profs = [], [[] for _ in range(n)]
    for _ in range(cfg.rounds):
        t = torch.multinomial(prior.expand(B, -1).float(), 1, generator=generator).squeeze(1)
        ti = tb.tidx[t]
        acts = []
        for i in range(n):
            p = torch.softmax(logw[i][bidx, ti[:, i]], -1)
            acts.append(torch.multinomial(p.float(), 1, generator=generator).squeeze(1))
        a = sum(acts[i] * strides[i] for i in range(n))
        ts.append(t)
        for i in range(n):
            alt = torch.arange(ac[i], device=dev)
            prof = (a - acts[i] * strides[i]).unsqueeze(1) + alt.unsqueeze(0) * strides[i]
            flat = t.unsqueeze(1) * tb.A + prof
            pay = Uflat[bidx.unsqueeze(1), i, flat]
            logw[i][bidx, ti[:, i]] += rate * pay
            profs[i].append(flat)
    t_hist = torch.zeros(B, tb.T, dtype=U.dtype, device=dev)
    visits = torch.zeros(B, tb.T * tb.A, dtype=U.dtype, device=dev)
    if cfg.rounds:
        t_all = torch.stack(ts, 1)  # [B, rounds]
        t_hist.scatter_add_(1, t_all, torch.ones_like(t_all, dtype=U.dtype))
        for i in range(n):
            f = torch.cat(profs[i], 1)  # [B, rounds * A_i]
            visits.scatter_add_(1, f, torch.ones_like(f, dtype=U.dtype))
    return logw, t_hist, visits.view(B, tb.T, tb.A)
