"""A leader policy read from a file, for exports (`compile --policy FILE`): what
`mechdsl solve --json` prints, a training run directory, or its ``policy.pt``.  Files
are data: JSON is parsed, tensors are loaded with ``weights_only=True``; nothing in them
runs.  Every index is checked against the compiled game before it is used.

Accepted:
* a JSON object with ``actions`` (an action index per information set) and, for mixed
  choices, ``probs`` (a row of probabilities per information set) -- `solve --json`;
* a JSON object whose ``policy`` maps information-set labels to an action label or to
  {action label: probability} (sets it does not name take their first legal action:
  the policy never reaches them), or lists entries with ``infoset`` and ``action`` or
  ``distribution``; a JSON report naming its ``run_dir`` is followed there;
* a run directory (`mechdsl train --out DIR`) or its ``policy.pt``: the headline seed
  (``best_seed`` of summary.json), else the first seed.
"""
from __future__ import annotations

import difflib
import json
import math
from pathlib import Path
from typing import Any, Optional

from mechdsl.compiler.errors import MechUsageError
from mechdsl.compiler.ir import GameIR
from mechdsl.compiler.strategic import LeaderPolicy

HINT = "give the JSON of `mechdsl solve --json`, a run directory of `mechdsl train`, or its policy.pt"


def _bad(path, what: str, hint: str = HINT) -> MechUsageError:
    return MechUsageError(f"cannot use this as the leader's policy: {what}", path=str(path), hint=hint)


def read_policy(path: str, ir: GameIR) -> LeaderPolicy:
    """The leader policy in `path`, checked against `ir`."""
    p = Path(path)
    if p.is_dir() or p.suffix == ".pt":
        return _from_run(p, ir)
    try:
        data = json.loads(p.read_bytes())
    except json.JSONDecodeError as e:
        raise _bad(p, f"not JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except UnicodeDecodeError:
        raise _bad(p, "not a text file") from None
    if not isinstance(data, dict):
        raise _bad(p, "expected a JSON object")
    return from_json(data, ir, str(p))


def from_json(data: dict[str, Any], ir: GameIR, source: str) -> LeaderPolicy:
    """A policy from a parsed JSON object (see the module docstring for the forms)."""
    if "actions" in data and isinstance(data["actions"], list):
        return checked(ir, data["actions"], data.get("probs"), source)
    policy = data.get("policy")
    if isinstance(policy, dict) and policy:
        return _from_labels(ir, list(policy.items()), source)
    if isinstance(policy, list) and policy:
        items = []
        for entry in policy:
            if not isinstance(entry, dict) or "infoset" not in entry:
                raise _bad(source, "each entry of `policy` needs an `infoset` and an `action` or `distribution`")
            items.append((entry["infoset"], entry.get("distribution", entry.get("action"))))
        return _from_labels(ir, items, source)
    if isinstance(data.get("run_dir"), str):
        return _from_run(Path(data["run_dir"]), ir)
    raise _bad(source, "no `actions` list, `policy` map or `run_dir` in it")


def checked(ir: GameIR, actions, probs, source: str) -> LeaderPolicy:
    """Indices (and probabilities) of the right shape, legal, summing to 1."""
    S, K = ir.n_infosets, ir.n_actions
    hint = "the policy was written for another spec, or other --set values"
    if not isinstance(actions, list) or len(actions) != S:
        raise _bad(source, f"expected {S} actions (one per information set), got "
                   f"{len(actions) if isinstance(actions, list) else type(actions).__name__}", hint)
    out = []
    for s, k in enumerate(actions):
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < K or not ir.legal[s][k]:
            raise _bad(source, f"action {k!r} is not legal at information set {s} ({ir.infosets[s].label})", hint)
        out.append(k)
    rows = None
    if probs is not None and ir.mixed:
        if not isinstance(probs, list) or len(probs) != S:
            raise _bad(source, f"expected {S} rows of probabilities", hint)
        rows = []
        for s, row in enumerate(probs):
            ok = isinstance(row, list) and len(row) == K and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0 for x in row)
            if not ok or any(x > 0 and not ir.legal[s][k] for k, x in enumerate(row)):
                raise _bad(source, f"probabilities at information set {s} are not {K} legal, non-negative numbers",
                           hint)
            if ir.infosets[s].kind == "choose" and abs(sum(row) - 1) > 1e-6:
                raise _bad(source, f"probabilities at information set {s} sum to {sum(row):g}, not 1", hint)
            rows.append([float(x) for x in row])
    return LeaderPolicy(actions=out, probs=rows, source=source)


def _from_labels(ir: GameIR, items: list[tuple[Any, Any]], source: str) -> LeaderPolicy:
    """Information-set labels -> action labels or distributions, as `solve` prints them."""
    names: dict[str, int] = {}
    for s, info in enumerate(ir.infosets):
        label = info.label or f"#{s}"
        names.setdefault(label, s)
        names[f"{label} #{s}"] = s
    actions = [next(k for k, ok in enumerate(row) if ok) for row in ir.legal]
    probs = [[0.0] * ir.n_actions for _ in range(ir.n_infosets)] if ir.mixed else None
    for name, choice in items:
        s = name if isinstance(name, int) and 0 <= name < ir.n_infosets else names.get(str(name))
        if s is None:
            close = difflib.get_close_matches(str(name), list(names), n=1)
            raise _bad(source, f"no information set {name!r} in this game",
                       f"did you mean {close[0]!r}?" if close else "the policy was written for another spec")
        dist = choice if isinstance(choice, dict) else {choice: 1.0}
        for label, w in dist.items():
            k = _action(ir, s, label, source)
            if probs is not None:
                probs[s][k] = float(w)
        actions[s] = _action(ir, s, max(dist, key=lambda x: dist[x]), source)
    if probs is not None:
        for s, row in enumerate(probs):
            if not any(row):
                row[actions[s]] = 1.0
    return checked(ir, actions, probs, source)


def _action(ir: GameIR, s: int, label, source: str) -> int:
    labels = ir.action_labels[s]
    for k, (lab, ok) in enumerate(zip(labels, ir.legal[s])):
        if ok and lab == str(label):
            return k
    close = difflib.get_close_matches(str(label), [x for x, ok in zip(labels, ir.legal[s]) if ok], n=1)
    raise _bad(source, f"no action {label!r} at information set {ir.infosets[s].label!r}",
               f"did you mean {close[0]!r}?" if close else "the policy was written for another spec")


def _from_run(path: Path, ir: GameIR) -> LeaderPolicy:
    """The headline seed's greedy map from a run directory or its policy.pt."""
    from mechdsl.runs import RunDir, load_tensors

    run_dir = path if path.is_dir() else path.parent
    blob = load_tensors(path / "policy.pt" if path.is_dir() else path)
    if blob is None:
        raise _bad(path, "no policy.pt (the run has not finished a seed)", "train first, or use `mechdsl eval`")
    runs = blob.get("runs")
    if not isinstance(runs, list) or not runs or not all(isinstance(r, dict) and "policy" in r for r in runs):
        raise _bad(path, "not a mechdsl policy file (no `runs` with a `policy`)")
    if (run_dir / "ir.json").is_file():
        trained = RunDir(run_dir).read_ir()
        if trained.content_hash() != ir.content_hash():
            raise _bad(path, "the run was trained on another game",
                       f"compile the spec the run used ({run_dir / 'spec.mech'}) with the same --set values")
    seed = _best_seed(run_dir)
    run = next((r for r in runs if r.get("seed") == seed), runs[0])
    pol = run["policy"]
    if not isinstance(pol, dict) or "action" not in pol:
        raise _bad(path, "the seed's policy has no `action`")
    if pol.get("prices") is not None:
        raise _bad(path, "the policy posts prices from an interval: no finite game to export",
                   "use a price grid")
    probs = pol.get("probs")
    return checked(ir, _plain(pol["action"]), None if probs is None else _plain(probs),
                   f"{path} (seed {run.get('seed', 0)})")


def _plain(x):
    return x.tolist() if hasattr(x, "tolist") else x


def _best_seed(run_dir: Path) -> Optional[int]:
    try:
        summary = json.loads((run_dir / "summary.json").read_bytes())
    except (OSError, ValueError):
        return None
    seed = summary.get("best_seed") if isinstance(summary, dict) else None
    return seed if isinstance(seed, int) else None
