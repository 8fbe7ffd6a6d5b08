"""The report `train` and `eval` print: every seed's greedy map re-evaluated exactly, the
exact optimum when the spec is small enough, the gap, the followers' regret, and the
learned mechanism in words."""
from __future__ import annotations

from typing import Any, Optional

from mechdsl.compiler.errors import MechError

CERT_SAMPLES = 20_000  # sampled mode: type profiles the reported certificate is estimated on

def seed_from_checkpoint(ir, meta: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """An interrupted seed: the best greedy map its learners showed (by their rank: low
    regret first, then value), else the greedy map of the leading agent."""
    from mechdsl.config import TrainConfig
    from mechdsl.greedy import greedy_policy

    cfg = TrainConfig().updated(meta["config"])
    lead = max(part["learners"], key=lambda x: tuple(x["best_key"]))
    if lead.get("best_map") is not None:
        pol = {k: v[0] for k, v in lead["best_map"].items() if v is not None}
    else:
        pol = greedy_policy(ir, cfg, lead["agent"])
    return {"seed": part["seed"], "policy": pol, "steps": part["steps"], "seconds": part["elapsed"],
            "curve": part["curve"], "stopped": "interrupted"}


def exact_optimum(ir, limit: int, ties: Optional[str] = None, model: Optional[str] = None,
                  seconds: Optional[float] = None) -> tuple[Optional[float], str]:
    """The exact optimum (same follower model, same tie reading) when the spec is small
    enough to solve within `limit` policies and `seconds` (None: the default budget, 0:
    none) -- a report must not wait on its reference for longer than that."""
    n = int(limit)
    if n <= 0:
        return None, "not solved (--solve-limit 0)"
    from mechdsl.options import REFERENCE_SECONDS
    from mechdsl.solve import solve

    try:
        sol = solve(ir, follower_model=model, limit=n, ties=ties, branch=False,
                    seconds=REFERENCE_SECONDS if seconds is None else seconds)
    except MechError as e:
        return None, "not solved: " + str(getattr(e, "message", e)).split("\n")[0]
    if sol.value is None:
        return None, "not solved: " + (sol.note or "no solution")
    kind = "exact optimum" if sol.exact else ("supremum" if sol.supremum else "solver value")
    return float(sol.value), kind


def build_report(ir, runs: list[dict[str, Any]], config_dict: dict[str, Any], spec: str, sets: dict[str, str],
                 solve_limit: int, seconds: float, solve_seconds: Optional[float] = None) -> dict[str, Any]:
    """Every seed's greedy map re-evaluated exactly, with its certificate.  The headline
    is the best *certified* seed (highest value, then lowest regret); when none is
    certified, the seed with the lowest regret, and a warning says so -- a high-regret
    value is never the headline."""
    from mechdsl.evaluate import single_thread

    with single_thread():
        return _build_report(ir, runs, config_dict, spec, sets, solve_limit, seconds, solve_seconds)


def _build_report(ir, runs, config_dict, spec, sets, solve_limit, seconds, solve_seconds) -> dict[str, Any]:
    from mechdsl.certificate import certify
    from mechdsl.config import TrainConfig
    from mechdsl.dynamics import MWConfig
    from mechdsl.evaluate import Tables
    from mechdsl.greedy import policy_map
    from mechdsl.pomdp import StackelbergPOMDP

    from mechdsl.memory import exact_fits

    cfg = TrainConfig().updated(config_dict)
    mw = MWConfig.from_ir(ir, cfg.ties, model=cfg.follower_model)
    if cfg.equilibrium is not None:
        mw.rounds = int(cfg.equilibrium)
    exact = exact_fits(ir, budget=cfg.memory_budget)  # exact wherever it fits, whatever mode trained
    lo, hi = ir.objective_bounds
    span = (hi - lo) if hi > lo else 1.0
    if exact:
        tb = Tables(ir)
        pomdp = StackelbergPOMDP(ir, mw=mw, reward_rounds=cfg.reward)
        optimum, opt_kind = exact_optimum(ir, solve_limit, mw.ties, mw.model, solve_seconds)
    else:
        optimum, opt_kind = None, "not solved: the exact payoff tensors exceed the memory budget"
    per_seed, certs, worth = [], {}, {}
    for r in runs:
        if exact:
            cert = certify(ir, policy_map(r["policy"]), mw.ties, mw=mw, tb=tb, tol=cfg.tol)
        else:
            from mechdsl.estimate import certify_sampled
            from mechdsl.sampled import SampledPOMDP

            sp = SampledPOMDP(ir, mw=mw, reward_rounds=cfg.reward, seed=r["seed"])
            cert, worth[r["seed"]] = certify_sampled(sp, policy_map(r["policy"]), cfg.tol,
                                                     max(cfg.check_samples, CERT_SAMPLES))
        certs[r["seed"]] = cert
        entry = {"seed": r["seed"], "value": cert.value, "max_regret": cert.max_regret,
                 "regret_fraction": cert.regret_fraction, "verdict": cert.verdict, "values": cert.values,
                 "steps": int(r["steps"]), "seconds": float(r["seconds"]), "stopped": r.get("stopped", ""),
                 "value_loss": _last_loss(r["curve"]),
                 "learned": (r.get("polish") or {}).get("learned"), "polish": dict(r.get("polish") or {})}
        if optimum is not None:
            entry["gap"] = optimum - cert.value
            first = next((row for row in r["curve"] if row["value"] >= optimum - cfg.tol * span), None)
            entry["steps_to_optimum"] = None if first is None else int(first["steps"])
            entry["seconds_to_optimum"] = None if first is None else float(first["seconds"])
        per_seed.append(entry)
    certified = [e for e in per_seed if e["verdict"] == "certified"]
    if certified:
        head = max(certified, key=lambda e: (e["value"], -e["regret_fraction"], -e["seed"]))
    else:
        head = min(per_seed, key=lambda e: (e["regret_fraction"], -e["value"], e["seed"]))
    run = next(r for r in runs if r["seed"] == head["seed"])
    cert = certs[head["seed"]]
    values = [e["value"] for e in per_seed]
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    report: dict[str, Any] = {
        "spec": spec, "name": ir.model.name, "sets": sets, "objective": ir.model.objective_name,
        "follower_model": mw.model, "ties": mw.ties, "algo": cfg.algo,
        "value": head["value"], "normalized": (head["value"] - lo) / span, "verdict": cert.verdict,
        "policy": _policy(ir, run["policy"]),
        "follower_strategies": cert.strategies, "regret": cert.regret, "max_regret": head["max_regret"],
        "mean": mean, "std": std,
        "optimum": optimum, "optimum_kind": opt_kind,
        "optimum_normalized": None if optimum is None else (optimum - lo) / span,
        "gap": None if optimum is None else optimum - head["value"],
        "gap_fraction": None if optimum is None else (optimum - head["value"]) / span,
        "best_seed": head["seed"],
        "steps": sum(x["steps"] for x in per_seed), "seconds": seconds, "seeds": len(per_seed),
        "tolerance": cfg.tol * span,
        "successes": None if optimum is None else sum(
            x["value"] >= optimum - cfg.tol * span and x["verdict"] == "certified" for x in per_seed),
        "certified_seeds": len(certified),
        "certificate": cert.model_dump(mode="json"),
        "warnings": _warnings(ir, per_seed, certified, head, optimum, cfg.tol * span, cfg),
        "per_seed": per_seed,
        "mechanism": describe_learned(ir, run["policy"], pomdp.exact(policy_map(run["policy"])) if exact
                                      else worth[head["seed"]], cert.regret, mw.model),
        "mode": "exact" if exact else "sampled",
    }
    return report


def _warnings(ir, per_seed, certified, head, optimum, tol, cfg) -> list[str]:
    """What a user must know before trusting the headline."""
    out = []
    if not certified:
        out.append(f"no seed's mechanism is certified: the headline is the seed with the lowest regret "
                   f"(seed {head['seed']}); see its certificate")
    budget = [e["seed"] for e in per_seed if e["stopped"] == "budget"]
    if budget:
        out.append(f"seed{'s' if len(budget) > 1 else ''} {', '.join(map(str, budget))} used the whole budget "
                   f"({cfg.steps:,} steps) before converging: train longer (--steps) or check the curve")
    above = [e for e in per_seed if optimum is not None and e["value"] > optimum + tol]
    for e in above:
        out.append(f"seed {e['seed']}'s value {e['value']:.6g} is above the exact optimum {optimum:.6g}: "
                   f"its followers' regret is {e['max_regret']:.4g} ({e['verdict']})")
    if not cfg.episode_map or cfg.response_prob < 1:
        out.append("trained on an ablation of the Stackelberg POMDP (" + ", ".join(
            ([] if cfg.episode_map else ["episode_map = false: every decision drawn afresh, no per-episode map"])
            + ([f"response_prob = {cfg.response_prob:g}: equilibrium-phase decisions enter the batch with that "
                "probability" + (" (the basic POMDP)" if cfg.response_prob == 0 else "")]
               if cfg.response_prob < 1 else [])) + ")")
    training = ir.model.training or {}
    if training:
        shown = ", ".join(f"{k} = {v}" for k, v in training.items())
        out.append(f"the spec's training block overrides the defaults: {shown}")
    return out


def _last_loss(curve: list[dict[str, Any]]) -> Optional[float]:
    """The critic's value loss at the last evaluation that has one (None: none has)."""
    for row in reversed(curve):
        v = row.get("value_loss")
        if isinstance(v, (int, float)) and v == v:
            return float(v)
    return None


METHODS = {"exact local search": "exact local search",
           "linear programs": "exact linear programs on the followers' responses",
           "pooled map": "the best map that ignores the followers' actions"}


def _polish_lines(per_seed: list[dict[str, Any]]) -> list[str]:
    """One line per seed whose map the step after training changed (mechdsl/polish.py and
    mechdsl/pooling.py for pure maps, mechdsl/refine.py for mixtures)."""
    out = []
    for e in per_seed:
        p = e.get("polish") or {}
        if p.get("steps"):
            method = p.get("method", "exact local search")
            how = ", then ".join(METHODS.get(m, m) for m in method.split(", then "))
            unit = "follower profiles" if method == "linear programs" else "maps"
            out.append(f"seed {e['seed']}: learned {p['learned']:.6g}, polished to {p['value']:.6g} by {how} "
                       f"({p['steps']} step{'s' if p['steps'] != 1 else ''}, {p['evaluated']:,} {unit} "
                       f"evaluated, {p.get('seconds', 0.0):.1f}s)")
    return out


def _policy(ir, policy: dict[str, Any]) -> list[dict[str, Any]]:
    """A saved greedy map (tensors) as the documented policy entries (docs/results.md)."""
    from mechdsl.solve.answer import policy_entries

    get = lambda k: None if policy.get(k) is None else policy[k].tolist()  # noqa: E731
    return policy_entries(ir, [int(a) for a in policy["action"].tolist()], get("probs"), get("prices"))


def report_result(report: dict[str, Any], command: str) -> dict[str, Any]:
    """The report as the documented JSON result of `train` or `eval` (docs/results.md)."""
    from mechdsl.results import finish

    return finish(report, command)


def report_json(report: dict[str, Any], command: str = "train") -> str:
    from mechdsl.results import dumps

    return dumps(report_result(report, command))


def report_text(report: dict[str, Any], exact: bool = False) -> str:
    from mechdsl.certificate import Certificate, render
    from mechdsl.results import number_text

    def _fmt(x: Optional[float]) -> str:
        return number_text(x, exact)

    n = report["seeds"]
    how = "estimated on samples" if report.get("mode") == "sampled" else "exact"
    lines = ["", report["mechanism"], ""]
    lines.append(f"{report['objective']} = {_fmt(report['value'])} ({how}; seed {report['best_seed']}, the best "
                 f"certified of {n} seed{'s' if n != 1 else ''}; normalized {report['normalized']:.4f})"
                 if report["certified_seeds"] else
                 f"{report['objective']} = {_fmt(report['value'])} ({how}; seed {report['best_seed']}: NOT CERTIFIED, "
                 f"no seed of {n} is)")
    lines += render(Certificate.model_validate(report["certificate"]))
    if n > 1:
        lines.append(f"over {n} seeds: {report['mean']:.6g} +- {report['std']:.3g} (mean +- std)")
    if report["optimum"] is not None:
        model = report.get("follower_model", "mw")
        how = f"ties read {report['ties']}" if model in ("mw", "swap", "qlearning") else f"{model} equilibrium"
        lines.append(f"optimum = {_fmt(report['optimum'])} ({report['optimum_kind']}, {model} followers, {how}); "
                     f"gap = {_fmt(report['gap'])} ({100 * report['gap_fraction']:.2f}% of the objective's range); "
                     f"{report['successes']}/{n} seeds certified within {number_text(report['tolerance'])}")
    else:
        lines.append(f"optimum: {report['optimum_kind']}")
    if n > 1:
        lines.append("")
        lines.append(f"{'seed':>6} {'value':>12} {'regret':>10} {'verdict':>14} {'steps':>14} {'seconds':>8}  stopped")
        for e in report["per_seed"]:
            lines.append(f"{e['seed']:>6} {e['value']:>12.6g} {e['max_regret']:>10.3g} {e['verdict']:>14} "
                         f"{e['steps']:>14,} {e['seconds']:>8.1f}  {e['stopped']}")
    lines += _polish_lines(report["per_seed"])
    for w in report["warnings"]:
        lines.append(f"warning: {w}")
    lines.append(f"{report['steps']:,} steps, {report['seconds']:.1f}s; run directory: {report.get('run_dir', '')}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# the learned mechanism in words
# ---------------------------------------------------------------------------


def describe_learned(ir, policy: dict[str, Any], ex, regret: dict[str, dict[str, float]], model: str = "mw") -> str:
    """The learned mechanism: `mechdsl.solve.describe` when it can show it, else a
    decision tree per observation class with the posted prices."""
    strategies = [s[0].tolist() for s in ex.strategies]
    if not ir.continuous:
        try:
            from mechdsl.solve import Solution, describe
            from mechdsl.solve.answer import reached_classes
            from mechdsl.evaluate import Tables

            sol = _solution(ir, policy, ex, strategies, regret, Solution, reached_classes(Tables(ir), strategies))
            sol.follower_model = model
            lines = describe(ir, sol).split("\n")
            lines = [ln for ln in lines[1:] if not ln.startswith("  this policy achieves")]
            return f"Learned mechanism ({ir.model.name}):\n" + "\n".join(lines).rstrip()
        except Exception:  # the solver's printer is optional; fall back to ours
            pass
    return _describe_tree(ir, policy, strategies)


def _solution(ir, policy, ex, strategies, reg, Solution, reached):
    import torch

    followers = ir.model.followers
    probs = policy.get("probs")
    return Solution(
        spec=ir.model.name, follower_model="mw", objective=ir.model.objective_name,
        value=float(ex.value[0]), policy_value=float(ex.value[0]), exact=False, policy=[],
        actions=[int(a) for a in policy["action"].tolist()],
        probs=None if probs is None else torch.as_tensor(probs).tolist(),
        follower_strategies={followers[i].name: {lab: followers[i].action_labels[strategies[i][t]]
                                                 for t, lab in enumerate(followers[i].type_labels)}
                             for i in ir.model.people},
        follower_profile=strategies, regret=reg,
        reached_classes=[ir.class_labels[c] for c in sorted(reached)],
        unreached_classes=[ir.class_labels[c] for c in range(len(ir.class_labels)) if c not in reached],
    )


def _describe_tree(ir, policy: dict[str, Any], strategies: list[list[int]]) -> str:
    action = [int(a) for a in policy["action"].tolist()]
    probs = policy.get("probs")
    prices = policy.get("prices")
    model = ir.model
    out = [f"Learned mechanism ({model.name}):", "", "Leader policy:"]

    def choice_text(s: int) -> str:
        if prices is not None and ir.choice_intervals and ir.infosets[s].kind == "choose":
            slot = {name: q for q, name in enumerate(ir.choice_intervals)}
            row = ir.choose_actions[action[s]]
            return ", ".join(f"{c.name} = {float(prices[s][slot[c.name]]):.4g}" if c.name in slot
                             else f"{c.name}={c.labels[row[q]]}" for q, c in enumerate(model.leader.choices))
        if probs is not None and ir.infosets[s].kind == "choose" and ir.mixed:
            row = probs[s].tolist()
            return "mix: " + ", ".join(f"{ir.action_labels[s][k]} {p:.4g}" for k, p in enumerate(row) if p > 1e-6)
        return ir.action_labels[s][action[s]]

    def round_text(s: int) -> str:
        k = action[s]
        if model.leader.rounds.bundle_prices and prices is None:  # a grid price per bundle: the IR's label
            return ir.action_labels[s][k]
        agent, pidx = ir.round_actions[k]
        text = f"visit {model.followers[agent].name}"
        stock = ir.infosets[s].stock
        shown = []
        for q, (name, slot) in enumerate(zip(ir.price_slot_names, ir.price_slots)):
            if stock and any(stock[j] == 0 for j in slot):
                continue
            p = float(prices[s][q]) if prices is not None else ir.price_grid[pidx[q]]
            shown.append(f"{name}={p:.4g}")
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
    from mechdsl.solve.render import chance_lines

    out += ["", "Followers (argmax of the MW weights):"]
    for i, f in enumerate(model.followers):
        if len(f.action_labels) == 1:
            continue
        out.append(f"  {f.name} ({f.action_name}): " + "; ".join(
            f"{f.type_labels[t]} -> {f.action_labels[strategies[i][t]]}" for t in range(len(f.type_labels))))
    return "\n".join(out + chance_lines(ir))
