"""The Stackelberg POMDP in sampled mode: Algorithm 2 as the paper writes it, with no
payoff tensor over every type and action profile.

Each MW round of each episode draws a type profile and an action profile, and rolls
the mechanism out at (k, a_-i) for every follower i and each of its actions k -- B x
sum_i A_i cells per round, evaluated by `mechdsl.cells` on those cells only.  The
reward phase rolls out R sampled type profiles under the followers' argmax play.  Memory
and time per MW round are O(episodes x sum_i A_i x one rollout); nothing is sized by T
or A (exact mode: `mechdsl.pomdp`, whose payoff tensors are U[B, n, T, A]).

Draws: with ``draws="exact"`` the generator is called exactly as `mechdsl.pomdp` calls
it (type profiles from the dense prior, one row per episode), so both modes give the
same followers' weights, rewards and steps draw for draw (tests/test_sampled.py);
``"marginal"`` draws each agent's type from its marginal (independent types only),
``"dense"`` a profile index from the prior.  ``"auto"``: `exact` while B x T is small,
then marginal when the prior factorizes, else dense.

Ties: `first` reads the weights alone.  `pessimistic` / `favourable` need the leader's
value of each tied action over the prior; here one sweep of coordinate ascent estimates
it on the episode's own reward draws (each tied follower in turn, against the others'
current play) -- an estimate, where exact mode's reading is exact.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Optional

import numpy as np
import torch

from mechdsl.cells import Cells, evaluate_cells, unravel
from mechdsl.dynamics import argmax_strategy
from mechdsl.evaluate import Policy, Tables
from mechdsl.estimate import Estimate, estimate_map
from mechdsl.pomdp import DONE, EQUILIBRIUM, REWARD, State, StackelbergPOMDP
from mechdsl.ties import tie_masks

DRAWS = ("auto", "exact", "marginal", "dense")
EXACT_DRAWS_CELLS = 1 << 20  # B x T below which `auto` draws as exact mode does


class TypeSampler:
    """Type profiles from the prior, as per-agent type indices [K, n]."""

    def __init__(self, ir, device, draws: str = "auto"):
        if draws not in DRAWS:
            raise ValueError(f"draws must be one of {', '.join(DRAWS)}, got {draws!r}")
        self.counts, self.device = list(ir.type_counts), torch.device(device)
        prior = np.asarray(ir.prior, dtype=np.float64)
        self.T = prior.size
        self.prior = torch.tensor(prior, dtype=torch.float64, device=self.device)
        full = prior.reshape(self.counts) if self.counts else prior
        n = len(self.counts)
        self.marginals = [full.sum(axis=tuple(j for j in range(n) if j != i)) for i in range(n)]
        outer = np.ones(())
        for mg in self.marginals:
            outer = np.multiply.outer(outer, mg)
        self.factorized = bool(np.allclose(outer.reshape(-1), prior, atol=1e-12)) if n else True
        if draws == "marginal" and not self.factorized:
            raise ValueError("draws='marginal' needs independent types; this prior is joint")
        self.draws = draws
        self.marg = [torch.tensor(mg, dtype=torch.float64, device=self.device) for mg in self.marginals]

    def kind(self, batch: int) -> str:
        if self.draws != "auto":
            return self.draws
        if batch * self.T <= EXACT_DRAWS_CELLS:
            return "exact"
        return "marginal" if self.factorized else "dense"

    def draw(self, batch: int, per_row: int, gen: torch.Generator, replacement: bool = True) -> torch.Tensor:
        """[batch, per_row, n] type indices: `per_row` profiles for each of `batch` rows."""
        kind, n = self.kind(batch), len(self.counts)
        if kind == "exact":  # mechdsl.pomdp's calls: one multinomial over [batch, T]
            t = torch.multinomial(self.prior.expand(batch, -1).float(), per_row, replacement=replacement,
                                  generator=gen)
            return unravel(t.reshape(-1), self.counts).view(batch, per_row, n)
        K = batch * per_row
        if kind == "dense":
            t = torch.multinomial(self.prior.float(), K, replacement=True, generator=gen)
            return unravel(t, self.counts).view(batch, per_row, n)
        cols = [torch.multinomial(mg.float(), K, replacement=True, generator=gen) for mg in self.marg]
        return torch.stack(cols, 1).view(batch, per_row, n)


class SampledPOMDP(StackelbergPOMDP):
    """`mechdsl.pomdp.StackelbergPOMDP` without payoff tensors: same interface (`run`,
    `expected_reward`, `spread_reward`, `exact` -- here an `Estimate`), same `State`
    (``payoffs`` and ``visits`` None; ``eq_types`` counts each agent's type draws [B, sum T_i];
    ``reward_types``/``reward_actions`` per agent [B, R, n])."""

    def __init__(self, ir, device="cpu", dtype=torch.float64, mw=None, reward_rounds=None, draws: str = "auto",
                 samples: int = 4000, seed: int = 0):
        super().__init__(ir, device, dtype, mw, reward_rounds)
        self.sampler = TypeSampler(ir, self.device, draws)
        self.samples, self.seed = int(samples), int(seed)
        tc, ac = ir.type_counts, ir.action_counts
        self.offsets = [sum(tc[:i]) for i in range(self.n)]
        self.n_draws = sum(tc)
        lo = [b[0] for b in ir.utility_bounds]
        hi = [b[1] for b in ir.utility_bounds]
        self.u_lo = torch.tensor(lo, dtype=dtype, device=self.device)
        self.u_span = torch.tensor([h - l if h > l else 1.0 for l, h in zip(lo, hi)], dtype=dtype, device=self.device)
        self.marginal_prior = torch.cat([m.to(torch.float32) for m in self.sampler.marg]) if self.n else None
        self.ac = list(ac)

    def _tables(self, ir, device, dtype) -> Tables:
        return Tables(ir, device, dtype, profiles=False)

    # -- critic input ------------------------------------------------------------------
    def draw_features(self, st: State) -> torch.Tensor:
        """[B, sum T_i] each agent's type frequencies in the equilibrium phase minus its
        marginal prior (exact mode's per-profile histogram would be T wide)."""
        eq = st.eq_types.float()
        out = []
        for i, c in enumerate(self.ir.type_counts):
            part = eq[:, self.offsets[i]:self.offsets[i] + c]
            out.append((part / part.sum(-1, keepdim=True).clamp(min=1) - self.sampler.marg[i].float()) * math.sqrt(c))
        return torch.cat(out, 1) if out else eq

    # -- the episode -------------------------------------------------------------------
    def _deviation_cells(self, B: int, rows_per: int, types: torch.Tensor, acts: torch.Tensor,
                         followers: Optional[list[int]] = None):
        """Cells (row, t, (k, a_-i)) for each follower i and each k, in blocks per i:
        types/acts [B*rows_per, n] -> Cells, who [N], and each block's slice."""
        K = types.shape[0]
        rows = torch.arange(B, device=self.device).repeat_interleave(rows_per)
        parts_t, parts_a, parts_r, who, blocks, at = [], [], [], [], [], 0
        for i in (range(self.n) if followers is None else followers):
            Ai = self.ac[i]
            a = acts.repeat_interleave(Ai, 0).clone()
            a[:, i] = torch.arange(Ai, device=self.device).repeat(K)
            parts_a.append(a)
            parts_t.append(types.repeat_interleave(Ai, 0))
            parts_r.append(rows.repeat_interleave(Ai))
            who.append(torch.full((K * Ai,), i, dtype=torch.long, device=self.device))
            blocks.append((i, slice(at, at + K * Ai)))
            at += K * Ai
        return Cells(torch.cat(parts_r), torch.cat(parts_t), torch.cat(parts_a)), torch.cat(who), blocks

    def _distinct(self, B: int, types: torch.Tensor, acts: torch.Tensor):
        """The MW round's distinct cells -- the sampled profile once, then each follower's
        other actions -- and where each of `_deviation_cells`'s cells is among them."""
        dev = self.device
        rows = torch.arange(B, device=dev)
        parts_t, parts_a, parts_r, index, at = [types], [acts], [rows], [], B
        for i in range(self.n):
            Ai = self.ac[i]
            k = torch.arange(Ai, device=dev).view(1, Ai).expand(B, Ai)
            own = k == acts[:, i:i + 1]  # [B, Ai]: the sampled action is the base cell
            other = k.masked_select(~own).view(B, Ai - 1) if Ai > 1 else k[:, :0]
            a = acts.repeat_interleave(Ai - 1, 0).clone()
            a[:, i] = other.reshape(-1)
            parts_a.append(a)
            parts_t.append(types.repeat_interleave(Ai - 1, 0))
            parts_r.append(rows.repeat_interleave(Ai - 1))
            pos = torch.cumsum((~own).long(), 1) - 1 + at + (rows * (Ai - 1)).view(B, 1)
            index.append(torch.where(own, rows.view(B, 1).expand(B, Ai), pos).reshape(-1))
            at += B * (Ai - 1)
        return Cells(torch.cat(parts_r), torch.cat(parts_t), torch.cat(parts_a)), torch.cat(index)

    def _mark(self, enc: torch.Tensor, steps: torch.Tensor, rows: torch.Tensor, branches) -> None:
        """Information sets on the cells' paths become encountered; each rollout's leader
        decisions are counted (as `mechdsl.pomdp` counts them)."""
        S = self.S
        if branches[0][0] is None:
            path = branches[0][1]
            on = path >= 0
            enc[(rows.view(-1, 1) * S + path.clamp(min=0))[on]] = True
            steps.index_add_(0, rows, on.sum(-1))
            return
        for w, path in branches:  # column 0 is the mixed choose set, shared by every row's branch
            live = (path >= 0) & (w > 0).view(-1, 1)
            live[:, 0] = False
            enc[(rows.view(-1, 1) * S + path.clamp(min=0))[live]] = True
            steps.index_add_(0, rows, live.sum(-1))
        enc[rows * S + branches[0][1][:, 0]] = True
        steps.index_add_(0, rows, torch.ones_like(rows))

    def equilibrium(self, state: State, generator: torch.Generator) -> State:
        if int(state.phase[0]) != EQUILIBRIUM:
            return state
        B, n, dev, cfg = state.batch, self.n, self.device, self.mw
        tc = self.ir.type_counts
        logw = [torch.zeros(B, tc[i], self.ac[i], dtype=self.dtype, device=dev) for i in range(n)]
        rate = math.log1p(cfg.step)
        bidx = torch.arange(B, device=dev)
        enc = torch.zeros(B * self.S, dtype=torch.bool, device=dev)
        steps = torch.zeros(B, dtype=torch.long, device=dev)
        draws = torch.zeros(B, self.n_draws, dtype=self.dtype, device=dev)
        one = torch.ones(B, dtype=self.dtype, device=dev)
        for _ in range(cfg.rounds):
            ti = self.sampler.draw(B, 1, generator, replacement=False)[:, 0]  # [B, n]
            acts = []
            for i in range(n):
                p = torch.softmax(logw[i][bidx, ti[:, i]], -1)
                acts.append(torch.multinomial(p.float(), 1, generator=generator).squeeze(1))
            a = torch.stack(acts, 1) if n else ti
            cells, who, blocks = self._deviation_cells(B, 1, ti, a)
            distinct, index = self._distinct(B, ti, a)
            out = evaluate_cells(self.tb, state.map, cells, who=who, utilities=False, objective=False,
                                 same=(distinct, index))
            pay = (out.own - self.u_lo[who]) / self.u_span[who] if cfg.normalize else out.own
            for i, sl in blocks:
                logw[i][bidx, ti[:, i]] += rate * pay[sl].view(B, self.ac[i])
                draws.index_put_((bidx, self.offsets[i] + ti[:, i]), one, accumulate=True)
            self._mark(enc, steps, cells.row, out.branches)
        return replace(state, logw=tuple(logw), eq_types=draws, visits=None, encountered=enc.view(B, self.S),
                       steps=steps, phase=torch.full_like(state.phase, REWARD))

    def play(self, leader_map: Policy, logw, ti: torch.Tensor) -> torch.Tensor:
        """[B, K, n] the followers' actions at type draws ti [B, K, n]: the argmax of their
        weights, ties read (`mw.ties`) by one sweep of coordinate ascent on these draws."""
        strat = argmax_strategy(list(logw))
        return self._actions(self._read_ties(leader_map, logw, ti, strat), ti)

    def _actions(self, strat, ti):
        cols = [strat[i].gather(1, ti[..., i]) for i in range(self.n)]
        return torch.stack(cols, -1) if cols else ti

    def _read_ties(self, leader_map: Policy, logw, ti: torch.Tensor, strat: list[torch.Tensor]):
        ties = self.mw.ties
        if ties == "first" or self.n == 0:
            return strat
        sign = 1.0 if ties == "favourable" else -1.0
        B, K, _ = ti.shape
        strat = [s.clone() for s in strat]
        for i, mask in enumerate(tie_masks(list(logw))):
            if not bool((mask.sum(-1) > 1).any()):
                continue
            a = self._actions(strat, ti).view(B * K, self.n)
            cells, _, _ = self._deviation_cells(B, K, ti.view(B * K, self.n), a, followers=[i])
            V = evaluate_cells(self.tb, leader_map, cells, utilities=False).V.view(B, K, self.ac[i])
            score = torch.zeros(B, mask.shape[1], self.ac[i], dtype=self.dtype, device=self.device)
            score.scatter_add_(1, ti[..., i].unsqueeze(-1).expand(B, K, self.ac[i]), V)
            score = torch.where(mask, sign * score, torch.full_like(score, -math.inf))
            top = score.max(-1, keepdim=True).values
            good = score >= top - 1e-12 * top.abs().clamp(min=1.0)
            keep = good.gather(2, strat[i].unsqueeze(-1)).squeeze(-1)
            strat[i] = torch.where(keep, strat[i], good.to(torch.int8).argmax(-1))
        return strat

    def reward(self, state: State, generator: torch.Generator) -> State:
        if int(state.phase[0]) != REWARD:
            return state
        B, R = state.batch, self.R
        ti = self.sampler.draw(B, R, generator)  # [B, R, n]
        a = self.play(state.map, state.logw, ti)
        rows = torch.arange(B, device=self.device).repeat_interleave(R)
        out = evaluate_cells(self.tb, state.map, Cells(rows, ti.view(B * R, -1), a.view(B * R, -1)),
                             utilities=False)
        rew = ((out.V - self.lo) / self.span).view(B, R)
        enc, steps = state.encountered.reshape(-1).clone(), state.steps.clone()
        self._mark(enc, steps, rows, out.branches)
        return replace(state, reward_types=ti, reward_actions=a, rewards=rew, encountered=enc.view(B, self.S),
                       steps=steps, phase=torch.full_like(state.phase, DONE))

    def expected_reward(self, state: State) -> torch.Tensor:
        """[B] the reward phase's mean (exact mode integrates the draws out; here they are R samples)."""
        return state.rewards.mean(-1)

    def spread_reward(self, state: State) -> torch.Tensor:
        """[B] the reward draws again with every exactly tied follower type picking one of
        its tied actions uniformly at random (a seeded draw per state)."""
        B, R = state.rewards.shape
        g = torch.Generator(device=self.device).manual_seed(int(state.steps.sum()) % (2**31))
        ti = state.reward_types
        picks = []
        for i, mask in enumerate(tie_masks(list(state.logw))):
            m = mask.gather(1, ti[..., i].unsqueeze(-1).expand(B, R, mask.shape[-1])).float()  # [B, R, A_i]
            picks.append(torch.multinomial(m.view(B * R, -1), 1, generator=g).view(B, R))
        a = torch.stack(picks, -1) if picks else state.reward_actions
        rows = torch.arange(B, device=self.device).repeat_interleave(R)
        V = evaluate_cells(self.tb, state.map, Cells(rows, ti.view(B * R, -1), a.view(B * R, -1)), utilities=False).V
        return ((V - self.lo) / self.span).view(B, R).mean(-1)

    # -- a map's worth, estimated --------------------------------------------------------------
    def exact(self, leader_map: Policy, samples: Optional[int] = None, confidence: float = 0.95,
              logw=None) -> Estimate:
        """What `mechdsl.train` asks of exact mode's `exact`, estimated: the followers run
        Algorithm 2 (one episode's equilibrium phase, seeded by `seed`), then their argmax
        play is valued and its regret estimated on `samples` type profiles (Hoeffding bounds
        at `confidence`; `mechdsl.estimate`).  `logw`: weights of an equilibrium phase already run."""
        return estimate_map(self, leader_map, self.samples if samples is None else int(samples), confidence, logw)
