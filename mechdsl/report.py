"""The report `train` and `eval` print: every seed's greedy map re-evaluated exactly, the
exact optimum when the spec is small enough, the gap, the followers' regret, and the
learned mechanism in words."""
from __future__ import annotations

import json
from typing import Any, Optional

from compiler.errors import MechError, MechUsageError


def seed_from_checkpoint(ir, meta: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """An interrupted seed: its agent's greedy map at the checkpoint."""
    from mechdsl.config import TrainConfig
    from mechdsl.greedy import greedy_policy

    cfg = TrainConfig().updated(meta["config"])
    lead = max(part["learners"], key=lambda x: x["value"])
    pol = greedy_policy(ir, cfg, lead["agent"])
    return {"seed": part["seed"], "policy": pol, "steps": part["steps"], "seconds": part["elapsed"],
            "curve": part["curve"], "stopped": "interrupted"}


def exact_optimum(ir, limit: str) -> tuple[Optional[float], str]:
    """The exact optimum when the solver exists and the spec is small enough."""
    try:
        n = int(float(limit))
    except ValueError:
        raise MechUsageError(f"--solve-limit expects a number, got {limit!r}") from None
    if n <= 0:
        return None, "not solved (--solve-limit 0)"
    try:
        from mechdsl.solve import solve
    except ImportError:
        return None, "no exact solver installed"
    try:
        sol = solve(ir, limit=n)
    except MechError as e:
        return None, "not solved: " + str(getattr(e, "message", e)).split("\n")[0]
    if sol.value is None:
        return None, "not solved: " + (sol.note or "no solution")
    kind = "exact optimum" if sol.exact else ("supremum" if sol.supremum else "solver value")
    return float(sol.value), kind


def build_report(ir, runs: list[dict[str, Any]], config_dict: dict[str, Any], spec: str, sets: dict[str, str],
                 solve_limit: str, seconds: float, reevaluate: bool = False) -> dict[str, Any]:
    """Exact re-evaluation of every seed's greedy map; the best seed is the answer."""
    from mechdsl.pomdp import StackelbergPOMDP
    from mechdsl.config import TrainConfig
    from mechdsl.greedy import policy_map

    cfg = TrainConfig().updated(config_dict)
    from mechdsl.dynamics import MWConfig

    mw = MWConfig.from_ir(ir)
    if cfg.equilibrium is not None:
        mw.rounds = int(cfg.equilibrium)
    pomdp = StackelbergPOMDP(ir, mw=mw, reward_rounds=cfg.reward)
    lo, hi = ir.objective_bounds
    span = (hi - lo) if hi > lo else 1.0
    optimum, opt_kind = exact_optimum(ir, solve_limit)
    per_seed = []
    best = None
    for r in runs:
        ex = pomdp.exact(policy_map(r["policy"]))
        value, reg = float(ex.value[0]), float(ex.regret[0])
        entry = {"seed": r["seed"], "value": value, "regret": reg, "steps": int(r["steps"]),
                 "seconds": float(r["seconds"]), "stopped": r.get("stopped", "")}
        if optimum is not None:
            entry["gap"] = optimum - value
            first = next((row for row in r["curve"] if row["value"] >= optimum - cfg.tol * span), None)
            entry["steps_to_optimum"] = None if first is None else int(first["steps"])
            entry["seconds_to_optimum"] = None if first is None else float(first["seconds"])
        per_seed.append(entry)
        if best is None or (value, -reg) > (best[0]["value"], -best[0]["regret"]):
            best = (entry, r, ex)
    entry, r, ex = best
    report: dict[str, Any] = {
        "spec": spec, "sets": sets, "algo": cfg.algo, "objective": ir.model.objective_name,
        "value": entry["value"], "normalized": (entry["value"] - lo) / span,
        "optimum": optimum, "optimum_kind": opt_kind,
        "optimum_normalized": None if optimum is None else (optimum - lo) / span,
        "gap": None if optimum is None else optimum - entry["value"],
        "gap_fraction": None if optimum is None else (optimum - entry["value"]) / span,
        "regret": entry["regret"], "best_seed": entry["seed"],
        "steps": sum(x["steps"] for x in per_seed), "seconds": seconds, "seeds": len(per_seed),
        "tolerance": cfg.tol * span,
        "successes": None if optimum is None else sum(x["value"] >= optimum - cfg.tol * span for x in per_seed),
        "per_seed": per_seed,
        "mechanism": describe_learned(ir, r["policy"], ex),
    }
    return report


def _fmt(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{x:.6g}"


def report_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=1)


def report_text(report: dict[str, Any]) -> str:
    lines = ["", report["mechanism"], ""]
    v, opt = report["value"], report["optimum"]
    lines.append(f"{report['objective']} = {_fmt(v)} (exact, best of {report['seeds']} seed{'s' if report['seeds'] != 1 else ''}: "
                 f"seed {report['best_seed']}; normalized {report['normalized']:.4f})")
    if opt is not None:
        lines.append(f"optimum = {_fmt(opt)} ({report['optimum_kind']}); gap = {_fmt(report['gap'])} "
                     f"({100 * report['gap_fraction']:.2f}% of the objective's range); "
                     f"{report['successes']}/{report['seeds']} seeds within {_fmt(report['tolerance'])}")
    else:
        lines.append(f"optimum: {report['optimum_kind']}")
    lines.append(f"followers' regret = {_fmt(report['regret'])}")
    lines.append(f"{report['steps']:,} steps, {report['seconds']:.1f}s; run directory: {report.get('run_dir', '')}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# the learned mechanism in words
# ---------------------------------------------------------------------------


def describe_learned(ir, policy: dict[str, Any], ex) -> str:
    """The learned mechanism: `mechdsl.solve.describe` when it can show it, else a
    decision tree per observation class with the posted prices."""
    strategies = [s[0].tolist() for s in ex.strategies]
    if ir.interval is None:
        try:
            from mechdsl.solve import Solution, describe
            from mechdsl.solve.answer import reached_classes
            from mechdsl.evaluate import Tables

            sol = _solution(ir, policy, ex, strategies, Solution, reached_classes(Tables(ir), strategies))
            lines = describe(ir, sol).split("\n")
            lines = [ln for ln in lines[1:] if not ln.startswith("  this policy achieves")]
            return f"Learned mechanism ({ir.model.name}):\n" + "\n".join(lines).rstrip()
        except Exception:  # the solver's printer is optional; fall back to ours
            pass
    return _describe_tree(ir, policy, strategies)


def _solution(ir, policy, ex, strategies, Solution, reached):
    import torch

    followers = ir.model.followers
    reg = _regret_table(ir, policy)
    probs = policy.get("probs")
    return Solution(
        spec=ir.model.name, follower_model="mw", objective=ir.model.objective_name,
        value=float(ex.value[0]), policy_value=float(ex.value[0]), exact=False, policy={},
        actions=[int(a) for a in policy["action"].tolist()],
        probs=None if probs is None else torch.as_tensor(probs).tolist(),
        follower_strategies={f.name: {f.type_labels[t]: f.action_labels[strategies[i][t]] for t in range(len(f.type_labels))}
                             for i, f in enumerate(followers)},
        follower_profile=strategies, regret=reg,
        reached_classes=[ir.class_labels[c] for c in sorted(reached)],
        unreached_classes=[ir.class_labels[c] for c in range(len(ir.class_labels)) if c not in reached],
    )


def _regret_table(ir, policy) -> dict[str, dict[str, float]]:
    from mechdsl.dynamics import MWConfig, argmax_strategy, expected_mw, pure, regret
    from mechdsl.evaluate import Tables, evaluate
    from mechdsl.greedy import policy_map

    tb = Tables(ir)
    pay = evaluate(tb, policy_map(policy))
    strat = pure(argmax_strategy(expected_mw(tb, pay.U, MWConfig.from_ir(ir))), tb)
    reg = regret(tb, pay.U, strat)[0]
    return {f.name: {f.type_labels[t]: float(reg[i, t]) for t in range(len(f.type_labels))}
            for i, f in enumerate(ir.model.followers)}


def _describe_tree(ir, policy: dict[str, Any], strategies: list[list[int]]) -> str:
    action = [int(a) for a in policy["action"].tolist()]
    probs = policy.get("probs")
    prices = policy.get("prices")
    model = ir.model
    out = [f"Learned mechanism ({model.name}):", "", "Leader policy:"]

    def choice_text(s: int) -> str:
        if probs is not None and ir.infosets[s].kind == "choose" and ir.mixed:
            row = probs[s].tolist()
            return "mix: " + ", ".join(f"{ir.action_labels[s][k]} {p:.4g}" for k, p in enumerate(row) if p > 1e-6)
        return ir.action_labels[s][action[s]]

    def round_text(s: int) -> str:
        k = action[s]
        agent, pidx = ir.round_actions[k]
        text = f"visit {model.followers[agent].name}"
        stock = ir.infosets[s].stock
        shown = []
        for j, it in enumerate(model.items):
            if stock and stock[j] == 0:
                continue
            p = float(prices[s][j]) if prices is not None else ir.price_grid[pidx[j]]
            shown.append(f"{it.name}={p:.4g}")
        return text + (" at " + ", ".join(shown) if shown else "")

    def tree(s: int, indent: str) -> list[str]:
        info = ir.infosets[s]
        if info.kind == "choose":
            lines = [indent + choice_text(s)]
            for nxt in sorted({n for n in (ir.choose_next[s] if ir.choose_next else []) if n >= 0}):
                if probs is None and ir.choose_next[s][action[s]] != nxt:
                    continue
                lines += tree(nxt, indent + "    ")
            return lines
        lines = [indent + round_text(s)]
        agent = ir.round_actions[action[s]][0]
        seen: dict[int, list[int]] = {}
        for b, nxt in enumerate(ir.round_next[s][agent]):
            if nxt >= 0:
                seen.setdefault(nxt, []).append(b)
        for nxt, bs in seen.items():
            got = ["passes" if not any(ir.bundles[b]) else "buys " + ",".join(model.items[j].name for j, x in enumerate(ir.bundles[b]) if x) for b in bs]
            sub = tree(nxt, indent + "    ")
            lines.append(f"{indent}if {model.followers[agent].name} {' or '.join(got)}: {sub[0].strip()}")
            lines += sub[1:]
        return lines

    for c, label in enumerate(ir.class_labels):
        out.append(f"  [{label}]")
        out += tree(ir.root[c], "      ")
    out += ["", "Followers (argmax of the MW weights):"]
    for i, f in enumerate(model.followers):
        if len(f.action_labels) == 1:
            continue
        out.append(f"  {f.name} ({f.action_name}): " + "; ".join(
            f"{f.type_labels[t]} -> {f.action_labels[strategies[i][t]]}" for t in range(len(f.type_labels))))
    return "\n".join(out)
