"""The solver's answer (`Solution`) and how it is checked and assembled: the reference
MW run, the followers' regret, and the policy as labels over reachable information sets."""
from __future__ import annotations

import math
from typing import Any, Optional

import torch
from pydantic import BaseModel

from mechdsl.compiler.ir import GameIR
from mechdsl.certificate import Certificate
from mechdsl.compiler.model import DEFAULT_TIES
from mechdsl.dynamics import MWConfig, expected_mw, leader_value, pure, regret
from mechdsl.evaluate import Policy, Tables, evaluate
from mechdsl.solve.space import children, PolicySpace
from mechdsl.ties import play


class Solution(BaseModel):
    """The solver's answer.  `value` is the optimum (or, when `supremum`, the least upper
    bound, approached by `policy` whose own value is `policy_value`)."""

    spec: str
    follower_model: str
    objective: str
    value: Optional[float]
    policy_value: Optional[float]
    exact: bool
    supremum: bool = False
    # one entry per information set the policy can reach (`policy_entries`; the same shape
    # as `train --json`'s policy, docs/results.md)
    policy: list[dict[str, Any]]
    actions: list[int]  # [S] action per information set (argmax of probs where mixed)
    probs: Optional[list[list[float]]] = None  # [S][K] where the policy mixes
    follower_strategies: dict[str, dict[str, str]]  # follower -> type label -> action label
    follower_profile: list[list[int]]  # per follower, action index per type
    regret: dict[str, dict[str, float]]  # follower -> type label -> regret (spec units)
    reached_classes: list[str]
    unreached_classes: list[str]
    policies_enumerated: int = 0
    policies_total: int = 0  # size of the (merged) policy space
    # a proven upper bound on the optimum (pure policies under mw), and bound - value:
    # gap 0 when the value is proven optimal; above 0 when branch and bound ran out of
    # --limit first (`exact` is then false: the value is attained, the optimum not proven)
    bound: Optional[float] = None
    gap: Optional[float] = None
    nodes_explored: int = 0  # partial policies branch and bound opened (0: enumerated)
    symmetries: int = 0  # relabellings of the game used to skip equivalent policies
    distinct_subpolicies: list[int] = []  # per observation class
    profiles_solved: int = 0  # LPs / MILPs
    seconds: float = 0.0
    note: str = ""
    ties: str = DEFAULT_TIES  # how exact ties in the followers' final weights are read (mw)
    certificate: Optional[Certificate] = None  # value under each reading, regret, verdict


def policy_tensor(ir: GameIR, actions: list[int], probs: Optional[list[list[float]]]) -> Policy:
    act = torch.tensor([actions], dtype=torch.long)
    pr = torch.tensor([probs], dtype=torch.float64) if probs is not None else None
    return Policy(action=act, probs=pr)


def check_policy(tb: Tables, cfg: MWConfig, actions, probs, strategies: Optional[list[list[int]]]):
    """Reference numbers for one policy: (value, strategies, regret [n, Tmax]).
    strategies None: the followers run `expected_mw` and play the argmax (ties read as
    `cfg.ties` says)."""
    pay = evaluate(tb, policy_tensor(tb.ir, actions, probs))
    if strategies is None:
        idx, _ = play(tb, expected_mw(tb, pay.U, cfg), pay.V, cfg.ties)
    else:
        idx = [torch.tensor([s], dtype=torch.long) for s in strategies]
    S = pure(idx, tb)
    value = float(leader_value(tb, pay.V, S)[0])
    reg = regret(tb, pay.U, S)[0]
    return value, [s[0].tolist() for s in idx], reg


def finish(space: PolicySpace, follower_model: str, value, policy_value, exact, supremum, actions, probs,
            strategies, reg, note, enumerated=0, profiles=0) -> Solution:
    ir = space.tb.ir
    model = ir.model
    fs, rg = {}, {}
    for i in model.people:  # the chance state has no strategy and no regret
        f = model.followers[i]
        fs[f.name] = {lab: f.action_labels[strategies[i][t]] for t, lab in enumerate(f.type_labels)}
        rg[f.name] = {lab: round(float(reg[i, t]), 12) for t, lab in enumerate(f.type_labels)}
    reached = reached_classes(space.tb, strategies)
    return Solution(
        spec=model.name,
        follower_model=follower_model,
        objective=model.objective_name,
        value=None if value is None else round(value, 12),
        policy_value=None if policy_value is None else round(policy_value, 12),
        exact=exact,
        supremum=supremum,
        policy=policy_entries(ir, actions, probs),
        actions=actions,
        probs=probs,
        follower_strategies=fs,
        follower_profile=strategies,
        regret=rg,
        reached_classes=[ir.class_labels[c] for c in range(len(ir.class_labels)) if c in reached],
        unreached_classes=[ir.class_labels[c] for c in range(len(ir.class_labels)) if c not in reached],
        policies_enumerated=enumerated,
        profiles_solved=profiles,
        note=note,
    )


def none_found(space: PolicySpace, model: str, solved: int) -> Solution:
    ir = space.tb.ir
    actions = space.actions([0] * len(space.subs))
    strategies = [[0] * t for t in ir.type_counts]
    reg = torch.zeros(ir.n_followers, max(ir.type_counts), dtype=torch.float64)
    return finish(space, model, None, None, True, False, actions, None, strategies, reg,
                   "no leader policy admits a pure Bayes-Nash equilibrium of the followers", profiles=solved)


def reached_classes(tb: Tables, strategies: list[list[int]]) -> set[int]:
    ir = tb.ir
    strides = [math.prod(ir.action_counts[i + 1:]) for i in range(ir.n_followers)]
    out = set()
    for t in range(tb.T):
        if ir.prior[t] <= 0:
            continue
        a = sum(strategies[i][int(tb.tidx[t, i])] * strides[i] for i in range(ir.n_followers))
        out.add(ir.obs_class[a])
    return out


def _reachable(ir: GameIR, actions: list[int], probs) -> list[int]:
    """Information sets the policy can reach (any response), in depth-first order."""
    out: list[int] = []
    seen: set[int] = set()

    def visit(s: int) -> None:
        if s in seen:
            return
        seen.add(s)
        out.append(s)
        ks = [actions[s]]
        if probs is not None and ir.infosets[s].kind == "choose":
            ks = [k for k, p in enumerate(probs[s]) if p > 0] or ks
        for k in ks:
            for ch in children(ir, s, k):
                visit(ch)

    for r in ir.root:
        visit(r)
    return out


def policy_entries(ir: GameIR, actions: list[int], probs=None, prices=None) -> list[dict[str, Any]]:
    """The policy as documented in docs/results.md: per information set it can reach (any
    response), its id, label and kind, the action played (the likeliest where it mixes) and
    the distribution over action labels (a pure choice: that action with probability 1);
    `prices` per item where a learned policy posts prices from an interval."""
    from mechdsl.results import distribution_exact

    out: list[dict[str, Any]] = []
    for s in _reachable(ir, actions, probs):
        info, labels = ir.infosets[s], ir.action_labels[s]
        mixes = probs is not None and info.kind == "choose" and ir.mixed
        if mixes:
            dist = {labels[k]: round(float(p), 12) for k, p in enumerate(probs[s]) if p > 0}
            action = labels[max(range(len(probs[s])), key=lambda k: probs[s][k])]
        else:
            action = labels[actions[s]]
            dist = {action: 1.0}
        entry = {"infoset": s, "label": info.label or f"#{s}", "kind": info.kind, "action": action,
                 "mixed": mixes and len(dist) > 1, "distribution": dist,
                 "distribution_exact": distribution_exact(dist), "prices": None}
        if prices is not None and info.kind == "choose" and ir.choice_intervals:  # continuous choices
            entry["prices"] = {name: round(float(prices[s][q]), 12) for q, name in enumerate(ir.choice_intervals)}
        if prices is not None and info.kind == "round" and ir.interval is not None:
            entry["prices"] = {name: round(float(prices[s][q]), 12)
                               for q, (name, slot) in enumerate(zip(ir.price_slot_names, ir.price_slots))
                               if not info.stock or all(info.stock[j] > 0 for j in slot)}
        out.append(entry)
    return out
