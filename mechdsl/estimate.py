"""A leader map's value and its followers' regret estimated on sampled type profiles
(sampled mode's certificate), with Hoeffding confidence bounds.

The followers run Algorithm 2 once (one POMDP equilibrium phase) and then play the argmax
of their weights.  On M type profiles drawn from the prior:

* value: the mean objective; with probability >= 1 - delta the true value is within
  ``span_V * sqrt(ln(2 / delta) / (2 M))`` of it (the objective lies in a range of span_V);
* regret of follower i at type t_i: the mean gain of the best fixed deviation k over the
  samples with that type, k picked on half of them and its gain measured on the other
  half (the maximum of noisy means would overstate it); each gain in [-span_i, span_i]; a one-sided
  Hoeffding bound with a union over every (i, t_i, k) gives, with probability >= 1 -
  delta, regret <= estimate + ``span_i * sqrt(2 ln(K / delta) / n(t_i))``, K = sum_i T_i A_i
  (a type never drawn is bounded by span_i alone).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mechdsl.cells import Cells, evaluate_cells
from mechdsl.certificate import Certificate
from mechdsl.dynamics import argmax_strategy
from mechdsl.evaluate import Policy
from mechdsl.pomdp import Exact


@dataclass(frozen=True)
class Estimate(Exact):
    """A map's worth estimated on samples (exact mode's `Exact`, with its confidence)."""

    value_bound: torch.Tensor = None  # [B] half-width of the value's confidence interval
    regret_bound: torch.Tensor = None  # [B] upper confidence bound on the regret (spec units)
    regret_per_type: torch.Tensor = None  # [B, n, Tmax] estimated regret per follower type
    bound_per_type: torch.Tensor = None  # [B, n, Tmax] its upper confidence bound
    samples: int = 0
    confidence: float = 0.95


def estimate_map(p, leader_map: Policy, samples: int, confidence: float = 0.95, logw=None):
    """`_estimate`; `logw` with more rows than one map: several MW runs of that map (the
    greedy episodes of a training batch), `samples` shared among them and the answer
    their mean -- the value then averages over the followers' dynamics too."""
    if logw is None or leader_map.batch != 1 or logw[0].shape[0] == 1:
        return _estimate(p, leader_map, samples, confidence, logw)
    runs = logw[0].shape[0]
    rep = lambda x: None if x is None else x.expand(runs, *x.shape[1:]).contiguous()  # noqa: E731
    many = Policy(rep(leader_map.action), rep(leader_map.probs), rep(leader_map.prices))
    est = _estimate(p, many, max(1, -(-int(samples) // runs)), confidence, logw)
    mean = lambda x: x.mean(0, keepdim=True)  # noqa: E731
    M = est.samples * runs
    value = mean(est.value)
    return Estimate(value=value, normalized=mean(est.normalized), regret=mean(est.regret),
                    regret_fraction=mean(est.regret_fraction), strategies=[s[:1] for s in est.strategies],
                    value_bound=torch.full_like(value, p.span * math.sqrt(math.log(2.0 / (1.0 - confidence)) / (2.0 * M))),
                    regret_bound=est.regret_bound.amax(0, keepdim=True), regret_per_type=mean(est.regret_per_type),
                    bound_per_type=est.bound_per_type.amax(0, keepdim=True), samples=M, confidence=confidence)


def _estimate(p, leader_map: Policy, samples: int, confidence: float = 0.95, logw=None):
    """An `Estimate` of each map in the batch (`p`: a `mechdsl.sampled.SampledPOMDP`);
    `logw`: the followers' weights after an equilibrium phase already run (else one is run)."""
    B, n, dev, dtype = leader_map.batch, p.n, p.device, p.dtype
    gen = torch.Generator(device=dev).manual_seed(p.seed)
    if logw is None:
        logw = p.equilibrium(p.reset(leader_map), gen).logw
    M = max(1, int(samples))
    ti = p.sampler.draw(B, M, gen)  # [B, M, n]
    strat = p._read_ties(leader_map, logw, ti, argmax_strategy(list(logw)))
    a = p._actions(strat, ti)
    rows = torch.arange(B, device=dev).repeat_interleave(M)
    V = evaluate_cells(p.tb, leader_map, Cells(rows, ti.view(B * M, -1), a.view(B * M, -1)), utilities=False).V
    value = V.view(B, M).mean(-1)
    delta = 1.0 - confidence
    v_half = p.span * math.sqrt(math.log(2.0 / delta) / (2.0 * M))
    tc = p.ir.type_counts
    Tm = max(tc) if tc else 1
    reg = torch.zeros(B, n, Tm, dtype=dtype, device=dev)
    bound = torch.zeros(B, n, Tm, dtype=dtype, device=dev)
    pairs = sum(t * k for t, k in zip(tc, p.ac)) or 1
    if n:
        cells, who, blocks = p._deviation_cells(B, M, ti.view(B * M, n), a.view(B * M, n))
        own = evaluate_cells(p.tb, leader_map, cells, who=who, utilities=False, objective=False).own
        for i, sl in blocks:
            Ai = p.ac[i]
            U = own[sl].view(B, M, Ai)
            gain = U - U.gather(2, a[..., i].unsqueeze(-1))
            sums = torch.zeros(B, tc[i], Ai, dtype=dtype, device=dev)
            sums.scatter_add_(1, ti[..., i].unsqueeze(-1).expand(B, M, Ai), gain)
            cnt = torch.zeros(B, tc[i], dtype=dtype, device=dev)
            cnt.scatter_add_(1, ti[..., i], torch.ones(B, M, dtype=dtype, device=dev))
            top = (sums / cnt.clamp(min=1).unsqueeze(-1)).max(-1).values.clamp(min=0.0)
            span_i = float(p.u_span[i])
            eps = span_i * torch.sqrt(2.0 * math.log(pairs / delta) / cnt.clamp(min=1))
            r = _held_out(gain, ti[..., i], tc[i])
            reg[:, i, : tc[i]] = torch.where(cnt > 0, r, torch.zeros_like(r))
            bound[:, i, : tc[i]] = torch.where(cnt > 0, (top + eps).clamp(max=span_i), torch.full_like(r, span_i))
    spans = p.u_span.view(1, -1, 1) if n else torch.ones(1, 1, 1, dtype=dtype, device=dev)
    worst = reg.amax((1, 2)) if reg.numel() else value * 0
    frac = (reg / spans).amax((1, 2)) if reg.numel() else value * 0
    return Estimate(value=value, normalized=(value - p.lo) / p.span, regret=worst, regret_fraction=frac,
                    strategies=strat, value_bound=torch.full_like(value, v_half),
                    regret_bound=bound.amax((1, 2)) if bound.numel() else value * 0, regret_per_type=reg,
                    bound_per_type=bound, samples=M, confidence=confidence)


def _held_out(gain: torch.Tensor, types: torch.Tensor, count: int) -> torch.Tensor:
    """[B, T_i] regret estimate without the max's upward bias: the best deviation is picked
    on the even samples and its mean gain measured on the odd ones (the bound above uses
    all samples and every deviation)."""
    B, M, Ai = gain.shape
    out = []
    for half in (0, 1):
        g, t = gain[:, half::2], types[:, half::2]
        sums = torch.zeros(B, count, Ai, dtype=gain.dtype, device=gain.device)
        sums.scatter_add_(1, t.unsqueeze(-1).expand(-1, -1, Ai), g)
        cnt = torch.zeros(B, count, dtype=gain.dtype, device=gain.device)
        cnt.scatter_add_(1, t, torch.ones_like(t, dtype=gain.dtype))
        out.append((sums, cnt))
    (s0, c0), (s1, c1) = out
    pick = (s0 / c0.clamp(min=1).unsqueeze(-1)).argmax(-1, keepdim=True)
    held = (s1.gather(2, pick).squeeze(-1) / c1.clamp(min=1))
    return torch.where(c1 > 0, held, torch.zeros_like(held)).clamp(min=0.0)


def certify_sampled(p, policy: Policy, tol: float, samples: int, confidence: float = 0.95):
    """Sampled mode's certificate of one leader policy: value and regret estimated on
    `samples` type profiles, with their Hoeffding bounds; the verdict reads the estimate
    (the bounds are stated beside it).  `p`: the `mechdsl.sampled.SampledPOMDP` (its MW
    settings and seed).  Returns (Certificate, Estimate)."""
    est = p.exact(policy, samples, confidence)
    ir, mw = p.ir, p.mw
    model = ir.model
    regrets, strategies, warnings = {}, {}, []
    for i in model.people:  # the chance state has no strategy and no regret
        f = model.followers[i]
        span_i = float(p.u_span[i])
        regrets[f.name] = {lab: round(float(est.regret_per_type[0, i, t]), 12) for t, lab in enumerate(f.type_labels)}
        strategies[f.name] = {lab: f.action_labels[int(est.strategies[i][0, t])] for t, lab in enumerate(f.type_labels)}
        for t, lab in enumerate(f.type_labels):
            r = float(est.regret_per_type[0, i, t])
            if r > tol * span_i + 1e-12:
                warnings.append(f"estimated regret {r:.4g} of {f.name} ({lab}) is above the tolerance "
                                f"{tol * span_i:.4g}: its play is not an equilibrium after {mw.rounds} MW rounds")
    value, half = float(est.value[0]), float(est.value_bound[0])
    notes = [f"sampled mode: estimated on {est.samples:,} type profiles drawn from the prior; with "
             f"{100 * confidence:g}% confidence (Hoeffding) the value is {value:.6g} +- {half:.3g} and every "
             f"follower's regret is at most {float(est.regret_bound[0]):.4g}"]
    if mw.ties != "first":
        notes.append(f"ties read {mw.ties} by coordinate ascent on the samples (an estimate)")
    return Certificate(
        ties=mw.ties, value=value, values={mw.ties: round(value, 12)}, strategies=strategies, regret=regrets,
        max_regret=round(float(est.regret[0]), 12), regret_fraction=round(float(est.regret_fraction[0]), 12),
        mixed_regret=0.0, tolerance=tol, exact_readings=False,
        verdict="not certified" if warnings else "certified", warnings=warnings, notes=notes,
        sampled=True, samples=est.samples, confidence=confidence, value_bound=half,
        regret_bound=float(est.regret_bound[0]),
    ), est
