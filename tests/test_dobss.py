"""DOBSS (mechdsl/solve/dobss.py): one MILP for a Bayesian follower under the favourable
model agrees with the enumeration of follower profiles, and solves 10 follower types
(59,049 profiles, past the enumeration's limit) with a consistent certificate."""
from __future__ import annotations

import random
import re

import numpy as np
import pytest

from mechdsl.compiler import loads
from mechdsl.compiler.errors import MechSizeError
from mechdsl.compiler.build import build_ir
from mechdsl.dynamics import MWConfig
from mechdsl.evaluate import Tables, single_thread
from mechdsl.solve.dobss import dobss_reason
from mechdsl.solve.mixed import solve_mixed
from mechdsl.solve.profile_search import MAX_PROFILES
from mechdsl.solve.profiles import profile_count
from mechdsl.solve.solver import solve
from mechdsl.solve.space import build_space
from tests.specgen import _bayesian


def _both(ir):
    """(DOBSS solution, enumeration solution) of a mixed spec under the favourable model."""
    with single_thread():
        tb = Tables(ir)
        cfg = MWConfig.from_ir(ir)
        space = build_space(ir, tb, 10_000)
        return (solve_mixed(space, cfg, "favourable", 10_000, method="dobss"),
                solve_mixed(space, cfg, "favourable", 10_000, method="profiles"))


def _mixed_bayesian(seed: int) -> str:
    _, body = _bayesian(random.Random(seed))
    return re.sub(r"(choose row in \{[^}]*\})", r"\1 mixed", body)


# the first 30 seeds, and those where the big-M form made HiGHS fail or return a non-optimum
@pytest.mark.parametrize("seed", list(range(30)) + [114, 389])
def test_dobss_equals_enumeration_on_random_bayesian_games(seed):
    ir = build_ir(loads(_mixed_bayesian(seed)))
    assert ir.mixed and ir.n_followers == 1
    d, e = _both(ir)
    assert "DOBSS" in d.note and "DOBSS" not in e.note
    assert d.value == pytest.approx(e.value, abs=1e-7)
    assert max(max(r.values()) for r in d.regret.values()) <= 1e-7


def _observed(seed: int) -> str:
    """The leader sees the follower's message (3 observation classes), then mixes."""
    rng = random.Random(seed)
    m = lambda: "[" + ", ".join("[" + ", ".join(str(rng.randint(0, 9)) for _ in range(3)) + "]" for _ in range(3)) + "]"
    return f"""
agent follower {{
    type kind ~ uniform [0, 1, 2]
    action msg in {{m0, m1, m2}}
}}

leader {{
    observe msg
    choose row in {{r0, r1}} mixed
}}

table f0[msg, kind] = {m()}
table f1[msg, kind] = {m()}
table l0[msg, kind] = {m()}
table l1[msg, kind] = {m()}

utility follower = if row == r0 then f0[msg, kind] else f1[msg, kind]
objective = if row == r0 then l0[msg, kind] else l1[msg, kind]
"""


@pytest.mark.parametrize("seed", list(range(10)) + [37, 104, 168, 197, 290, 338])
def test_dobss_equals_enumeration_with_several_classes(seed):
    ir = build_ir(loads(_observed(seed)))
    assert len(ir.class_labels) == 3
    d, e = _both(ir)
    assert "DOBSS" in d.note
    assert d.value == pytest.approx(e.value, abs=1e-7)


def test_security_example_value():
    ir = build_ir(loads(open("specs/examples/bayesian_security.mech").read()))
    sol = solve(ir, follower_model="favourable")
    assert "DOBSS" in sol.note
    assert sol.value == pytest.approx(-0.5, abs=1e-9)


# 2 targets, 10 attacker kinds: gain / loss per (target, kind) when uncovered / covered
GAIN = [[5, 1, 3, 6, 2, 4, 7, 2, 5, 3], [2, 4, 3, 1, 6, 2, 2, 5, 1, 4]]
LOSS = [[-2, -1, -3, -1, -2, -4, -1, -2, -3, -1], [-1, -3, -2, -2, -1, -1, -3, -1, -2, -2]]
CAUGHT, LOST = [3, 1], [-5, -2]


def _ten_kinds(K: int = 10) -> str:
    rows = lambda M: "[" + ", ".join("[" + ", ".join(str(v) for v in r[:K]) + "]" for r in M) + "]"
    return f"""
agent attacker {{
    type kind ~ uniform [{", ".join(str(k) for k in range(K))}]
    action attack in {{t1, t2, t3}}       # t3: worthless to both (staying home)
}}

leader {{
    choose cover in {{t1, t2, t3}} mixed
}}

table gain[attack, kind] = {rows(GAIN + [[0] * K])}
table loss[attack, kind] = {rows(LOSS + [[0] * K])}
table caught[attack] = [{CAUGHT[0]}, {CAUGHT[1]}, 0]
table lost[attack] = [{LOST[0]}, {LOST[1]}, 0]

utility attacker = if cover == attack then loss[attack, kind] else gain[attack, kind]
objective = if cover == attack then caught[attack] else lost[attack]
"""


def _grid_value(K: int, steps: int) -> float:
    """Brute force over c = P(cover t1), 1 - c on t2 (covering the worthless t3 only lowers
    the other coverages), on a grid: each kind best-responds, ties broken for the defender."""
    c = np.linspace(0.0, 1.0, steps + 1)[:, None]  # [G, 1]
    cov = [c, 1 - c]
    total = np.zeros(len(c))
    for k in range(K):
        att = np.concatenate([cov[j] * LOSS[j][k] + (1 - cov[j]) * GAIN[j][k] for j in range(2)]
                             + [np.zeros_like(c)], axis=1)  # [G, 3]
        dfd = np.concatenate([cov[j] * CAUGHT[j] + (1 - cov[j]) * LOST[j] for j in range(2)]
                             + [np.zeros_like(c)], axis=1)
        best_resp = att >= att.max(1, keepdims=True) - 1e-12
        total += np.where(best_resp, dfd, -np.inf).max(1) / K
    return float(total.max())


def test_ten_follower_types_past_the_enumeration_limit():
    ir = build_ir(loads(_ten_kinds()))
    assert profile_count(ir) == 3**10 > MAX_PROFILES
    sol = solve(ir, follower_model="favourable")
    assert "DOBSS" in sol.note
    cert = sol.certificate
    assert cert is not None and cert.verdict in ("certified", "consistent"), cert
    assert max(max(r.values()) for r in sol.regret.values()) <= 1e-7
    grid = _grid_value(10, 200_000)
    assert grid <= sol.value + 1e-9
    assert sol.value - grid <= 1e-3


TWO_FOLLOWERS = """
agent a {
    action x in {l, r}
}

agent b {
    action y in {l, r}
}

leader {
    choose c in {l, r} mixed
}

utility a = if c == x then 1 else 0
utility b = if c == y then 0 else 2
objective = if x == y then 1 else 0
"""


def test_two_followers_fall_back_to_the_profile_lps():
    ir = build_ir(loads(TWO_FOLLOWERS))
    with single_thread():
        space = build_space(ir, Tables(ir), 10_000)
    reason = dobss_reason(space)
    assert reason is not None and "2 followers" in reason
    with pytest.raises(MechSizeError, match="DOBSS does not apply"):
        solve_mixed(space, MWConfig.from_ir(ir), "favourable", 10_000, method="dobss")
    sol = solve(ir, follower_model="favourable")
    assert "DOBSS" not in sol.note and "one linear program per follower profile" in sol.note
    assert sol.value is not None


def test_size_error_says_why_the_milp_was_not_used():
    """Two followers with 5 types and 3 actions each: 3^5 * 3^5 = 59,049 profiles, past
    the enumeration's limit; DOBSS needs one follower, and the size error says so."""
    spec = TWO_FOLLOWERS.replace("action x in {l, r}", "type s ~ uniform [0, 1, 2, 3, 4]\n    action x in {l, r, m}")
    spec = spec.replace("action y in {l, r}", "type t ~ uniform [0, 1, 2, 3, 4]\n    action y in {l, r, m}")
    spec = spec.replace("choose c in {l, r} mixed", "choose c in {l, r, m} mixed")
    ir = build_ir(loads(spec))
    assert profile_count(ir) == 3 ** 10 > MAX_PROFILES
    with pytest.raises(MechSizeError) as err:
        solve(ir, follower_model="favourable")
    assert "DOBSS" in err.value.hint and "2 followers" in err.value.hint
