"""The IR in words, as `mechdsl compile` prints it: who plays, what they know and do,
the leader's information sets, the objective, the dynamics and the game tree's size."""
from __future__ import annotations

import math
from pathlib import Path

from mechdsl.compiler.ir import GameIR
from mechdsl.compiler.limits import show

MAX_LISTED = 40


def summary(ir: GameIR) -> str:
    """What a designer wants to see after compiling: who plays, what they know and do."""
    from mechdsl.compiler.tree import tree_summary

    model = ir.model
    out: list[str] = []
    title = Path(model.path).name if model.path else model.name
    out.append(f"mechanism {title}  (IR {ir.content_hash()})")
    if model.doc:
        out += ["", *["  " + line for line in model.doc.strip().splitlines()]]
    out.append("")
    if model.params:
        out.append("params: " + ", ".join(f"{k}={v:g}" for k, v in model.params.items()))
    if model.items:
        out.append("items: " + ", ".join(f"{it.name}" + (f" x{it.units}" if it.units > 1 else "") for it in model.items))
    out.append(f"followers: {len(model.people)}   type profiles: {ir.n_type_profiles}   "
               f"action profiles: {ir.n_action_profiles}")
    marg = _marginals(ir)
    for i, f in enumerate(model.followers):
        if i == model.chance:  # no follower: its states and their law
            out.append("  chance state (nature): " + ", ".join(f"{lab} ({p:.4g})" for lab, p in zip(f.type_labels, marg[i])))
            continue
        types = ", ".join(f"{lab} ({p:.4g})" for lab, p in zip(f.type_labels, marg[i]))
        pure = len(f.action_labels) ** len(f.type_labels)
        out.append(f"  {f.name}: types {types}")
        out.append(
            f"      {f.action_name} in {{{', '.join(f.action_labels)}}}   strategy: "
            f"{len(f.type_labels)}x{len(f.action_labels)} weights, {show(pure)} pure strategies"
        )
    leader = model.leader
    observed = ", ".join(model.followers[j].name for j in leader.observe) or "nothing"
    out.append(f"leader observes: {observed}   observation classes: {len(ir.class_labels)}")
    for c in leader.choices:
        domain = f"interval [{c.interval[0]:g}, {c.interval[1]:g}]" if c.interval else f"{{{', '.join(c.labels)}}}"
        out.append(f"  choose {c.name} in {domain}" + ("  (mixed)" if c.mixed else ""))
    if leader.rounds is not None:
        r = leader.rounds
        prices = f"grid {{{', '.join(f'{p:g}' for p in r.grid)}}}" if r.price_kind == "grid" else f"interval [{r.low:g}, {r.high:g}]"
        out.append(
            f"  rounds: visit a remaining agent, price each {'bundle' if r.bundle_prices else 'item'} from {prices}; "
            f"{'unit-demand' if r.valuation == 'unit' else 'additive'} buyers, "
            f"{'buy at utility >= 0' if r.tie_buy else 'buy only at utility > 0'}"
        )
    n_choose = sum(1 for s in ir.infosets if s.kind == "choose")
    out.append(
        f"leader information sets: {ir.n_infosets} ({n_choose} choose, {ir.n_infosets - n_choose} round)"
        f"   actions per set: up to {ir.n_actions}"
    )
    for s in ir.infosets[:MAX_LISTED]:
        legal = sum(ir.legal[s.id])
        out.append(f"  #{s.id} {s.label}: {legal} actions")
    if ir.n_infosets > MAX_LISTED:
        out.append(f"  ... {ir.n_infosets - MAX_LISTED} more")
    named = "" if model.objective_name == "objective" else f"{model.objective_name}   "  # not `objective: objective`
    out.append(f"objective: {named}bounds [{ir.objective_bounds[0]:g}, {ir.objective_bounds[1]:g}]")
    d = model.dynamics
    out.append(f"dynamics: MW step {d.step:g}, T={d.equilibrium} equilibrium + R={d.reward} reward sub-episodes, "
               f"ties read {d.ties}")
    ts = tree_summary(ir)
    out.append("game tree: " + ", ".join(f"{k}={v}" for k, v in ts.items()))
    return "\n".join(out)


def plural(n: int, word: str, many: str = "") -> str:
    """`1 follower`, `2 followers`."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _marginals(ir: GameIR) -> list[list[float]]:
    tc = ir.type_counts
    out = [[0.0] * c for c in tc]
    strides = [math.prod(tc[i + 1 :]) for i in range(len(tc))]
    for t, p in enumerate(ir.prior):
        for i, c in enumerate(tc):
            out[i][(t // strides[i]) % c] += p
    return out
