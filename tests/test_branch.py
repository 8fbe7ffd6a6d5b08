"""Branch and bound over observation classes (mechdsl/solve/branch.py) and the symmetries
it uses (mechdsl/solve/symmetry.py): the same value as plain enumeration wherever that
runs, symmetries found exactly where the game has them, and a proven bound when the
budget runs out.  The benchmark beside it is bench/branch.py."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from mechdsl import compiler
from mechdsl.cli import main
from mechdsl.compiler.build import build_ir
from mechdsl.dynamics import MWConfig
from mechdsl.evaluate import Tables, single_thread
from mechdsl.options import load_ir
from mechdsl.solve import branch as branch_module
from mechdsl.solve import solve
from mechdsl.solve.batch_mw import BatchMW
from mechdsl.solve.branch import branch_mw
from mechdsl.solve.mw_search import search_mw
from mechdsl.solve.space import build_space
from mechdsl.solve.symmetry import generators, group, values
from tests.specgen import generate_seeded
from tests.test_results import valid

GRID = "specs/paper/spm_grid.mech"
FIRST_BEST_3 = 13 / 18  # E[max(v1, v2)], values uniform on {0, 1/2, 1}


def space_of(spec: str, sets=(), ties=None):
    if spec.startswith("gen:"):
        _, family, seed = spec.split(":")
        ir = build_ir(compiler.loads(generate_seeded(family, int(seed)), f"{family}-{seed}.mech"))
    else:
        ir = load_ir(spec, tuple(sets))
    tb = Tables(ir)
    return build_space(ir, tb, 10**6), MWConfig.from_ir(ir, ties)


# every policy run through MW (prune=False) where that is affordable, else the pruned enumeration
CASES = [
    ("specs/paper/allocation.mech", ("messages=2",), None, False),
    ("specs/paper/allocation.mech", ("messages=3",), None, False),
    ("specs/examples/correlated.mech", (), None, False),
    ("specs/examples/correlated.mech", (), "first", False),
    ("gen:allocation:1", (), None, False),
    ("gen:spm_messages:3", (), None, False),
    ("gen:direct_fee:1", (), None, False),
    ("specs/examples/auction_revenue.mech", (), None, True),
    ("specs/examples/auction_revenue.mech", (), "first", True),
    ("specs/paper/spm_messages.mech", ("messages=2",), None, True),
    (GRID, ("types=3", "messages=2"), None, True),
]


@pytest.mark.parametrize("spec, sets, ties, prune", CASES)
def test_branch_and_bound_matches_enumeration(spec, sets, ties, prune):
    with single_thread():
        space, cfg = space_of(spec, sets, ties)
        _, want, _, _ = search_mw(space, cfg, 10**6, prune=prune)
        for symmetric in (True, False):
            res = branch_mw(space, cfg, 10**7, symmetric=symmetric)
            assert res.proven and res.value == pytest.approx(want, abs=1e-9), (symmetric, res)
            assert res.bound == pytest.approx(res.value, abs=1e-9)
            assert res.root_bound >= want - 1e-9
            assert float(values(space, BatchMW(space.tb, cfg), cfg, np.asarray([res.idx]))[0]) == \
                pytest.approx(want, abs=1e-9)


def test_node_bound_without_the_profile_table(monkeypatch):
    """The bound per type profile (used when the profile table would be too large)."""
    monkeypatch.setattr(branch_module, "PROFILE_CELLS", 0)
    with single_thread():
        space, cfg = space_of("specs/examples/auction_revenue.mech")
        res = branch_mw(space, cfg, 10**7)
    assert res.proven and res.value == pytest.approx(5 / 3)


def test_symmetries_of_a_symmetric_spec():
    """spm_grid: each bidder's messages are cheap talk and the bidders are alike: the
    relabellings generate a group of 2 x 2 x 2 = 8 (7 without the identity); every image
    of a policy is worth the same under MW."""
    with single_thread():
        space, cfg = space_of(GRID, ("types=3", "messages=2"))
        gens = generators(space, cfg)
        assert [g.name for g in gens] == ["bidder1: actions 0 <-> 1", "bidder2: actions 0 <-> 1",
                                          "swap bidder1 and bidder2"]
        elems = group(gens)
        assert len(elems) == 7
        swap = gens[0]
        assert swap.cls == (2, 3, 0, 1)  # bidder1's message 0 <-> 1: class (m1, m2) -> (1 - m1, m2)
        rng = np.random.default_rng(1)
        idx = (rng.random((5, 4)) * np.asarray(space.counts)).astype(np.int64)
        mw = BatchMW(space.tb, cfg)
        base = values(space, mw, cfg, idx)
        for g in elems:
            assert np.allclose(values(space, mw, cfg, g.apply(idx)).numpy(), base.numpy(), atol=1e-9)
        # three messages: S3 x S3 x swap = 72 elements
        space3, cfg3 = space_of(GRID, ("types=3", "messages=3"))
        assert len(group(generators(space3, cfg3))) == 71


def test_no_symmetries_where_actions_or_agents_differ():
    """A follower whose actions pay differently (matrix_design), agents with different
    type laws (spm_messages: message relabelling only), and `first` ties, which prefer
    low action indices (agent swaps only)."""
    with single_thread():
        assert generators(*space_of("specs/paper/matrix_design.mech")) == []
        names = [g.name for g in generators(*space_of("specs/paper/spm_messages.mech", ("messages=2",)))]
        assert names == ["bidder1: actions 0 <-> 1", "bidder2: actions 0 <-> 1"]
        names = [g.name for g in generators(*space_of(GRID, ("types=3", "messages=2"), "first"))]
        assert names == ["swap bidder1 and bidder2"]


def test_budget_gives_a_proven_bound():
    """spm_grid (5 values, 2 messages; optimum 0.69, first best 0.7) stopped by a budget of
    500: the best verified value and an upper bound that the true optimum respects; the
    same numbers every run."""
    with single_thread():
        space, cfg = space_of(GRID)
        runs = [branch_mw(space, cfg, 500) for _ in range(2)]
    res = runs[0]
    assert runs[0] == runs[1]
    assert not res.proven
    assert res.value <= 0.69 + 1e-9 <= res.bound + 1e-9 <= res.root_bound + 2e-9
    assert res.root_bound == pytest.approx(0.7)


def test_solve_takes_branch_and_bound_past_the_limit():
    """Within --limit, `solve` enumerates as before; past it, branch and bound, same value;
    a budget too small to close the search gives a bounded answer, and its JSON says so."""
    ir = load_ir(GRID, ("types=3", "messages=2"))
    plain = solve(ir)
    assert plain.nodes_explored == 0 and plain.exact and plain.gap == 0 and plain.bound == plain.value
    assert plain.value == pytest.approx(FIRST_BEST_3)
    bb = solve(ir, limit=10_000)
    assert bb.nodes_explored > 0 and bb.exact and bb.gap == 0
    assert bb.value == pytest.approx(FIRST_BEST_3)
    res = CliRunner().invoke(main, ["solve", GRID, "--limit", "500", "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = valid(json.loads(res.output))
    assert not out["exact"] and out["bound"] == pytest.approx(0.7) and out["gap"] > 0
    assert out["gap"] == pytest.approx(out["bound"] - out["value"])
    text = CliRunner().invoke(main, ["solve", GRID, "--limit", "500"], catch_exceptions=False).output
    assert "not proven optimal" in text and "the optimum is at most 0.7" in text


def test_spm_grid_three_messages_is_solved():
    """spm_grid with 3 values and 3 messages: 2.1e10 policies.  An ascent from a
    favourable start reaches the first best, which the root bound certifies at once."""
    ir = load_ir(GRID, ("types=3", "messages=3"))
    sol = solve(ir)
    assert sol.exact and sol.gap == 0 and sol.value == pytest.approx(FIRST_BEST_3)
    assert sol.policies_total == 14**9 and sol.symmetries == 71
    assert sol.certificate.verdict == "certified"


@pytest.mark.parametrize("spec, sets, want, seconds", [
    ("specs/paper/spm_messages.mech", ("messages=3",), 1.1, "3"),  # 3.2e11 policies: the first best
    (GRID, (), 0.69, "15"),  # 3.1e6 policies, 0.69 < the first best 0.7 under pessimistic ties
])
def test_paper_specs_past_the_limit(spec, sets, want, seconds):
    """docs/solutions.md's rows: solved and proven at the default limit (about `seconds`
    on the loaded two-core machine)."""
    sol = solve(load_ir(spec, sets))
    assert sol.exact and sol.gap == 0 and sol.value == pytest.approx(want)
    assert sol.nodes_explored > 0


# ---- the wall-clock budget (mechdsl/solve/budget.py) ----------------------------------------


def test_time_budget_stops_building_with_a_located_size_error():
    from mechdsl.compiler.errors import MechSizeError

    ir = load_ir(GRID, ("types=3", "messages=3"))
    with pytest.raises(MechSizeError) as info:
        solve(ir, seconds=1e-9)
    assert "time budget of 1e-09 s" in info.value.message and "sub-policies" in info.value.message
    assert info.value.span is not None  # at the leader's choice, like every size error of solve


def test_time_budget_ends_branch_and_bound_with_its_bound(monkeypatch):
    """Past the budget, branch and bound answers as when --limit runs out: the best found,
    a bound at least as high, and a note naming the budget."""
    from mechdsl.solve import budget

    ir = load_ir(GRID, ("types=3", "messages=3"))
    monkeypatch.setattr(budget, "check", lambda stage: None)  # the space is built in any case
    monkeypatch.setattr(budget, "expired", lambda: True)  # then the budget is spent at once
    sol = solve(ir, seconds=7.0)
    assert not sol.exact and sol.bound >= sol.value and sol.gap >= 0
    assert "time budget of 7 s" in sol.note
    assert sol.certificate is not None


def test_report_reference_solve_honours_its_budget():
    from mechdsl.report import exact_optimum

    ir = load_ir(GRID, ("types=3", "messages=3"))
    value, kind = exact_optimum(ir, 10**6, seconds=1e-9)
    assert value is None and "time budget" in kind
    value, kind = exact_optimum(load_ir("specs/paper/spm_messages.mech", ()), 10**6)  # the default budget
    assert value == pytest.approx(1.1) and kind == "exact optimum"


def test_cli_time_budget_options():
    r = CliRunner().invoke(main, ["solve", GRID, "--set", "types=3", "--set", "messages=3", "--seconds", "1e-9"])
    assert r.exit_code == 2 and "time budget" in r.output and "^" in r.output
    for cmd in ("train", "eval", "sweep"):
        assert "--solve-seconds" in CliRunner().invoke(main, [cmd, "--help"]).output


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "abc"])
def test_time_budget_option_refuses_what_is_no_budget(value):
    r = CliRunner().invoke(main, ["solve", GRID, "--seconds", value])
    assert r.exit_code == 2 and "Invalid value for '--seconds'" in r.output
