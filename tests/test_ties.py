"""Tie readings (mechdsl.ties) and the certificate: no optimum hinges on the order in
which a spec lists actions, and the readings are exactly what brute force gives."""
from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
import torch

from mechdsl.compiler import loads
from mechdsl.compiler.build import build_ir
from mechdsl.compiler.parse import parse
from mechdsl.compiler.spec import ActionDecl, AgentDecl, AgentsDecl
from mechdsl.compiler.transform import to_spec
from mechdsl.certificate import certify
from mechdsl.dynamics import MWConfig, expected_mw
from mechdsl.evaluate import Policy, Tables, evaluate
from mechdsl.solve import solve
from mechdsl.ties import play, profile_values, tie_masks

ROOT = Path(__file__).resolve().parent.parent
# every shipped spec that `solve` finishes quickly with its default limit and whose
# followers have actions.  (security_game indexes a table by its labelled actions: the
# rows follow the list's order, so reordering the list is another game, not a
# permutation of this one.)
SOLVABLE = ["paper/allocation", "paper/escape", "paper/maintain", "paper/maintain_mixed", "paper/matrix_design",
            "paper/spm_messages", "examples/auction_revenue", "examples/correlated"]


def permuted(text: str, path: str, rng: random.Random) -> str:
    """The spec with every follower's action list rewritten as an explicit list in a
    random (non-identity where possible) order."""
    spec = to_spec(parse(text, path), path)
    model = loads(text, path)
    labels = {f.action_name: (f.action_labels, f.action_values) for f in model.followers}
    lines = text.split("\n")
    edits = []
    for st in spec.statements:
        if isinstance(st, (AgentDecl, AgentsDecl)):
            for d in st.body:
                if isinstance(d, ActionDecl):
                    labs, vals = labels[d.name.name]
                    order = list(range(len(labs)))
                    while len(order) > 1 and order == sorted(order):
                        rng.shuffle(order)
                    if all(v is not None for v in vals):
                        new = "[" + ", ".join(f"{vals[k]!r}" for k in order) + "]"
                    else:
                        new = "{" + ", ".join(labs[k] for k in order) + "}"
                    sp = d.domain.span
                    assert sp.line == sp.end_line
                    edits.append((sp.line, sp.column, sp.end_column, new))
    for line, c0, c1, new in sorted(edits, reverse=True):
        row = lines[line - 1]
        lines[line - 1] = row[: c0 - 1] + new + row[c1 - 1:]
    return "\n".join(lines)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("name", SOLVABLE)
def test_permuting_actions_leaves_the_value_unchanged(name):
    path = ROOT / "specs" / f"{name}.mech"
    text = path.read_text()
    variant = permuted(text, str(path), random.Random(name))
    assert variant != text
    a, b = build_ir(loads(text, str(path))), build_ir(loads(variant, str(path)))
    for ties in ("pessimistic", "favourable"):
        va, vb = solve(a, ties=ties).value, solve(b, ties=ties).value
        assert va == pytest.approx(vb, abs=1e-9), (ties, va, vb)


def _brute(tb, logw, V):
    masks = tie_masks(logw)
    choices = [[a for a in range(m.shape[2]) if m[0, t, a]] for m in masks for t in range(m.shape[1])]
    vals = []
    for combo in itertools.product(*choices):
        strat, k = [], 0
        for m in masks:
            strat.append(torch.tensor([combo[k:k + m.shape[1]]]))
            k += m.shape[1]
        vals.append(float(profile_values(tb, V, strat)[0]))
    return min(vals), max(vals)


@pytest.mark.parametrize("spec,sets", [("paper/spm_messages", {}), ("examples/auction_revenue", {}),
                                       ("examples/correlated", {}), ("paper/allocation", {"messages": "2"})])
def test_joint_readings_equal_brute_force(spec, sets):
    """Random policies, all at once (the batched path), against enumerating every joint
    choice of tied actions one policy at a time."""
    from mechdsl.compiler import load

    ir = build_ir(load(str(ROOT / "specs" / f"{spec}.mech"), sets))
    tb = Tables(ir)
    g = torch.Generator().manual_seed(0)
    legal = [[k for k, ok in enumerate(r) if ok] for r in ir.legal]
    acts = torch.tensor([[row[int(torch.randint(0, len(row), (1,), generator=g))] for row in legal] for _ in range(24)])
    pay = evaluate(tb, Policy(action=acts))
    logw = expected_mw(tb, pay.U, MWConfig.from_ir(ir))
    pess, exact_p = play(tb, logw, pay.V, "pessimistic")
    fav, exact_f = play(tb, logw, pay.V, "favourable")
    vp, vf = profile_values(tb, pay.V, pess), profile_values(tb, pay.V, fav)
    assert bool(exact_p.all()) and bool(exact_f.all())
    for b in range(acts.shape[0]):
        lo, hi = _brute(tb, [w[b:b + 1] for w in logw], pay.V[b:b + 1])
        assert float(vp[b]) == pytest.approx(lo, abs=1e-12) and float(vf[b]) == pytest.approx(hi, abs=1e-12)


def test_certificate_on_a_tie_sensitive_policy():
    """The correlated spec's first-best policy relies on low agents (indifferent) saying
    0: its certificate shows the readings disagree and refuses to certify it."""
    from mechdsl.compiler import load

    ir = build_ir(load(str(ROOT / "specs" / "examples" / "correlated.mech")))
    sol = solve(ir, ties="first")
    assert sol.value == pytest.approx(1.0)
    pol = Policy(action=torch.tensor([sol.actions]))
    cert = certify(ir, pol, "first")
    assert cert.values["first"] == pytest.approx(1.0) and cert.values["favourable"] == pytest.approx(1.0)
    assert cert.values["pessimistic"] < 1.0 - 0.01
    assert cert.verdict == "not certified" and any("ties" in w for w in cert.warnings)
    assert cert.max_regret == pytest.approx(0.0, abs=1e-9)
    robust = certify(ir, Policy(action=torch.tensor([solve(ir).actions])), "pessimistic")
    assert robust.verdict == "certified" and robust.value == pytest.approx(0.6)


SECOND_PRICE = '''"""Second-price auction with a reserve the leader picks; bids are actions."""
agents bidder[2] {
    type value ~ uniform [1, 2, 3]
    action bid in BIDS
}
leader {
    choose reserve in [1, 2, 3]
}
utility = if self.bid >= reserve and sum(j in agents: if j != self and j.bid >= self.bid then 1 else 0) == 0 then value - max(reserve, sum(j in agents: if j != self then j.bid else 0)) else 0
objective = sum(i in agents: if i.bid >= reserve and sum(j in agents: if j != i and j.bid >= i.bid then 1 else 0) == 0 then max(reserve, sum(j in agents: if j != i then j.bid else 0)) else 0)
'''


def test_bid_order_matters_only_to_the_first_reading():
    """Bids carry values, so their order is not a relabelling: read `first`, listing the
    bids [1, 2, 3] or [3, 2, 1] gives different optima (a value-0 bidder's tie goes to
    the lowest or the highest bid); pessimistic and favourable readings do not care."""
    up = build_ir(loads(SECOND_PRICE.replace("BIDS", "[1, 2, 3]"), "up.mech"))
    down = build_ir(loads(SECOND_PRICE.replace("BIDS", "[3, 2, 1]"), "down.mech"))
    assert solve(up, ties="first").value != pytest.approx(solve(down, ties="first").value)
    for ties, value in (("pessimistic", 8 / 9), ("favourable", 4 / 3)):
        assert solve(up, ties=ties).value == pytest.approx(value)
        assert solve(down, ties=ties).value == pytest.approx(value)


def test_ties_from_the_dynamics_block_and_the_command_line():
    """`dynamics { ties = first }` sets the reading; `solve(ties=...)` / `--ties` override it."""
    text = (ROOT / "specs" / "examples" / "correlated.mech").read_text()
    ir = build_ir(loads(text + "\ndynamics { ties = first }\n", "c.mech"))
    assert ir.model.dynamics.ties == "first" and MWConfig.from_ir(ir).ties == "first"
    assert solve(ir).value == pytest.approx(1.0) and solve(ir).ties == "first"
    assert solve(ir, ties="pessimistic").value == pytest.approx(0.6)
