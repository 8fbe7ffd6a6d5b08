"""Symmetries of the leader's policy space under MW followers, found in the tables.

A candidate relabels the game: it permutes the followers (`agents`, only among followers
with the same type and action counts) and each follower's actions (`actions`).  It is a
symmetry of the policy space when it maps the prior onto itself, each observation class
onto one class, and every distinct sub-policy of a class onto a distinct sub-policy of
the image class with exactly the relabelled payoff slices (U and V, compared as
`build_space` merges them).  Then it maps every full policy onto one whose followers run
the relabelled dynamics from the same uniform weights, so both are worth the same to the
leader -- except under `first` ties, which prefer low action indices: there only
permutations of followers (not of actions) are used.  Each generator found in the tables
is checked once more on a few policies by running MW on both, and dropped if the values
differ.  Where classes are interchangeable this is message relabelling; where followers
are, swapping identical agents.

`group` closes the generators under composition (at most `GROUP_MAX` elements); the
branch and bound keeps, of every orbit, the policy whose class-by-class index vector is
lexicographically least (`lex_leader`).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch

from mechdsl.dynamics import MWConfig
from mechdsl.solve.batch_mw import BatchMW
from mechdsl.solve.space import PolicySpace
from mechdsl.ties import play, profile_values

GROUP_MAX = 4096  # symmetries kept (the closure of the generators, breadth first)
CHECKS = 6  # random policies on which each generator's invariance is re-checked by MW
CHECK_TOL = 1e-9


@dataclass(frozen=True)
class Symmetry:
    """Class c goes to cls[c]; its distinct sub-policy j to sub[c][j] in class cls[c]."""

    cls: tuple[int, ...]
    sub: tuple[tuple[int, ...], ...]
    name: str = ""

    def apply(self, idx: np.ndarray) -> np.ndarray:
        """Full policies idx [B, C] -> their images [B, C]."""
        out = np.empty_like(idx)
        for c, d in enumerate(self.cls):
            out[:, d] = np.asarray(self.sub[c])[idx[:, c]]
        return out

    def then(self, other: "Symmetry") -> "Symmetry":
        """`other` after `self`."""
        cls = tuple(other.cls[d] for d in self.cls)
        sub = tuple(tuple(other.sub[d][k] for k in self.sub[c]) for c, d in enumerate(self.cls))
        return Symmetry(cls, sub)


def candidates(space: PolicySpace, ties: str) -> list[tuple[str, list[int], list[list[int]]]]:
    """(name, follower permutation, per follower action permutation): adjacent
    transpositions of each follower's actions and swaps of two like followers."""
    ir = space.tb.ir
    n, ac, tc = ir.n_followers, list(ir.action_counts), list(ir.type_counts)
    names = [f.name for f in ir.model.followers]
    ident = [list(range(a)) for a in ac]
    out = []
    if ties != "first":
        for i in range(n):
            for a in range(ac[i] - 1):
                acts = [list(p) for p in ident]
                acts[i][a], acts[i][a + 1] = a + 1, a
                out.append((f"{names[i]}: actions {a} <-> {a + 1}", list(range(n)), acts))
    for i, j in itertools.combinations(range(n), 2):
        if ac[i] == ac[j] and tc[i] == tc[j]:
            agents = list(range(n))
            agents[i], agents[j] = j, i
            out.append((f"swap {names[i]} and {names[j]}", agents, ident))
    return out


def _keys(U: torch.Tensor, V: torch.Tensor) -> list[bytes]:
    flat = torch.cat([U.reshape(U.shape[0], -1), V.reshape(V.shape[0], -1)], 1).numpy()
    flat = np.round(flat, 10) + 0.0  # as build_space merges
    return [row.tobytes() for row in flat]


def from_tables(space: PolicySpace, agents: list[int], acts: list[list[int]], name: str = "") -> Symmetry | None:
    """The symmetry this relabelling induces on the policy space, or None when the tables
    are not invariant under it."""
    tb = space.tb
    ir = tb.ir
    n = ir.n_followers
    if any(ir.utility_bounds[agents[i]] != ir.utility_bounds[i] for i in range(n)):
        return None
    tidx, aidx = tb.tidx.numpy(), tb.aidx.numpy()
    tstr = [math.prod(ir.type_counts[i + 1:]) for i in range(n)]
    astr = [math.prod(ir.action_counts[i + 1:]) for i in range(n)]
    tmap = sum(tidx[:, i] * tstr[agents[i]] for i in range(n))  # type profile -> its image
    amap = sum(np.asarray(acts[i])[aidx[:, i]] * astr[agents[i]] for i in range(n))
    prior = np.asarray(ir.prior)
    if not np.allclose(prior[tmap], prior, rtol=0, atol=1e-12):
        return None
    C = len(space.subs)
    cls = [-1] * C
    for a, c in enumerate(ir.obs_class):
        d = ir.obs_class[int(amap[a])]
        if cls[c] not in (-1, d):
            return None
        cls[c] = d
    if sorted(cls) != list(range(C)):
        return None
    finv = np.argsort(agents)
    tinv = np.argsort(tmap)
    sub = []
    for c, d in enumerate(cls):
        cols_c, cols_d = space.profiles[c], space.profiles[d]
        pos = {a: q for q, a in enumerate(cols_d)}
        if len(cols_c) != len(cols_d) or any(int(amap[a]) not in pos for a in cols_c):
            return None
        img = [pos[int(amap[a])] for a in cols_c]  # column q of class c -> column img[q] of class d
        qinv = np.argsort(img)
        U = space.U[c][:, finv][:, :, tinv][:, :, :, qinv]
        V = space.V[c][:, tinv][:, :, qinv]
        have = {k: j for j, k in enumerate(_keys(space.U[d], space.V[d]))}
        image = [have.get(k, -1) for k in _keys(U, V)]
        if -1 in image or len(set(image)) != len(image):
            return None
        sub.append(tuple(image))
    return Symmetry(tuple(cls), tuple(sub), name)


def values(space: PolicySpace, mw: BatchMW, cfg: MWConfig, idx: np.ndarray) -> torch.Tensor:
    """The leader's value of full policies idx [B, C] under MW and the tie reading."""
    U, V = space.assemble(torch.as_tensor(idx, dtype=torch.long))
    strat, _ = play(space.tb, mw.run(mw.matrices(U)), V, cfg.ties)
    return profile_values(space.tb, V, strat)


def generators(space: PolicySpace, cfg: MWConfig) -> list[Symmetry]:
    """Every candidate relabelling that the tables and a check by MW confirm (and is not
    the identity on policies)."""
    mw = BatchMW(space.tb, cfg)
    rng = np.random.default_rng(0)
    counts = np.asarray(space.counts)
    probe = (rng.random((CHECKS, len(counts))) * counts).astype(np.int64)
    out = []
    for name, agents, acts in candidates(space, cfg.ties):
        g = from_tables(space, agents, acts, name)
        if g is None or g.cls == tuple(range(len(counts))) and all(s == tuple(range(len(s))) for s in g.sub):
            continue
        both = values(space, mw, cfg, np.concatenate([probe, g.apply(probe)]))
        if torch.allclose(both[:CHECKS], both[CHECKS:], rtol=0, atol=CHECK_TOL):
            out.append(g)
    return out


def group(gens: list[Symmetry]) -> list[Symmetry]:
    """The group the generators generate, without the identity (breadth first, at most
    GROUP_MAX elements: any subset is still sound for `lex_leader`)."""
    if not gens:
        return []
    C = len(gens[0].cls)
    ident = Symmetry(tuple(range(C)), tuple(tuple(range(len(s))) for s in gens[0].sub))
    seen = {(ident.cls, ident.sub)}
    out, frontier = [], [ident]
    while frontier and len(out) < GROUP_MAX:
        nxt = []
        for h in frontier:
            for g in gens:
                e = h.then(g)
                if (e.cls, e.sub) in seen:
                    continue
                seen.add((e.cls, e.sub))
                out.append(e)
                nxt.append(e)
                if len(out) >= GROUP_MAX:
                    return out
        frontier = nxt
    return out


class LexLeader:
    """Keeps the lexicographically least member of each orbit: a partial policy (the
    first k classes assigned) is dropped as soon as some symmetry's image of it is
    smaller on a prefix the assigned classes fix."""

    def __init__(self, elems: list[Symmetry], counts: list[int]):
        G, C, N = len(elems), len(counts), max(counts)
        self.G = G
        self.src = np.zeros((G, C), dtype=np.int64)  # src[g, p]: the class g maps onto p
        self.sub = np.zeros((G, C, N), dtype=np.int64)  # sub[g, c, j]: image of sub-policy j of c
        for e, g in enumerate(elems):
            for c, d in enumerate(g.cls):
                self.src[e, d] = c
                self.sub[e, c, : len(g.sub[c])] = g.sub[c]

    def canonical(self, x: np.ndarray) -> np.ndarray:
        """x [B, k+1]: partial policies (classes 0..k) -> [B] whether each may still be
        the least of its orbit."""
        B, k1 = x.shape
        if self.G == 0:
            return np.ones(B, dtype=bool)
        src = self.src[:, :k1]  # [G, k1]
        known = src < k1
        srcc = np.minimum(src, k1 - 1)
        vals = x[:, srcc]  # [B, G, k1]: x at the source class
        y = self.sub[np.arange(self.G)[None, :, None], srcc[None], vals]  # [B, G, k1]
        stop = ~known[None] | (y != x[:, None, :])
        first = stop.argmax(-1)  # first position that is unknown or differs
        anystop = stop.any(-1)
        kn = np.take_along_axis(np.broadcast_to(known[None], stop.shape), first[..., None], -1)[..., 0]
        smaller = np.take_along_axis(y < x[:, None, :], first[..., None], -1)[..., 0]
        bad = anystop & kn & smaller
        return ~bad.any(-1)
