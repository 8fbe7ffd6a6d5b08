"""Mixed commitments read ties as the MW followers' tie reading does
(mechdsl/solve/profile_lp.py): the value under each reading, "attained" exactly when the
reading attains it, the returned policy's reference value, and brute force over grids of
mixtures."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from mechdsl.compiler import load, loads
from mechdsl.compiler.build import build_ir
from mechdsl.dynamics import MWConfig, expected_mw
from mechdsl.evaluate import Policy, Tables, evaluate
from mechdsl.solve import solve
from mechdsl.solve.answer import check_policy
from mechdsl.solve.profile_lp import INTERIOR_STEP
from mechdsl.ties import READINGS, play, profile_values

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("one_thread")

# one follower, no types: rows = leader actions, columns = follower actions
IDENTICAL = ([[4, -10, 0], [8, -10, 2]], [[3, 3, 0], [0, 0, 3]])  # columns 0 and 1 identical for the follower
THREE_ROWS = ([[7, 5, -1], [9, 5, 2], [-2, 7, -1]], [[4, 4, 1], [0, 0, 10], [-8, -8, 3]])


def table_spec(L, F) -> str:
    """A `choose row ... mixed` spec.  L, F: [rows][cols] payoffs (one follower, no types),
    or [2][rows][cols] (a follower with two equally likely types)."""
    typed = isinstance(L[0][0], list)
    Ls, Fs = (L, F) if typed else ([L], [F])
    rows, cols = len(Ls[0]), len(Ls[0][0])
    cells = ",\n".join("    [" + ", ".join("(" + ", ".join(str(M[t][r][c]) for M in (Ls, Fs) for t in range(len(Ls))) + ")"
                                           for c in range(cols)) + "]" for r in range(rows))
    if typed:
        head = "    type value ~ uniform [0, 1]\n"
        util = "if value == 0 then game[row, col][2] else game[row, col][3]"
        obj = "if value == 0 then game[row, col][0] else game[row, col][1]"
    else:
        head, util, obj = "", "game[row, col][1]", "game[row, col][0]"
    return (f"agent follower {{\n{head}    action col in {{{', '.join(f'c{j}' for j in range(cols))}}}\n}}\n"
            f"leader {{\n    choose row in {{{', '.join(f'r{i}' for i in range(rows))}}} mixed\n}}\n"
            f"table game[row, col] = [\n{cells},\n]\n"
            # one follower: its weights are proportional to its payoffs after any number of rounds
            f"dynamics {{\n    equilibrium = 10\n}}\n"
            f"utility follower = {util}\nobjective = {obj}\n")


def compiled(game):
    return build_ir(loads(table_spec(*game)))


def grid_values(ir, points) -> dict[str, np.ndarray]:
    """The leader's value under each reading at each mixture (rows of `points`): the
    followers' MW weights read by `mechdsl.ties.play`, as the certificate does."""
    tb = Tables(ir)
    cfg = MWConfig.from_ir(ir)
    out = {r: [] for r in READINGS}
    for s in range(0, len(points), 4096):
        mix = torch.tensor(np.asarray(points[s:s + 4096]), dtype=torch.float64)
        probs = torch.zeros(len(mix), ir.n_infosets, ir.n_actions, dtype=torch.float64)
        probs[:, ir.root[0], :] = mix
        pay = evaluate(tb, Policy(action=torch.zeros(len(mix), ir.n_infosets, dtype=torch.long), probs=probs))
        logw = expected_mw(tb, pay.U, cfg)
        for r in READINGS:
            out[r].append(profile_values(tb, pay.V, play(tb, logw, pay.V, r)[0]).numpy())
    return {r: np.concatenate(v) for r, v in out.items()}


def checked(ir, ties: str):
    """The solution under `ties`, its mixture at the root, and the reference value of the
    returned policy (check_policy under the same reading)."""
    sol = solve(ir, ties=ties)
    ref, _, _ = check_policy(Tables(ir), MWConfig.from_ir(ir, ties), sol.actions, sol.probs, None)
    mix = sol.probs[ir.root[0]] if sol.probs is not None else [float(k == sol.actions[ir.root[0]]) for k in range(ir.n_actions)]
    assert sol.certificate.values[ties] == pytest.approx(ref, abs=1e-9)
    assert sol.policy_value == pytest.approx(ref, abs=1e-9)
    return sol, mix, ref


def assert_reported(ir, sol, ref, value: float, attained: bool):
    """`attained`: exact, not a supremum, the note says so and the policy earns `value`;
    otherwise a supremum whose interior policy earns less, by at most the interior step."""
    assert sol.value == pytest.approx(value, abs=1e-9)
    assert sol.exact is attained and sol.supremum is (not attained)
    assert ("attained" in sol.note) is attained and ("warning" not in sol.note)
    lo, hi = ir.objective_bounds
    if attained:
        assert ref == pytest.approx(value, abs=1e-9)
    else:
        assert value - INTERIOR_STEP * (hi - lo) - 1e-9 <= ref < value
        assert "supremum" in sol.note


@pytest.mark.parametrize("ties, value, mixture", [
    ("pessimistic", 2.0, [0.0, 1.0]),  # column 1 ties with column 0 everywhere and pays -10: only column 2 pays
    ("first", 6.0, [0.5, 0.5]),  # all three columns tie at (1/2, 1/2): column 0, 4 + 4 * 1/2
    ("favourable", 6.0, [0.5, 0.5]),
])
def test_identical_columns(ties, value, mixture):
    ir = compiled(IDENTICAL)
    sol, mix, ref = checked(ir, ties)
    assert_reported(ir, sol, ref, value, attained=True)
    assert mix == pytest.approx(mixture, abs=1e-9)
    grid = np.array([[1 - k / 1000, k / 1000] for k in range(1001)])
    assert grid_values(ir, grid)[ties].max() == pytest.approx(value, abs=1e-12)


def test_three_rows():
    """Columns 0 and 1 are identical for the follower (4 x0 - 8 x2); column 2 pays it
    x0 + 10 x1 + 3 x2.  first / favourable: column 0 while 3 x0 >= 10 x1 + 11 x2, best at
    (10/13, 3/13, 0) where all three tie: 7 + 2 * 3/13 = 97/13, attained.  pessimistic:
    column 0 or 1, whichever is worse for the leader (the worse of 7 x0 + 9 x1 - 2 x2 and
    5 + 2 x2); the best of that, 5 + 2 x2 with the two equal and column 2 tied, is at
    (134, 5, 32)/171: 919/171 -- where column 2 (worth -156/171) is the reading's choice,
    so only a supremum."""
    ir = compiled(THREE_ROWS)
    for ties in ("first", "favourable"):
        sol, mix, ref = checked(ir, ties)
        assert_reported(ir, sol, ref, 97 / 13, attained=True)
        assert mix == pytest.approx([10 / 13, 3 / 13, 0.0], abs=1e-9)
    sol, mix, ref = checked(ir, "pessimistic")
    assert_reported(ir, sol, ref, 919 / 171, attained=False)
    at = grid_values(ir, [[134 / 171, 5 / 171, 32 / 171], mix])["pessimistic"]
    assert at[0] == pytest.approx(-156 / 171, abs=1e-9) and at[1] == pytest.approx(ref, abs=1e-12)
    n = 171
    grid = [[a / n, b / n, (n - a - b) / n] for a in range(n + 1) for b in range(n + 1 - a)]
    vals = grid_values(ir, grid)
    assert vals["pessimistic"].max() < 919 / 171 and vals["pessimistic"].max() > 919 / 171 - 0.02
    assert vals["first"].max() <= 97 / 13 + 1e-12


def test_maintain_mixed():
    """Column A needs 15 pA >= 5 pB; the optimum pA = 1/4 leaves the follower indifferent
    between A and B.  B (index 1) is worth 7.5 to the leader: pessimistic only approaches
    27.5; first (A comes first) and favourable attain it at (1/4, 3/4)."""
    ir = build_ir(load(ROOT / "specs/paper/maintain_mixed.mech"))
    for ties in READINGS:
        sol, mix, ref = checked(ir, ties)
        assert_reported(ir, sol, ref, 27.5, attained=ties != "pessimistic")
        assert sol.follower_strategies["follower"]["none"] == "A"
        if ties != "pessimistic":
            assert mix == pytest.approx([0.25, 0.75, 0.0], abs=1e-12)
        else:
            assert 0.25 < mix[0] <= 0.25 + INTERIOR_STEP


def test_security_game():
    """At the optimum c = (21/44, 15/44, 2/11) the attacker is indifferent between all
    three targets, and t1, t2 (worth -125/44, -57/22 to the defender) come before t3:
    pessimistic and first only approach -23/11, favourable attains it."""
    ir = build_ir(load(ROOT / "specs/examples/security_game.mech"))
    for ties in READINGS:
        sol, mix, ref = checked(ir, ties)
        assert_reported(ir, sol, ref, -23 / 11, attained=ties == "favourable")
        assert sol.follower_strategies["attacker"]["none"] == "t3"
        if ties == "favourable":
            assert mix == pytest.approx([21 / 44, 15 / 44, 2 / 11], abs=1e-12)


def test_favourable_follower_model_unchanged():
    for game, value in ((IDENTICAL, 6.0), (THREE_ROWS, 97 / 13)):
        sol = solve(compiled(game), "favourable")
        assert sol.value == pytest.approx(value, abs=1e-9) and sol.exact and not sol.supremum
    sol = solve(build_ir(load(ROOT / "specs/paper/maintain_mixed.mech")), "favourable")
    assert sol.value == pytest.approx(27.5) and sol.exact and "leader-favourable" in sol.note


def _random_game(seed: int):
    """2 or 3 rows, 3 columns, small integers (ties are common); half the games give the
    follower two payoff-identical columns; seeds 2, 3 (mod 4) give it two types."""
    rng = np.random.default_rng(seed)
    rows, types = (2 if seed % 2 == 0 else 3), (2 if seed % 4 >= 2 else 1)
    L = rng.integers(-4, 5, size=(types, rows, 3))
    F = rng.integers(0, 4, size=(types, rows, 3))
    if rng.random() < 0.5:
        F[:, :, 1] = F[:, :, 0]
    return (L.tolist(), F.tolist()) if types == 2 else (L[0].tolist(), F[0].tolist())


def _simplex(k: int, n: int) -> np.ndarray:
    return np.array([[c / n for c in cs] + [1 - sum(cs) / n] for cs in itertools.product(range(n + 1), repeat=k - 1)
                     if sum(cs) <= n])


def _around(center: np.ndarray, h: float, m: int) -> np.ndarray:
    k = len(center)
    pts = [list(center[:k - 1] + np.array(d) * h) for d in itertools.product(range(-m, m + 1), repeat=k - 1)]
    pts = [p + [1 - sum(p)] for p in pts]
    return np.clip(np.array([p for p in pts if min(p) >= -1e-12]), 0.0, 1.0)


def test_random_games_against_a_grid():
    """For each game and reading: no mixture on a grid (coarse, then refined around its
    best point) beats the solver's value, the best comes within 0.01 of it, and the
    returned policy earns the value (attained) or is within the interior step (supremum)."""
    kinds = set()
    for seed in range(24):
        ir = compiled(_random_game(seed))
        k = ir.n_actions
        n = 400 if k == 2 else 60
        coarse = _simplex(k, n)
        vals = grid_values(ir, coarse)
        for ties in READINGS:
            sol, mix, ref = checked(ir, ties)
            fine = grid_values(ir, _around(coarse[int(np.argmax(vals[ties]))], 1 / (20 * n), 20))[ties]
            best = max(vals[ties].max(), fine.max())
            assert best <= sol.value + 1e-9, (seed, ties)
            assert best >= sol.value - 0.01, (seed, ties)
            assert_reported(ir, sol, ref, sol.value, attained=sol.exact)
            kinds.add("supremum" if not sol.exact else "pure" if max(mix) == 1.0 else "mixture attained")
    assert kinds == {"pure", "mixture attained", "supremum"}
