"""Pictures of the game: the collapsed graph of leader information sets, and Graphviz DOT
text for it or for a full `game_tree`."""
from __future__ import annotations

import networkx as nx

from mechdsl.compiler.ir import GameIR


def collapsed_graph(ir: GameIR) -> nx.DiGraph:
    """Leader information sets as nodes (ids = IR ids, label = info-set label), plus
    ``"start"`` (the followers' move; edges labelled by observation class) and
    ``"end"``; edges are `choose_next` / `round_next` transitions labelled by the choice
    or by the visited agent's response.  Parallel transitions share one edge whose
    ``labels`` lists them all.  The view shown when the full tree is too large."""
    model = ir.model
    g = nx.DiGraph()
    g.add_node("start", kind="chance", label="followers act")
    for info in ir.infosets:
        g.add_node(info.id, kind="leader", stage=info.kind, infoset=info.id, label=info.label)
    g.add_node("end", kind="terminal", label="end")

    def link(u, v, label: str) -> None:
        v = "end" if v == -1 else v
        if g.has_edge(u, v):
            g.edges[u, v]["labels"].append(label)
        else:
            g.add_edge(u, v, labels=[label])

    for c, s in enumerate(ir.root):
        link("start", s, ir.class_labels[c])
    for info in ir.infosets:
        s = info.id
        if info.kind == "choose":
            for k, ok in enumerate(ir.legal[s]):
                if ok:
                    link(s, ir.choose_next[s][k] if ir.choose_next[s] else -1, ir.action_labels[s][k])
            continue
        for i, row in enumerate(ir.round_next[s]):
            if info.visited[i]:
                continue
            for b, nxt in enumerate(row):
                bundle = ir.bundles[b]
                if any(x > st for x, st in zip(bundle, info.stock)):
                    continue
                got = ", ".join(it.name for it, x in zip(model.items, bundle) if x) or "nothing"
                link(s, nxt, f"{model.followers[i].name} takes {got}")
    for _, _, data in g.edges(data=True):
        data["label"] = "; ".join(data["labels"])
    return g


def collapsed_size(ir: GameIR) -> tuple[int, int]:
    """(nodes, edges) of `collapsed_graph`, counted without building it."""
    edges = len(set(ir.root))
    for info in ir.infosets:
        s = info.id
        if info.kind == "choose":
            targets = {ir.choose_next[s][k] if ir.choose_next[s] else -1 for k, ok in enumerate(ir.legal[s]) if ok}
        else:
            targets = {
                nxt
                for i, row in enumerate(ir.round_next[s]) if not info.visited[i]
                for b, nxt in enumerate(row) if all(x <= st for x, st in zip(ir.bundles[b], info.stock))
            }
        edges += len(targets)
    return ir.n_infosets + 2, edges


_SHAPES = {
    "commit": "doubleoctagon", "chance": "diamond", "follower": "box", "leader": "box", "response": "ellipse",
    "terminal": "plaintext", "more": "note",
}


def _quote(text) -> str:
    s = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "")
    return f'"{s}"'


def _attrs(extra: dict) -> str:
    return "".join(f", {k}={_quote(v)}" for k, v in extra.items())


def to_dot(graph: nx.DiGraph, name: str = "mechdsl", graph_attrs: dict | None = None) -> str:
    """Graphviz DOT text for a tree or collapsed graph (one line per node and edge).
    A node's or edge's ``dot`` attribute (a dict) adds Graphviz attributes to its line.

    >>> g = nx.DiGraph(); g.add_node(0, kind="leader", label='say "hi"')
    >>> print(to_dot(g))
    digraph "mechdsl" {
      n0 [label="say \\"hi\\"", shape=box];
    }
    """
    ids = {node: f"n{k}" for k, node in enumerate(graph.nodes)}
    lines = [f"digraph {_quote(name)} {{"]
    if graph_attrs:
        lines.append(f"  graph [{', '.join(f'{k}={_quote(v)}' for k, v in graph_attrs.items())}];")
    for node, data in graph.nodes(data=True):
        shape = _SHAPES.get(data.get("kind"), "box")
        style = ", style=rounded" if data.get("kind") == "follower" else ""
        extra = _attrs(data.get("dot", {}))
        lines.append(f"  {ids[node]} [label={_quote(data.get('label', node))}, shape={shape}{style}{extra}];")
    for u, v, data in graph.edges(data=True):
        label = data.get("label", "")
        if "prob" in data:
            label = f"{label} ({data['prob']:.4g})"
        lines.append(f"  {ids[u]} -> {ids[v]} [label={_quote(label)}{_attrs(data.get('dot', {}))}];")
    for u, v, extra in graph.graph.get("links", []):  # undirected marks (information sets), outside the tree
        lines.append(f"  {ids[u]} -> {ids[v]} [{_attrs(extra)[2:]}];")
    lines.append("}")
    return "\n".join(lines)
