"""The best map that ignores what the followers did: a step after training.

Why it exists.  When the followers' actions are cheap talk -- messages that change
nothing but what the leader sees -- a map that acts alike in every observation class
leaves them nothing to gain by any message: every strategy profile is an equilibrium
(regret exactly 0) and the map's worth is a plain expectation over the prior, with no
dynamics in it.  Policy gradient on sampled dynamics tends to give messages meanings
(maps that differ between classes) and, with many agents, can settle below what the
best message-blind mechanism earns.  That mechanism is one decision problem for the
leader alone, solved here on common random type profiles.  The seed keeps it unless the
map it was given ranks strictly higher (certified first, then value), both valued the
same way (exactly, or on the same estimate in sampled mode).  Where a map's exact worth
is at hand it comes after the exact hill climb of `mechdsl.polish`, which then climbs
from it in turn (`mechdsl.train.finish_map`).

How.  The classes must be copies of one tree: the same decision points (kind, choice,
visited agents, allocation, stock) with the same legal actions.  From the learned map's
most played class, every decision point of that class is set to its best action in turn,
deepest first (backward induction, repeated while anything changes), each candidate
valued on the `SAMPLES` type profiles that reach the point; then the class's decisions
are copied to every class.  Cheap talk is checked on the same samples: the pooled map's
payoffs must not move when the followers' actions do.
"""
from __future__ import annotations

import time
from typing import Optional

import torch

from mechdsl.cells import Cells, evaluate_cells, observation_class
from mechdsl.evaluate import Policy, single_thread
from mechdsl.polish import PolishReport, Rank, better

SAMPLES = 20_000  # common random type profiles the decision problem is solved on
SWEEPS = 4  # backward-induction passes at most
CHECK = 4_096  # type profiles the cheap-talk check rolls out twice
TALK_TOL = 1e-9  # payoff change that counts as the followers' actions mattering
CANDIDATE_CELLS = 1 << 21  # candidate maps x (reaching samples or information sets) valued at once


def class_copies(ir) -> Optional[torch.Tensor]:
    """[C, S0] the information set of each class at each decision point of class 0 (in
    class 0's order), or None when the classes are not copies of one tree."""
    key = lambda i: (i.kind, i.choice, tuple(i.visited), tuple(map(tuple, i.alloc)), tuple(i.stock))  # noqa: E731
    where: list[dict] = [{} for _ in ir.root]
    for s, info in enumerate(ir.infosets):
        where[info.cls][key(info)] = s
    base = list(where[0])
    if any(len(w) != len(base) or any(k not in w or ir.legal[w[k]] != ir.legal[where[0][k]] for k in base)
           for w in where):
        return None
    return torch.tensor([[w[k] for k in base] for w in where], dtype=torch.long)


def pool(pomdp, gmap: Policy, start, rank: Rank, budget: int, seed: int = 0):
    """The better (by `rank`) of `gmap` (`start`: its `pomdp.exact`) and the best pooled
    map, valued the same way (`pomdp`: the exact or the sampled POMDP); returns (map,
    its worth, report).  `budget`: candidate maps valued at most.  Deterministic given
    `seed`."""
    t0 = time.perf_counter()
    report = PolishReport(learned=float(start.value[0]), value=float(start.value[0]), method="pooled map")
    why = _unsupported(pomdp, gmap, budget)
    copies = None if why else class_copies(pomdp.ir)
    if why is None and copies is None:
        why = "the observation classes are not copies of one decision tree"
    if why:
        report.stopped = "not run: " + why
        return gmap, start, report
    with single_thread():
        act, evaluated, why = _solve(pomdp, gmap, start, copies, budget, seed)
    report.evaluated = evaluated
    if act is None:
        report.stopped = "not run: " + why
        report.seconds = time.perf_counter() - t0
        return gmap, start, report
    cand = Policy(action=act.unsqueeze(0))
    est = pomdp.exact(cand)
    report.seconds = time.perf_counter() - t0
    # taken unless the given map is strictly better: on equal worth the pooled map's
    # regret is 0 by construction and every tie reading of it is exact
    if not better(rank(start), rank(est), pomdp.span) and not torch.equal(act, gmap.action[0]):
        report.value, report.steps, report.stopped = float(est.value[0]), 1, "taken"
        report.moves.append(f"pooled: {float(est.value[0]):.6g} (regret {float(est.regret[0]):.3g})")
        return cand, est, report
    report.stopped = f"kept the map it was given: the pooled one ranks lower ({float(est.value[0]):.6g})"
    return gmap, start, report


def _unsupported(pomdp, gmap: Policy, budget: int) -> Optional[str]:
    if budget <= 0:
        return "off"
    if gmap.probs is not None or gmap.prices is not None:
        return "the map has mixed rows or continuous prices"
    if len(pomdp.ir.root) < 2:
        return "the leader observes no follower action"
    return None


def _solve(pomdp, gmap: Policy, start, copies: torch.Tensor, budget: int, seed: int):
    """The pooled map's action table [S] (None and why when it does not apply), and the
    candidate maps valued."""
    from mechdsl.sampled import TypeSampler

    ir, tb, dev = pomdp.ir, pomdp.tb, pomdp.device
    gen = torch.Generator(device=dev).manual_seed(seed)
    sampler = getattr(pomdp, "sampler", None) or TypeSampler(ir, dev, "dense")
    types = sampler.draw(1, SAMPLES, gen)[0]  # [M, n]
    M = types.shape[0]
    played = torch.stack([s[0].to(dev)[types[:, i]] for i, s in enumerate(start.strategies)], 1)  # learned play
    classes = observation_class(tb, played)
    c = int(torch.bincount(classes, minlength=len(ir.root)).argmax())
    talk = played[int((classes == c).nonzero()[0])]  # one action profile of that class
    own = copies[c]
    act = _copied(gmap.action[0], copies, own)  # class c's decisions everywhere
    if not _cheap_talk(tb, act, types[:CHECK], talk, gen):
        return None, 0, "the followers' actions change payoffs, not only what the leader sees"
    actions = talk.expand(M, -1)
    V, path = _rollout(tb, act, types, actions)
    evaluated, tol = 0, 1e-12 * pomdp.span * M
    legal = torch.as_tensor(ir.legal, dtype=torch.bool)
    mine = set(own.tolist())
    for _ in range(SWEEPS):
        changed = False
        for s, reach in _deepest_first(mine, path):
            reach = reach[(path[reach] == s).any(1)]  # rows a change earlier in this sweep sent elsewhere
            ks = [k for k in legal[s].nonzero().squeeze(1).tolist() if k != int(act[s])]
            if reach.numel() == 0 or not ks:
                continue
            if evaluated + len(ks) > budget:
                return _copied(act, copies, own), evaluated, ""
            evaluated += len(ks)
            best = None  # (gain, action, values [R], paths [R, D])
            step = max(1, min(len(ks), CANDIDATE_CELLS // max(reach.numel(), act.numel())))
            for at in range(0, len(ks), step):
                part = ks[at:at + step]
                rows = act.unsqueeze(0).repeat(len(part), 1)
                rows[torch.arange(len(part)), s] = torch.tensor(part)
                R = reach.numel()
                cells = Cells(torch.arange(len(part), device=dev).repeat_interleave(R),
                              types[reach].repeat(len(part), 1), actions[:R].repeat(len(part), 1))
                got = evaluate_cells(tb, Policy(action=rows), cells, utilities=False)
                vals = got.V.view(len(part), R)
                gain = (vals - V[reach]).sum(1)
                j = int(gain.argmax())
                if best is None or float(gain[j]) > best[0]:
                    best = (float(gain[j]), part[j], vals[j], got.branches[0][1].view(len(part), R, -1)[j])
            if best[0] > tol:
                act[s] = best[1]
                V[reach] = best[2]
                path = _write_rows(path, reach, best[3])
                changed = True
        if not changed:
            break
        V, path = _rollout(tb, act, types, actions)  # in step with the map again for the next sweep
    return _copied(act, copies, own), evaluated, ""


def _rollout(tb, act: torch.Tensor, types: torch.Tensor, actions: torch.Tensor):
    """The objective [M] and the information sets met [M, D] of each sample under `act`."""
    M = types.shape[0]
    out = evaluate_cells(tb, Policy(action=act.unsqueeze(0)),
                         Cells(torch.zeros(M, dtype=torch.long, device=types.device), types, actions), utilities=False)
    return out.V, out.branches[0][1]


def _copied(act: torch.Tensor, copies: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
    out = act.clone()
    out[copies.reshape(-1)] = act[own].repeat(copies.shape[0])
    return out


def _deepest_first(mine: set[int], path: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
    """The class's decision points that some sample reaches, each with the samples that
    reach it, latest in a path first (one sort of the paths, not a scan per point)."""
    M, D = path.shape
    flat = path.reshape(-1)
    keep = flat >= 0
    ids, rows = flat[keep], torch.arange(M, device=path.device).repeat_interleave(D)[keep]
    depth = torch.arange(D, device=path.device).repeat(M)[keep]
    order = torch.argsort(ids, stable=True)
    ids, rows, depth = ids[order], rows[order], depth[order]
    uniq, counts = torch.unique_consecutive(ids, return_counts=True)
    out = []
    for s, r, d in zip(uniq.tolist(), torch.split(rows, counts.tolist()), torch.split(depth, counts.tolist())):
        if s in mine:
            out.append((int(d.max()), s, r.unique()))
    out.sort(key=lambda x: (-x[0], x[1]))
    return [(s, r) for _, s, r in out]


def _write_rows(path: torch.Tensor, rows: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    D = max(path.shape[1], new.shape[1])
    pad = lambda x: torch.nn.functional.pad(x, (0, D - x.shape[1]), value=-1)  # noqa: E731
    path = pad(path)
    path[rows] = pad(new)
    return path


def _cheap_talk(tb, act: torch.Tensor, types: torch.Tensor, talk: torch.Tensor, gen: torch.Generator) -> bool:
    """Whether the pooled map's payoffs stay put when the followers' actions change (on
    `types`, against random action profiles)."""
    N, n = types.shape
    other = torch.stack([torch.randint(a, (N,), generator=gen, device=types.device) for a in tb.ir.action_counts], 1) \
        if n else types
    row = torch.zeros(N, dtype=torch.long, device=types.device)
    p = Policy(action=act.unsqueeze(0))
    a = evaluate_cells(tb, p, Cells(row, types, talk.expand(N, -1)))
    b = evaluate_cells(tb, p, Cells(row, types, other))
    return bool(torch.allclose(a.V, b.V, atol=TALK_TOL, rtol=0) and torch.allclose(a.U, b.U, atol=TALK_TOL, rtol=0))
