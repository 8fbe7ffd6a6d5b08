"""Exports: Gambit's .nfg/.efg (read back by our own parser, and by pygambit when it is
installed), leader policies read from files, and the DOT picture's structure."""
from __future__ import annotations

import itertools
import json
import re
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from mechdsl.cli import main
from mechdsl.compiler.build import build_ir
from mechdsl.compiler.errors import MechSizeError, MechUsageError
from mechdsl.compiler.gambit import export, num
from mechdsl.compiler.picture import AUTO_NODES, draw
from mechdsl.compiler.strategic import LeaderPolicy, count_policies, pure_policies
from mechdsl.evaluate import Policy, Tables, evaluate
from mechdsl.options import load_ir
from mechdsl.policy_file import read_policy
from tests.handmade import MAINTAIN, alloc_model, spm_model, table_model

ROOT = Path(__file__).resolve().parent.parent
SPM = str(ROOT / "specs/paper/spm_messages.mech")
MAINTAIN_SPEC = str(ROOT / "specs/paper/maintain.mech")
CORRELATED = str(ROOT / "specs/examples/correlated.mech")


def run(*args: str):
    return CliRunner().invoke(main, list(args))


# ---------------------------------------------------------------------------
# our own readers of the two formats (strict: any other line fails)
# ---------------------------------------------------------------------------

TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}]|[^\s{},]+')


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def read_nfg(text: str):
    """(players, strategy labels, {profile: payoffs}) of an NFG 1 R payoff-version file."""
    tok = tokens(text)
    assert tok[:3] == ["NFG", "1", "R"]
    i = 4
    assert tok[i] == "{"
    players = []
    i += 1
    while tok[i] != "}":
        players.append(tok[i].strip('"'))
        i += 1
    i += 1
    assert tok[i] == "{"
    i += 1
    strategies = []
    while tok[i] == "{":
        i += 1
        row = []
        while tok[i] != "}":
            row.append(tok[i].strip('"'))
            i += 1
        strategies.append(row)
        i += 1
    assert tok[i] == "}"
    i += 2  # the closing brace and the comment
    numbers = [Fraction(x) for x in tok[i:]]
    n = len(players)
    profiles = [p[::-1] for p in itertools.product(*[range(len(s)) for s in reversed(strategies)])]
    assert len(numbers) == n * len(profiles)
    pay = {p: numbers[k * n:(k + 1) * n] for k, p in enumerate(profiles)}
    return players, strategies, pay


def read_efg(text: str) -> dict:
    """Counts of node kinds, chance probabilities, information sets per player, and the
    terminal payoffs in depth-first order."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert lines[0].startswith('EFG 2 R "')
    out = {"c": [], "p": [], "t": []}
    for ln in lines[2:]:
        tok = tokens(ln)
        kind = tok[0]
        if kind == "c":
            body = tok[tok.index("{") + 1:tok.index("}")]
            out["c"].append([Fraction(x) for x in body[1::2]])
        elif kind == "p":
            out["p"].append((int(tok[2]), int(tok[3]), tok[4].strip('"'), len(tok[tok.index("{") + 1:tok.index("}")])))
        elif kind == "t":
            body = tok[tok.index("{") + 1:tok.index("}")]
            out["t"].append((tok[3].strip('"'), [Fraction(x) for x in body]))
        else:
            raise AssertionError(f"unexpected EFG line {ln!r}")
    return out


def exact_ev(ir, actions, probs=None):
    """(V[t][a], U[i][t][a]) from the batched evaluator: an independent implementation."""
    pol = Policy(action=torch.tensor([actions]),
                 probs=torch.tensor([probs], dtype=torch.float64) if probs is not None else None)
    pay = evaluate(Tables(ir), pol)
    return pay.V[0].tolist(), pay.U[0].tolist()


def ex_ante(ir, V, U, maps):
    """Expected (objective, utilities) when follower i plays maps[i][own type]."""
    out = [0.0] * (ir.n_followers + 1)
    for t, prof in enumerate(itertools.product(*[range(c) for c in ir.type_counts])):
        a = 0
        for i, c in enumerate(ir.action_counts):
            a = a * c + maps[i][prof[i]]
        out[0] += ir.prior[t] * V[t][a]
        for i in range(ir.n_followers):
            out[i + 1] += ir.prior[t] * U[i][t][a]
    return out


# ---------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------


def test_numbers_are_exact_fractions_or_plain_decimals() -> None:
    assert num(17 / 9) == "17/9"
    assert num(0.1 + 0.2) == "3/10"  # float noise cleaned
    assert num(-4.440892098500626e-16) == "0"
    assert num(30.0) == "30"
    pi = num(3.141592653589793)
    assert "/" not in pi and "e" not in pi.lower() and Fraction(pi) == Fraction("3.141592653589793")
    assert num(1e20) == "100000000000000000000"
    assert num(1e-7) == "0.0000001"


# ---------------------------------------------------------------------------
# the Stackelberg game (no policy)
# ---------------------------------------------------------------------------


def test_stackelberg_nfg_of_maintain_is_the_payoff_table() -> None:
    ir = build_ir(table_model(MAINTAIN))
    players, strategies, pay = read_nfg(export(ir, "nfg"))
    assert players == ["leader", "follower"]
    assert strategies == [["row=A", "row=B", "row=C"], ["A", "B", "C"]]
    for r, c in itertools.product(range(3), range(3)):
        assert pay[(r, c)] == [Fraction(x) for x in MAINTAIN[r][c]]


def test_stackelberg_efg_commits_first_and_followers_see_the_commitment() -> None:
    ir = build_ir(table_model(MAINTAIN))
    efg = read_efg(export(ir, "efg"))
    assert efg["p"][0] == (1, 1, "commitment", 3)  # the leader moves first, once
    followers = [p for p in efg["p"] if p[0] == 2]
    assert [p[1] for p in followers] == [1, 2, 3]  # one information set per commitment
    assert [pay for _, pay in efg["t"]] == [[Fraction(x) for x in MAINTAIN[r][c]] for r in range(3) for c in range(3)]


def test_stackelberg_nfg_with_types_matches_the_batched_evaluator() -> None:
    ir = build_ir(alloc_model(2))  # one buyer, 3 types, 2 messages; the leader gives an item per message
    assigns = pure_policies(ir)
    assert len(assigns) == count_policies(ir) == 9
    players, strategies, pay = read_nfg(export(ir, "nfg"))
    assert len(strategies[0]) == 9 and len(strategies[1]) == 2 ** 3
    maps = list(itertools.product(range(2), repeat=3))
    for p, assign in enumerate(assigns):
        actions = [assign.get(s, 0) for s in range(ir.n_infosets)]
        V, U = exact_ev(ir, actions)
        for j, m in enumerate(maps):
            want = ex_ante(ir, V, U, [m])
            assert [float(x) for x in pay[(p, j)]] == pytest.approx(want, abs=1e-9)


def test_too_many_policies_is_a_size_error_at_the_leader() -> None:
    res = run("compile", SPM, "--format", "efg")
    assert res.exit_code == 2
    assert f"{SPM}:27:5: error: too many leader pure policies" in res.output
    assert "1,048,576" in res.output and "--policy" in res.output
    with pytest.raises(MechSizeError):
        pure_policies(load_ir(SPM, ()), limit=100)


# ---------------------------------------------------------------------------
# the followers' induced game (with a policy)
# ---------------------------------------------------------------------------


def solved(tmp_path: Path, spec: str, follower_model: str = "mw") -> Path:
    res = run("solve", spec, "--json", "--follower-model", follower_model)
    assert res.exit_code == 0, res.output
    path = tmp_path / f"{Path(spec).stem}-{follower_model}.json"
    path.write_text(res.output[res.output.index("{"):])
    return path


def test_induced_nfg_matches_the_batched_evaluator(tmp_path: Path) -> None:
    sol = solved(tmp_path, SPM)
    ir = load_ir(SPM, ())
    data = json.loads(sol.read_text())
    res = run("compile", SPM, "--format", "nfg", "--policy", str(sol), "-o", str(tmp_path / "f.nfg"))
    assert res.exit_code == 0, res.output
    players, strategies, pay = read_nfg((tmp_path / "f.nfg").read_text())
    assert players == ["bidder1", "bidder2"] and [len(s) for s in strategies] == [4, 4]
    V, U = exact_ev(ir, data["actions"])
    maps = list(itertools.product(range(2), repeat=2))
    for j1, j2 in itertools.product(range(4), range(4)):
        want = ex_ante(ir, V, U, [maps[j1], maps[j2]])[1:]
        assert [float(x) for x in pay[(j1, j2)]] == pytest.approx(want, abs=1e-12)


def test_induced_efg_has_the_prior_and_one_information_set_per_type(tmp_path: Path) -> None:
    sol = solved(tmp_path, SPM)
    ir = load_ir(SPM, ())
    res = run("compile", SPM, "--format", "efg", "--policy", str(sol))
    assert res.exit_code == 0, res.output
    efg = read_efg(res.output)
    (probs,) = efg["c"]
    assert sum(probs) == 1 and probs == [Fraction(2, 5), Fraction(2, 5), Fraction(1, 10), Fraction(1, 10)]
    infosets = {(p[0], p[1]): p[2] for p in efg["p"]}
    assert sorted(infosets) == [(1, 1), (1, 2), (2, 1), (2, 2)]  # two types each
    assert infosets[(1, 1)] == "bidder1 [value=0.5]"
    assert len(efg["t"]) == 4 * 4
    # the leader's objective rides in the outcome labels and matches the evaluator
    V, _ = exact_ev(ir, json.loads(sol.read_text())["actions"])
    labels = [Fraction(label.split(" = ")[1]) for label, _ in efg["t"]]
    assert [float(x) for x in labels] == pytest.approx([V[t][a] for t in range(4) for a in range(4)], abs=1e-12)


def test_mixed_policy_averages_the_leader(tmp_path: Path) -> None:
    ir = build_ir(table_model(MAINTAIN, mixed=True))
    probs = [[0.5, 0.5, 0.0] + [0.0] * (ir.n_actions - 3)]
    _, _, pay = read_nfg(export(ir, "nfg", LeaderPolicy(actions=[0], probs=probs)))
    assert pay[(0,)] == [Fraction(15, 2)] and pay[(1,)] == [Fraction(5, 2)] and pay[(2,)] == [Fraction(0)]


def test_policy_as_labels_and_bad_policies(tmp_path: Path) -> None:
    ir = load_ir(MAINTAIN_SPEC, ())
    good = tmp_path / "labels.json"
    good.write_text(json.dumps({"policy": {ir.infosets[0].label: "row=B"}}))
    assert read_policy(str(good), ir).actions == [1]
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps({"policy": [{"infoset": ir.infosets[0].label, "action": "row=C"}]}))
    assert read_policy(str(listed), ir).actions == [2]
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"policy": {ir.infosets[0].label: "rowB"}}))
    with pytest.raises(MechUsageError, match="did you mean 'row=B'"):
        read_policy(str(typo), ir)
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"actions": [0, 1]}))
    res = run("compile", MAINTAIN_SPEC, "--format", "nfg", "--policy", str(short))
    assert res.exit_code == 2 and "expected 1 actions" in res.output and "Traceback" not in res.output
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x80not json")
    res = run("compile", MAINTAIN_SPEC, "--format", "efg", "--policy", str(garbage))
    assert res.exit_code == 2 and "cannot use this as the leader" in res.output and f"{garbage}:" in res.output
    res = run("compile", MAINTAIN_SPEC, "--policy", str(good))
    assert res.exit_code == 2 and "--policy applies to" in res.output
    res = run("compile", MAINTAIN_SPEC, "--format", "nfg", "--depth", "2")
    assert res.exit_code == 2 and "--depth applies to" in res.output


def test_policy_from_a_run_directory(tmp_path: Path) -> None:
    ir = load_ir(MAINTAIN_SPEC, ())
    run_dir = tmp_path / "run-001"
    run_dir.mkdir()
    (run_dir / "ir.json").write_text(ir.to_json())
    runs = [{"seed": s, "policy": {"action": torch.tensor([s])}} for s in range(3)]
    torch.save({"runs": runs}, run_dir / "policy.pt")
    (run_dir / "summary.json").write_text(json.dumps({"best_seed": 2}))
    assert read_policy(str(run_dir), ir).actions == [2]  # the headline seed
    assert read_policy(str(run_dir / "policy.pt"), ir).actions == [2]
    (run_dir / "summary.json").unlink()
    assert read_policy(str(run_dir), ir).actions == [0]
    other = load_ir(str(ROOT / "specs/paper/escape.mech"), ())
    with pytest.raises(MechUsageError, match="trained on another game"):
        read_policy(str(run_dir), other)
    (run_dir / "policy.pt").write_bytes(b"PK not a zip")
    with pytest.raises(MechUsageError, match="cannot read"):
        read_policy(str(run_dir), ir)


def test_a_strategic_form_past_the_limit_is_a_size_error(tmp_path: Path) -> None:
    """200 messages and 3 types: 200^3 strategies x 3 type profiles, past 2,000,000 cells."""
    spec = str(ROOT / "specs/paper/allocation.mech")
    ir = load_ir(spec, ("messages=200",))
    zeros = tmp_path / "zeros.json"
    zeros.write_text(json.dumps({"actions": [0] * ir.n_infosets}))
    res = run("compile", spec, "--set", "messages=200", "--format", "nfg", "--policy", str(zeros))
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "too large to export" in res.output and "24,000,000" in res.output
    assert re.search(rf"{re.escape(spec)}:13:\d+: error", res.output)  # at the agent
    res = run("compile", spec, "--set", "messages=200", "--format", "efg", "--policy", str(zeros))
    assert res.exit_code == 0 and res.stdout.count("\nt ") == 3 * 200  # the tree stays small


def test_interval_prices_are_refused() -> None:
    spec = str(ROOT / "specs/paper/spm_messages_interval.mech")
    res = run("compile", spec, "--format", "nfg")
    assert res.exit_code == 2 and "interval" in res.output and "price grid" in res.output


# ---------------------------------------------------------------------------
# pygambit reads the files back (optional extra `gambit`)
# ---------------------------------------------------------------------------


def gambit():
    return pytest.importorskip("pygambit", reason="pygambit is not installed (pip install 'mechdsl[gambit]'); it is not in "
                               "the test extra because pygambit 16 has no Linux wheel and builds from C++ "
                               "source for over 10 minutes")


def payoff(eq, player: str) -> Fraction:
    """An equilibrium's payoff to `player` (pygambit 16: .payoff(p); 17: .payoffs[p])."""
    value = eq.payoffs[player] if hasattr(eq, "payoffs") else eq.payoff(player)
    return Fraction(str(value))


def arrays(game) -> list:
    return [a.tolist() for a in game.to_arrays()]


def cells(game) -> list[tuple[Fraction, ...]]:
    """Every strategy profile's payoff vector, as a sorted list (order-free comparison)."""
    tables = game.to_arrays()
    profiles = itertools.product(*map(range, tables[0].shape))
    return sorted(tuple(Fraction(str(t[idx])) for t in tables) for idx in profiles)


def pure_equilibria(pay: dict) -> list[tuple]:
    """Pure Nash equilibria of a table read by `read_nfg`, by brute force."""
    n = len(next(iter(pay.values())))
    sizes = [1 + max(p[i] for p in pay) for i in range(n)]
    out = []
    for prof, v in pay.items():
        if all(pay[prof[:i] + (d,) + prof[i + 1:]][i] <= v[i] for i in range(n) for d in range(sizes[i])):
            out.append(prof)
    return out


def test_pygambit_reads_the_nfg_back_with_our_payoffs(tmp_path: Path) -> None:
    gbt = gambit()
    sol = solved(tmp_path, SPM)
    for args, name in [((MAINTAIN_SPEC, "--format", "nfg"), "stackelberg.nfg"),
                       ((SPM, "--format", "nfg", "--policy", str(sol)), "induced.nfg"),
                       ((CORRELATED, "--format", "nfg"), "correlated.nfg")]:
        path = tmp_path / name
        assert run("compile", *args, "-o", str(path)).exit_code == 0
        _, strategies, pay = read_nfg(path.read_text())
        tables = arrays(gbt.read_nfg(str(path)))
        assert len(tables) == len(strategies)
        assert list(tables[0] if len(strategies) == 1 else [len(tables[0])]) and len(pay) == len(
            list(itertools.product(*map(range, map(len, strategies)))))
        for prof, v in pay.items():
            cell = tables
            got = []
            for t in tables:
                x = t
                for k in prof:
                    x = x[k]
                got.append(Fraction(str(x)))
            assert got == v, (name, prof)


def test_pygambit_efg_is_the_nfg_in_extensive_form(tmp_path: Path) -> None:
    """Gambit's strategic form of our .efg has the same payoff cells and the same pure
    equilibria as our .nfg, for induced games."""
    gbt = gambit()
    sol = solved(tmp_path, SPM)
    for args in [(SPM, "--policy", str(sol)), (CORRELATED, "--policy", str(solved(tmp_path, CORRELATED)))]:
        nfg, efg = tmp_path / "g.nfg", tmp_path / "g.efg"
        assert run("compile", *args, "--format", "nfg", "-o", str(nfg)).exit_code == 0
        assert run("compile", *args, "--format", "efg", "-o", str(efg)).exit_code == 0
        g_n, g_e = gbt.read_nfg(str(nfg)), gbt.read_efg(str(efg))
        assert cells(g_n) == cells(g_e)
        n_pure = len(pure_equilibria(read_nfg(nfg.read_text())[2]))
        assert len(gbt.nash.enumpure_solve(g_n).equilibria) == n_pure > 0


def test_pygambit_stackelberg_efg_commits_first(tmp_path: Path) -> None:
    """In Gambit's strategic form of the commitment tree the follower answers each
    commitment (3 x 3 x 3 = 27 strategies); committing to row A and answering A is an
    equilibrium worth 20 to the leader (the paper's Stackelberg value of Maintain)."""
    gbt = gambit()
    path = tmp_path / "maintain.efg"
    assert run("compile", MAINTAIN_SPEC, "--format", "efg", "-o", str(path)).exit_code == 0
    game = gbt.read_efg(str(path))
    assert [t.shape for t in game.to_arrays()] == [(3, 27), (3, 27)]
    values = {payoff(eq, "leader") for eq in gbt.nash.enumpure_solve(game).equilibria}
    assert max(values) == 20


def test_pygambit_finds_the_followers_equilibrium_the_solver_reports(tmp_path: Path) -> None:
    """The leader-favourable pure Bayes-Nash equilibrium `solve` reports is a pure Nash
    equilibrium Gambit finds in the induced game, worth the solver's value to the leader."""
    gbt = gambit()
    sol_path = solved(tmp_path, SPM, "favourable")
    sol = json.loads(sol_path.read_text())
    ir = load_ir(SPM, ())
    path = tmp_path / "induced.nfg"
    assert run("compile", SPM, "--format", "nfg", "--policy", str(sol_path), "-o", str(path)).exit_code == 0
    game = gbt.read_nfg(str(path))
    found = {tuple(payoff(eq, f.name) for f in ir.model.followers) for eq in gbt.nash.enumpure_solve(game).equilibria}
    maps = list(itertools.product(range(2), repeat=2))
    prof = tuple(maps.index(tuple(s)) for s in sol["follower_profile"])
    _, _, pay = read_nfg(path.read_text())
    assert tuple(pay[prof]) in found
    V, U = exact_ev(ir, sol["actions"])
    assert ex_ante(ir, V, U, sol["follower_profile"])[0] == pytest.approx(sol["value"], abs=1e-9)


# ---------------------------------------------------------------------------
# OpenSpiel (optional extra `openspiel`)
# ---------------------------------------------------------------------------


def test_openspiel_nash_conv_is_zero_at_the_reported_equilibrium(tmp_path: Path) -> None:
    """OpenSpiel's NashConv (best responses on the induced game) is 0 at the followers'
    pure Bayes-Nash equilibrium `solve --follower-model favourable` reports, and at
    exactly the pure equilibria of our .nfg; the expected utilities agree with ours."""
    pytest.importorskip("pyspiel", reason="OpenSpiel is not installed (pip install 'mechdsl[openspiel]')")
    from open_spiel.python import policy as os_policy
    from open_spiel.python.algorithms import exploitability, expected_game_score

    from mechdsl.openspiel import load_game

    sol_path = solved(tmp_path, SPM, "favourable")
    sol = json.loads(sol_path.read_text())
    ir = load_ir(SPM, ())
    game = load_game(ir, str(sol_path))
    assert game.num_players() == 2

    def tabular(profile):
        tp = os_policy.TabularPolicy(game)
        for i, f in enumerate(ir.model.followers):
            for t, label in enumerate(f.type_labels):
                key = next(s for s in tp.states_per_player[i] if s.endswith(f"[{label}]"))
                row = tp.policy_for_key(key)
                row[:] = 0
                row[profile[i][t]] = 1
        return tp

    best = tabular(sol["follower_profile"])
    assert exploitability.nash_conv(game, best) == pytest.approx(0, abs=1e-9)
    values = expected_game_score.policy_value(game.new_initial_state(), [best] * 2)
    V, U = exact_ev(ir, sol["actions"])
    assert list(values) == pytest.approx(ex_ante(ir, V, U, sol["follower_profile"])[1:], abs=1e-9)
    # every pure profile: NashConv is 0 exactly at the pure equilibria of our .nfg
    nfg = export(ir, "nfg", read_policy(str(sol_path), ir))
    equilibria = set(pure_equilibria(read_nfg(nfg)[2]))
    maps = list(itertools.product(range(2), repeat=2))
    for j1, j2 in itertools.product(range(4), range(4)):
        conv = exploitability.nash_conv(game, tabular([maps[j1], maps[j2]]))
        assert (conv < 1e-9) == ((j1, j2) in equilibria), (j1, j2, conv)
    assert 0 < len(equilibria) < 16
    with pytest.raises(MechUsageError, match="expected 12 actions"):
        load_game(ir, [0, 1])


# ---------------------------------------------------------------------------
# DOT
# ---------------------------------------------------------------------------

DOT_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,\]\s]+)')
DOT_NODE = re.compile(r"^  (n\d+) \[(.*)\];$")
DOT_EDGE = re.compile(r"^  (n\d+) -> (n\d+) \[(.*)\];$")


def parse(text: str) -> tuple[dict[str, dict], list[tuple[str, str, dict]], list[tuple[str, str, dict]]]:
    """(nodes, tree edges, information-set links) of our DOT; fails on any other line."""
    lines = text.splitlines()
    assert lines[0].startswith("digraph ") and lines[-1] == "}"
    attrs = lambda s: {k: v.strip('"').replace("\\n", "\n") for k, v in DOT_ATTR.findall(s)}  # noqa: E731
    nodes, edges, links = {}, [], []
    for line in lines[1:-1]:
        if line.startswith("  graph ["):
            continue
        if m := DOT_NODE.match(line):
            nodes[m[1]] = attrs(m[2])
        elif m := DOT_EDGE.match(line):
            a = attrs(m[3])
            (links if a.get("style") == "dashed" and a.get("dir") == "none" else edges).append((m[1], m[2], a))
        else:
            raise AssertionError(f"unexpected DOT line {line!r}")
    assert all(u in nodes and v in nodes for u, v, _ in edges + links)
    return nodes, edges, links


def kind(a: dict) -> str:
    kinds = {"doubleoctagon": "commit", "note": "more", "plaintext": "terminal", "diamond": "chance"}
    return kinds.get(a["shape"], a["shape"])


def test_dot_of_a_small_stackelberg_game_is_the_commitment_tree() -> None:
    """Few pure policies: the leader commits first, the follower answers each commitment
    (seeing it: no information-set links across commitments), payoffs at the leaves."""
    ir = build_ir(table_model(MAINTAIN))
    dot, note = draw(ir)
    nodes, edges, links = parse(dot)
    assert note == "" and links == []
    (commit,) = [n for n, a in nodes.items() if kind(a) == "commit"]
    assert all(v != commit for _, v, _ in edges)  # nothing comes before the commitment
    answers = {e["label"]: v for u, v, e in edges if u == commit}
    assert sorted(answers) == ["row=A", "row=B", "row=C"]
    assert all(nodes[v]["label"] == "follower" for v in answers.values())
    leaf = {e["label"]: nodes[v]["label"] for u, v, e in edges if u == answers["row=A"]}
    assert leaf == {"A": "objective 20\nfollower 15", "B": "objective 0\nfollower 0", "C": "objective 0\nfollower 0"}
    assert sum(kind(a) == "terminal" for a in nodes.values()) == 9


def test_dot_of_play_marks_the_leaders_information_sets() -> None:
    """Many pure policies: the commitment node, then the tree of play, where the leader's
    nodes that see the same messages (whatever the types) are linked as one set."""
    ir = load_ir(CORRELATED, ())
    assert count_policies(ir) == 16
    nodes, edges, links = parse(draw(ir, depth=0)[0])
    (commit,) = [n for n, a in nodes.items() if kind(a) == "commit"]
    (root,) = [v for u, v, _ in edges if u == commit]
    assert kind(nodes[root]) == "chance" and "12 information sets" not in nodes[commit]["label"]
    leaders = [n for n, a in nodes.items() if a["label"].startswith("leader at")]
    assert len(leaders) == 16  # 4 type profiles (one has prior 0) x 4 message profiles
    linked = {}
    for u, v, _ in links:
        assert nodes[u]["label"] == nodes[v]["label"]
        linked.setdefault(nodes[u]["label"], set()).update({u, v})
    leader_sets = [m for lab, m in linked.items() if lab.startswith("leader at")]
    assert sorted(len(m) for m in leader_sets) == [4, 4, 4, 4]
    terminals = [a["label"] for a in nodes.values() if kind(a) == "terminal"]
    assert all(re.fullmatch(r"objective -?[\d.]+\nalice -?[\d.]+\nbob -?[\d.]+", t) for t in terminals)


def test_dot_folds_a_669_node_tree_and_accounts_for_every_node() -> None:
    ir = load_ir(SPM, ())
    dot, note = draw(ir)
    nodes, edges, links = parse(dot)
    drawn = [a for a in nodes.values() if kind(a) not in ("commit", "more")]
    hidden = sum(int(re.search(r", ([\d,]+) nodes", a["label"])[1].replace(",", "")) for a in nodes.values()
                 if kind(a) == "more")
    assert len(nodes) <= AUTO_NODES + 1 and len(drawn) + hidden == 669
    assert f"drew {len(drawn)} of 669 nodes" in note and "--depth" in note
    # everything: 669 nodes and the commitment, a link chain per information set
    nodes, edges, links = parse(draw(ir, depth=0)[0])
    assert len(nodes) == 670 and len(edges) == 669
    from mechdsl.compiler.tree import game_tree

    tree = game_tree(ir)
    sets = {}
    for _, d in tree.nodes(data=True):
        if d["kind"] in ("follower", "leader"):
            key = (d["kind"], *d["infoset"]) if d["kind"] == "follower" else ("leader", d["infoset"])
            sets[key] = sets.get(key, 0) + 1
    assert len(links) == sum(c - 1 for c in sets.values())
    for u, v, _ in links:  # linked nodes are the same player knowing the same thing
        assert nodes[u]["label"] == nodes[v]["label"]
    nodes, edges, _ = parse(draw(ir, depth=2)[0])
    assert {kind(a) for a in nodes.values()} == {"commit", "chance", "box", "more"}


def test_dot_marks_the_policy_moves(tmp_path: Path) -> None:
    sol = solved(tmp_path, SPM)
    ir = load_ir(SPM, ())
    nodes, edges, _ = parse(draw(ir, depth=0, policy=read_policy(str(sol), ir))[0])
    assert "leader commits to the policy" in next(a["label"] for a in nodes.values() if kind(a) == "commit")
    for n, a in nodes.items():
        if a["label"].startswith("leader at"):
            out = [e for u, _, e in edges if u == n]
            assert sum("penwidth" in e for e in out) == 1 and sum(e.get("color") == "gray" for e in out) == len(out) - 1


def test_dot_cli_depth_and_the_collapsed_view() -> None:
    res = run("compile", SPM, "--format", "dot", "--depth", "3")
    assert res.exit_code == 0 and res.stdout.startswith("digraph")
    assert "(to depth 3 of 7)" in res.stderr
    res = run("compile", str(ROOT / "specs/paper/spm_messages_interval.mech"), "--format", "dot")
    assert res.exit_code == 0 and "interval" in res.stderr
    nodes, edges, _ = parse(res.stdout)
    assert sum(kind(a) == "commit" for a in nodes.values()) == 1 and len(nodes) == 12 + 2 + 1
