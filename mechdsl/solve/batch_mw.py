"""Multiplicative weights run on many leader policies at once (the exact solver's inner
loop), with the regret of pure play and the MW-dominated actions used for pruning."""
from __future__ import annotations

import math

import torch

from mechdsl.dynamics import TIE_TOL, MWConfig, normalized
from mechdsl.evaluate import Tables


class BatchMW:
    """`expected_mw` specialised for many policies at once.

    Follower i's normalized payoffs are pre-multiplied by the conditional prior
    P(t_-i | t_i) and laid out as a [T_i*A_i, X_i, B] tensor (X_i: the others'
    (type, action) pairs; the batch is the last, contiguous axis so every operation
    is a long vector operation).  A round is one softmax over every follower's weights
    (padded into one tensor) and one contraction per follower; the update is
    `expected_mw`'s: logw += log(1 + step) * Q, all followers at once."""

    def __init__(self, tb: Tables, cfg: MWConfig):
        self.tb = tb
        self.cfg = cfg
        ir = tb.ir
        self.n = ir.n_followers
        self.tc, self.ac = list(ir.type_counts), list(ir.action_counts)
        self.Tm, self.Am = max(self.tc), max(self.ac)
        prior = tb.prior.view(*self.tc)
        self.cond = []  # per follower: P(t_-i | t_i) as [T] (0 where t_i has no mass)
        for i in range(self.n):
            other = [d for d in range(self.n) if d != i]
            p_i = prior.sum(dim=other) if other else prior
            shape = [1] * self.n
            shape[i] = self.tc[i]
            safe = torch.where(p_i > 0, p_i, torch.ones_like(p_i))
            cond = torch.where(p_i.view(shape) > 0, prior / safe.view(shape), torch.zeros_like(prior))
            self.cond.append(cond.reshape(-1))
        self.rate = math.log1p(cfg.step)
        lo = [b[0] for b in ir.utility_bounds]
        hi = [b[1] for b in ir.utility_bounds]
        self.span = [((h - l) if (h - l) > 0 else 1.0) if cfg.normalize else 1.0 for l, h in zip(lo, hi)]
        pad = torch.zeros(self.n, self.Tm, self.Am, 1, dtype=tb.dtype)
        for i in range(self.n):
            pad[i, :, self.ac[i]:] = -float("inf")
        self.pad = pad  # initial log-weights: 0, and -inf on padding actions

    def matrices(self, U: torch.Tensor) -> list[torch.Tensor]:
        """U [B, n, T, A] -> per follower W_i [T_i*A_i, X_i, B]: normalized payoffs times
        the conditional prior, columns ordered (t_j, a_j) for each j != i."""
        B, n = U.shape[0], self.n
        Un = normalized(self.tb, U, self.cfg.normalize)
        out = []
        for i in range(n):
            Wi = (Un[:, i] * self.cond[i].view(1, -1, 1)).reshape(B, *self.tc, *self.ac)
            order = [1 + i, 1 + n + i]
            for j in range(n):
                if j != i:
                    order += [1 + j, 1 + n + j]
            Wi = Wi.permute(order + [0]).reshape(self.tc[i] * self.ac[i], -1, B).contiguous()
            out.append(Wi)
        return out

    def _q(self, W: list[torch.Tensor], strat: list[torch.Tensor]) -> list[torch.Tensor]:
        """Q_i [T_i, A_i, B]: each own action's expected payoff per type, against the
        others' strategies strat[j] [T_j, A_j, B]."""
        out = []
        for i in range(self.n):
            B = W[i].shape[-1]
            o = None
            for j in range(self.n):
                if j == i:
                    continue
                s = strat[j].reshape(-1, B)
                o = s if o is None else (o.unsqueeze(1) * s.unsqueeze(0)).reshape(-1, B)
            q = W[i][:, 0] if o is None else (W[i] * o.unsqueeze(0)).sum(1)
            out.append(q.view(self.tc[i], self.ac[i], B))
        return out

    def run(self, W: list[torch.Tensor]) -> list[torch.Tensor]:
        """Final log-weights [B, T_i, A_i] after cfg.rounds rounds of expected MW."""
        n, B = self.n, W[0].shape[-1]
        R = self.cfg.rounds
        if R <= 0:
            return [torch.zeros(B, self.tc[i], self.ac[i], dtype=W[i].dtype) for i in range(n)]
        if n == 1:  # nobody else moves: the same expected payoff every round
            q = self._q(W, [])[0]
            acc = torch.zeros_like(q)
            for _ in range(R):
                acc = acc + self.rate * q
            return [acc.permute(2, 0, 1).contiguous()]
        logw = self.pad.repeat(1, 1, 1, B)  # [n, Tm, Am, B]
        same = all(t == self.Tm for t in self.tc) and all(a == self.Am for a in self.ac)
        if n == 2 and same:
            # both followers in one product: Q_0 = W_0 s_1, Q_1 = W_1 s_0
            P = self.Tm * self.Am
            Ws = torch.stack(W, 0) * self.rate  # [2, P, P, B]
            for _ in range(R):
                e = torch.exp(logw - logw.amax(2, keepdim=True))
                s = e / e.sum(2, keepdim=True)
                logw += (Ws * s.flip(0).reshape(2, 1, P, B)).sum(2).view(2, self.Tm, self.Am, B)
        else:
            Ws = [w * self.rate for w in W]
            for _ in range(R):
                e = torch.exp(logw - logw.amax(2, keepdim=True))
                s = e / e.sum(2, keepdim=True)
                q = self._q(Ws, [s[i, : self.tc[i], : self.ac[i]] for i in range(n)])
                for i in range(n):
                    logw[i, : self.tc[i], : self.ac[i]] += q[i]
        return [logw[i, : self.tc[i], : self.ac[i]].permute(2, 0, 1).contiguous() for i in range(n)]

    def regret(self, W: list[torch.Tensor], strat_idx: list[torch.Tensor]) -> torch.Tensor:
        """Max over followers and types of the regret of pure strategies [B, T_i], in the
        spec's payoff units. [B]"""
        strat = [
            torch.nn.functional.one_hot(s, self.ac[i]).to(W[0].dtype).permute(1, 2, 0)
            for i, s in enumerate(strat_idx)
        ]
        q = self._q(W, strat)
        worst = torch.zeros(W[0].shape[-1], dtype=W[0].dtype)
        for i in range(self.n):
            now = (q[i] * strat[i]).sum(1)  # [T_i, B]
            gap = (q[i].max(1).values - now).clamp(min=0) * self.span[i]
            worst = torch.maximum(worst, gap.max(0).values)
        return worst

    def dominated(self, W: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per follower [B, T_i, A_i]: actions that do worse than another action by a
        margin against every play of the others -- so in every round of MW -- and hence
        can never be the argmax of the weights (even within argmax_strategy's tie band)."""
        out = []
        R = self.cfg.rounds
        for i in range(self.n):
            B = W[i].shape[-1]
            Ti, Ai = self.tc[i], self.ac[i]
            if R <= 0 or Ai < 2:
                out.append(torch.zeros(B, Ti, Ai, dtype=torch.bool))
                continue
            others = [j for j in range(self.n) if j != i]
            Tm = math.prod(self.tc[j] for j in others)
            Am = math.prod(self.ac[j] for j in others)
            k = len(others)
            shape = [Ti, Ai] + [x for j in others for x in (self.tc[j], self.ac[j])] + [B]
            order = [0, 1] + [2 + 2 * q for q in range(k)] + [3 + 2 * q for q in range(k)] + [2 + 2 * k]
            w = W[i].reshape(shape).permute(order).reshape(Ti, Ai, Tm, Am, B)
            # margin[t, a, a'] = sum over t_-i of min over a_-i of (w[a'] - w[a]) (w carries
            # the conditional prior): a lower bound on Q(a') - Q(a) whatever the others play
            margin = (w.unsqueeze(1) - w.unsqueeze(2)).min(4).values.sum(3)  # [Ti, a, a', B]
            # log-weights reach at most rate * R * max|Q|; argmax_strategy treats values
            # within TIE_TOL * max(1, |top|) of the top as ties
            top = float(W[i].abs().sum(1).max()) if W[i].numel() else 0.0
            thr = 10 * TIE_TOL * max(1.0 / (self.rate * R), top) + 1e-12
            out.append((margin > thr).any(2).permute(2, 0, 1))
        return out
