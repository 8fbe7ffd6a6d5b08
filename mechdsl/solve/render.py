"""The solver's answer in words: per observation class the leader's decision tree (or
mixture), then the followers' strategies per type."""
from __future__ import annotations

from mechdsl.compiler.ir import GameIR
from mechdsl.certificate import render as render_certificate
from mechdsl.followers import PLAYED
from mechdsl.followers import describe as describe_model
from mechdsl.results import number_text
from mechdsl.solve.answer import Solution
from mechdsl.solve.space import children


def _choice_text(ir: GameIR, k: int) -> str:
    choices = ir.model.leader.choices
    return ", ".join(f"{c.name} = {c.labels[v]}" for c, v in zip(choices, ir.choose_actions[k]))


def _mix_text(ir: GameIR, row: list[float], exact: bool = False) -> str:
    choices = ir.model.leader.choices
    parts = []
    for k, p in enumerate(row):
        if p <= 0:
            continue
        if len(choices) == 1:
            lab = choices[0].labels[ir.choose_actions[k][0]]
        else:
            lab = "(" + ", ".join(f"{c.name}={c.labels[v]}" for c, v in zip(choices, ir.choose_actions[k])) + ")"
        parts.append(f"{lab} {number_text(p, exact)}")
    head = choices[0].name if len(choices) == 1 else "choice"
    return f"{head}: " + ", ".join(parts)


def _response_text(ir: GameIR, agent: int, bundles: list[int]) -> str:
    name = ir.model.followers[agent].name
    items = ir.model.items
    parts = []
    for b in bundles:
        got = [items[j].name for j, x in enumerate(ir.bundles[b]) if x]
        parts.append("passes" if not got else "buys " + ", ".join(got))
    return f"{name} " + " or ".join(parts)


def _round_text(ir: GameIR, s: int, k: int) -> str:
    """'visit a2 at good=0.25', listing only the items still in stock."""
    if ir.model.leader.rounds.bundle_prices:  # a price per bundle: the IR's label lists them
        return ir.action_labels[s][k]
    agent, prices = ir.round_actions[k]
    text = f"visit {ir.model.followers[agent].name}"
    stock = ir.infosets[s].stock
    if ir.interval is None and ir.price_grid:
        shown = [f"{it.name}={ir.price_grid[prices[j]]:g}" for j, it in enumerate(ir.model.items) if not stock or stock[j] > 0]
        if shown:
            text += " at " + ", ".join(shown)
    return text


def _tree_lines(ir: GameIR, s: int, actions, probs, indent: str, exact: bool = False) -> list[str]:
    info = ir.infosets[s]
    if info.kind == "choose":
        if probs is not None and ir.mixed:
            row = probs[s]
            lines = [indent + _mix_text(ir, row, exact)]
            for k, p in enumerate(row):
                if p <= 0:
                    continue
                kids = children(ir, s, k)
                if kids:
                    lines.append(f"{indent}if {_choice_text(ir, k)}:")
                    for ch in kids:
                        lines += _tree_lines(ir, ch, actions, probs, indent + "    ", exact)
            return lines
        k = actions[s]
        lines = [indent + _choice_text(ir, k)]
        for ch in children(ir, s, k):
            lines += _tree_lines(ir, ch, actions, probs, indent, exact)
        return lines
    k = actions[s]
    lines = [indent + _round_text(ir, s, k)]
    agent = ir.round_actions[k][0]
    by_next: dict[int, list[int]] = {}
    for b, nxt in enumerate(ir.round_next[s][agent]):
        if nxt >= 0:
            by_next.setdefault(nxt, []).append(b)
    for nxt, bundles in by_next.items():
        sub = _tree_lines(ir, nxt, actions, probs, indent + "    ", exact)
        head = f"{indent}if {_response_text(ir, agent, bundles)}: "
        lines.append(head + sub[0].strip())
        lines += sub[1:]
    return lines


def describe(ir: GameIR, solution: Solution, exact: bool = False) -> str:
    """The optimal mechanism in words: per observation class the leader's decision tree
    (or choice / mixture), marking classes the followers never reach, then the
    followers' strategies per type.  `exact`: values that are fractions print as such."""
    model = ir.model
    sol = solution
    out = []
    who = {"mw": f"followers learn by multiplicative weights, ties read {sol.ties}",
           "favourable": "leader-favourable equilibrium"}.get(sol.follower_model) or describe_model(sol.follower_model,
                                                                                                  sol.ties)
    if sol.value is None:
        out.append(f"{model.name}: no solution ({who})")
        if sol.note:
            out.append(f"  {sol.note}")
        return "\n".join(out)
    bounded = not sol.exact and not sol.supremum and sol.bound is not None
    kind = ("optimum" if sol.exact else "supremum" if sol.supremum else
            "best found, not proven optimal" if bounded else "value")
    out.append(f"{model.name}: {sol.objective} = {number_text(sol.value, exact)} ({kind}; {who})")
    if bounded:
        out.append(f"  the optimum is at most {number_text(sol.bound, exact)} (gap {number_text(sol.gap, exact)}): "
                   "certified within the gap through a bound")
    elif not sol.exact:
        out.append(f"  this policy achieves {number_text(sol.policy_value, exact)}")
    if sol.note:
        out.append(f"  note: {sol.note}")
    if sol.certificate is not None:
        out += ["  " + line for line in render_certificate(sol.certificate)]
    out.append("")
    out.append("Leader policy:")
    reached = set(sol.reached_classes)
    for c, label in enumerate(ir.class_labels):
        mark = "" if label in reached else "  (not reached)"
        out.append(f"  [{label}]{mark}")
        out += _tree_lines(ir, ir.root[c], sol.actions, sol.probs, "      ", exact)
    out.append("")
    title = PLAYED[sol.follower_model]
    out.append(f"Followers ({title}):")
    for i in model.people:
        f = model.followers[i]
        strat = sol.follower_strategies[f.name]
        if len(f.action_labels) == 1:
            what = "no strategic action" if f.action_name == "none" else f"{f.action_name} = {f.action_labels[0]} (its only action)"
            out.append(f"  {f.name}: {what}")
            continue
        if len(strat) == 1:
            line = f"  {f.name} ({f.action_name}): " + next(iter(strat.values()))
        else:
            line = f"  {f.name} ({f.action_name}): " + "; ".join(f"{t} -> {a}" for t, a in strat.items())
        regs = sol.regret[f.name]
        worst = max(regs.values()) if regs else 0.0
        line += f"   regret {worst:.3g}" if worst > 1e-9 else "   regret 0"
        out.append(line)
    out += chance_lines(ir)
    return "\n".join(out)


def chance_lines(ir: GameIR) -> list[str]:
    """The chance state and its law (not a follower: no strategy, no regret)."""
    law = ir.chance_law()
    if not law:
        return []
    return ["", "Chance state (nature, drawn from its law): "
            + ", ".join(f"{label} {p:.4g}" for label, p in law.items())]
