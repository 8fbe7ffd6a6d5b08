"""The picture `mechdsl compile --format dot` draws: the leader's commitment first, then
the game tree (types, the followers' simultaneous moves, the leader's policy at work,
the payoffs at the leaves), information sets marked by dashed links, and deep or wide
parts folded into one node that says how much it hides -- so a 669-node tree stays a
readable picture.  Trees too large to walk show the collapsed graph of information sets.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Optional

import networkx as nx

from mechdsl.compiler.drawing import collapsed_graph, to_dot
from mechdsl.compiler.ir import GameIR
from mechdsl.compiler.strategic import (
    LeaderPolicy, bayes, count_policies, full_actions, materialized, policy_label, pure_policies, tables,
)
from mechdsl.compiler.tree import game_tree

AUTO_NODES = 120  # without --depth: the deepest cut that draws at most this many nodes
MAX_CHILDREN = 12  # per node, the rest fold into one "+k more" node (unless --depth 0)
TREE_NODES = 20_000  # larger trees are drawn as the collapsed graph of information sets
LINK = {"dir": "none", "style": "dashed", "color": "#3366cc", "constraint": "false"}
GRAPH = {"rankdir": "LR", "nodesep": "0.12", "ranksep": "0.35", "fontsize": "10"}


def draw(ir: GameIR, depth: Optional[int] = None, policy: Optional[LeaderPolicy] = None) -> tuple[str, str]:
    """(DOT text, a one-line note on what was folded).  `depth`: levels of moves drawn
    below the root (None: as many as fit `AUTO_NODES`; 0: everything, nothing folded).
    With `policy`, the leader's chosen moves are bold and the others grey."""
    g, root, note = _graph(ir, policy)
    levels = nx.single_source_shortest_path_length(g, root)
    total, deepest = g.number_of_nodes(), max(levels.values())
    if depth is None:  # the deepest cut that stays within AUTO_NODES (at least one level)
        cut, shown = 1, _fold(g, root, levels, 1, MAX_CHILDREN)
        for d in range(2, deepest + 1):
            more = _fold(g, root, levels, d, MAX_CHILDREN)
            if more.number_of_nodes() > AUTO_NODES:
                break
            cut, shown = d, more
    else:
        cut = deepest if depth == 0 else depth
        shown = _fold(g, root, levels, cut, MAX_CHILDREN if depth != 0 else None)
    hidden = total - sum(1 for n, d in shown.nodes(data=True) if d.get("kind") != "more")
    if hidden:
        note = (note + "; " if note else "") + (
            f"drew {total - hidden:,} of {total:,} nodes (to depth {min(cut, deepest)} of {deepest}); "
            "--depth N to change, --depth 0 for all")
    if root != "commit":
        _commit(shown, root, ir, policy)
    shown.graph["links"] = _infoset_links(shown)
    return to_dot(shown, ir.model.name, GRAPH), note


def _graph(ir: GameIR, policy: Optional[LeaderPolicy]) -> tuple[nx.DiGraph, object, str]:
    """(graph, root, note): the commitment tree when the leader has at most `MAX_CHILDREN`
    pure policies and none is given, else the tree of play (or its collapsed graph)."""
    if policy is None and not ir.continuous and count_policies(ir) <= MAX_CHILDREN:
        g = _commitment_tree(ir)
        if g.number_of_nodes() <= TREE_NODES:
            return g, "commit", ""
    tree = game_tree(ir, max_nodes=TREE_NODES)
    if tree is None:
        why = ("the leader picks numbers from an interval, so the tree is not finite" if ir.continuous
               else f"the tree has more than {TREE_NODES:,} nodes")
        return collapsed_graph(ir), "start", f"{why}: drawing the {ir.n_infosets} leader information sets " \
            "and their transitions"
    g = _decorate(ir, tree, policy)
    if len(list(g.successors(0))) == 1:  # a single type profile: no chance move to draw
        root = next(g.successors(0))
        g.remove_node(0)
        return g, root, ""
    return g, 0, ""


def _commitment_tree(ir: GameIR) -> nx.DiGraph:
    """The Stackelberg game as it is played: the leader commits to one of its few pure
    policies, chance draws types, the followers (who see the commitment and their own
    type) move, and the leaves carry the payoffs under that commitment."""
    b = bayes(ir)
    tree = materialized(ir)
    model = ir.model
    names = [model.objective_name] + [f.name for f in model.followers]
    g = nx.DiGraph()
    g.add_node("commit", kind="commit", label="leader commits to a pure policy\n(the followers see it)")

    def move(p: int, tb, t: int, own, parent, i: int, actions: tuple[int, ...], label: str) -> None:
        node = (p, t, actions)
        if i == ir.n_followers:
            a = b.action_profile(actions)
            pay = [tb.V[t][a]] + [tb.U[j][t][a] for j in range(ir.n_followers)]
            g.add_node(node, kind="terminal", label="\n".join(f"{n} {x:g}" for n, x in zip(names, pay)))
            g.add_edge(parent, node, label=label)
            return
        f = model.followers[i]
        shown = f.name if len(f.type_labels) == 1 else f"{f.name} [{f.type_labels[own[i]]}]"
        g.add_node(node, kind="follower", label=shown, group=("follower", p, i, own[i]))
        g.add_edge(parent, node, label=label)
        for k, action in enumerate(f.action_labels):
            move(p, tb, t, own, node, i + 1, actions + (k,), action)

    for p, assign in enumerate(pure_policies(ir)):
        tb = tables(ir, full_actions(ir, assign), tree)
        if len(b.types) == 1:
            move(p, tb, b.t_index[0], b.types[0], "commit", 0, (), policy_label(ir, assign))
            continue
        g.add_node(("chance", p), kind="chance", label="chance: types")
        g.add_edge("commit", ("chance", p), label=policy_label(ir, assign))
        for t, own in zip(b.t_index, b.types):
            types = ", ".join(f"{f.name}:{f.type_labels[x]}" for f, x in zip(model.followers, own))
            move(p, tb, t, own, ("chance", p), 0, (), f"{types} ({ir.prior[t]:.4g})")
    return g


def _decorate(ir: GameIR, tree: nx.DiGraph, policy: Optional[LeaderPolicy]) -> nx.DiGraph:
    """Labels that say who moves where, payoffs named, the policy's moves marked."""
    model = ir.model
    names = [model.objective_name] + [f.name for f in model.followers]
    for u, d in tree.nodes(data=True):
        if d["kind"] == "terminal":
            d["label"] = "\n".join(f"{n} {x:g}" for n, x in zip(names, d["payoffs"]))
        elif d["kind"] == "leader":
            d["label"] = "leader at " + d["label"].replace("] ", "]\n").replace("; ", "\n")
            d["group"] = ("leader", d["infoset"])
        elif d["kind"] == "follower":
            d["group"] = ("follower", *d["infoset"])
            if len(model.followers[d["player"]].type_labels) == 1:
                d["label"] = model.followers[d["player"]].name
        elif d["kind"] == "chance":
            d["label"] = "chance: types"
    if policy is None:
        return tree
    for u, v, e in tree.edges(data=True):
        d = tree.nodes[u]
        if d["kind"] != "leader":
            continue
        s = d["infoset"]
        if policy.probs is not None and ir.infosets[s].kind == "choose":
            w = policy.probs[s][e["action"]]
            chosen = w > 0
            if chosen:
                e["label"] = f"{e['label']} (p={w:.4g})"
        else:
            chosen = e["action"] == policy.actions[s]
        e["dot"] = {"penwidth": "2.5"} if chosen else {"color": "gray", "fontcolor": "gray", "style": "dotted"}
    return tree


def _fold(g: nx.DiGraph, root, levels: dict, cut: int, max_children: Optional[int]) -> nx.DiGraph:
    """The nodes within `cut` levels (at most `max_children` per parent); what is left
    out below a drawn node becomes one ``more`` node saying how many nodes it holds."""
    below = _below(g, root)
    out = nx.DiGraph()
    out.add_node(root, **g.nodes[root])
    frontier, seen = [root], {root}
    while frontier:
        nxt = []
        for u in frontier:
            kids = list(g.successors(u))
            if not kids:
                continue
            keep = [v for v in kids if levels[v] <= cut]  # in a tree: only when u is above the cut
            if max_children is not None:
                keep = keep[:max_children]
            for v in keep:
                if v not in seen:
                    seen.add(v)
                    out.add_node(v, **g.nodes[v])
                    nxt.append(v)
                out.add_edge(u, v, **g.edges[u, v])
            kept = set(keep)
            rest = [v for v in kids if v not in kept]
            if rest:
                count = sum(below.get(v, 1) for v in rest)
                what = f"{len(rest)} more moves" if keep else f"{len(rest)} moves"
                size = f", {count:,} nodes" if below else ""
                out.add_node(("more", u), kind="more", label=f"+ {what}{size}", dot={"style": "dashed"})
                out.add_edge(u, ("more", u), label="...", dot={"style": "dashed"})
        frontier = nxt
    return out


def _below(g: nx.DiGraph, root) -> dict:
    """Nodes in each subtree (itself included) when `g` is a tree; {} otherwise."""
    if not nx.is_arborescence(g):
        return {}
    size: dict = {}
    for u in reversed(list(nx.topological_sort(g))):
        size[u] = 1 + sum(size[v] for v in g.successors(u))
    return size


def _commit(g: nx.DiGraph, root, ir: GameIR, policy: Optional[LeaderPolicy]) -> None:
    """The leader's commitment, drawn before anything else happens."""
    if policy is None:
        sets = f"{ir.n_infosets} information set" + ("s" if ir.n_infosets != 1 else "")
        label = f"leader commits to a policy\n(an action at each of {sets})"
    else:
        label = f"leader commits to the policy\n{policy.source or 'given'}"
    g.add_node("commit", kind="commit", label=label)
    g.add_edge("commit", root, label="then types, moves", dot={"style": "bold"})


def _infoset_links(g: nx.DiGraph) -> list[tuple]:
    """Dashed links between the drawn nodes of one information set (same player, same
    knowledge), each set's nodes chained in drawing order."""
    groups: dict = defaultdict(list)
    for u, d in g.nodes(data=True):
        if "group" in d:
            groups[d["group"]].append(u)
    links = []
    for members in groups.values():
        for a, b in zip(members, members[1:]):
            links.append((a, b, LINK))
    return links
