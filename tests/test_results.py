"""The JSON of `solve`, `train` and `eval`: one documented shape (docs/results.md),
checked against docs/results.schema.json; float noise cleaned; exact fractions."""
from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from mechdsl.cli import main
from mechdsl.results import clean, fraction, number_text
from tests.schema_lite import errors

ROOT = Path(__file__).resolve().parent.parent
PAPER, EXAMPLES = ROOT / "specs/paper", ROOT / "specs/examples"
SCHEMA = json.loads((ROOT / "docs/results.schema.json").read_text())
FAST = ["--steps", "20000", "-O", "episodes=16", "--seed", "0"]


def invoke(*args) -> dict:
    res = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def valid(result: dict) -> dict:
    problems = errors(result, SCHEMA)
    assert not problems, "\n".join(problems)
    try:  # the real validator too, where it is installed
        import jsonschema
    except ImportError:
        return result
    jsonschema.validate(result, SCHEMA)
    return result


def floats(x):
    if isinstance(x, float):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from floats(v)
    elif isinstance(x, list):
        for v in x:
            yield from floats(v)


# ---------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("x, want", [
    (-4.440892098500626e-16, 0.0), (1.1000000000000003, 1.1), (29.999999999999996, 30.0),
    (0.25000000001, 0.25), (-0.0, 0.0), (1 / 3, 1 / 3), (0.25075, 0.25075), (1e-7, 1e-7),
])
def test_clean_removes_noise_only(x, want):
    assert clean(x) == want and str(clean(-0.0)) == "0.0"


@pytest.mark.parametrize("x, want", [
    (17 / 9, "17/9"), (2.0, "2"), (-23 / 11, "-23/11"), (105 / 64, "105/64"), (21 / 44, "21/44"),
    (2 ** 0.5, None), (0.123456789123, None), (None, None), (float("nan"), None),
])
def test_fraction_reproduces_the_float(x, want):
    got = fraction(x)
    assert got == want
    if got is not None:
        assert abs(float(Fraction(got)) - x) < 1e-9


def test_number_text():
    assert number_text(17 / 9) == "1.88889" and number_text(17 / 9, exact=True) == "17/9"
    assert number_text(2 ** 0.5, exact=True) == "1.41421" and number_text(-4.44e-16) == "0"
    assert number_text(None) == "n/a"


# ---------------------------------------------------------------------------
# the schema, against real outputs
# ---------------------------------------------------------------------------


def test_schema_checker_rejects_a_bad_result():
    sol = valid(invoke("solve", PAPER / "escape.mech", "--json"))
    bad = dict(sol, policy={"[(nothing observed)] choose": "row=C"})  # the old shape
    assert errors(bad, SCHEMA)
    assert errors({k: v for k, v in sol.items() if k != "value"}, SCHEMA)
    assert errors(dict(sol, value_exact="1.5"), SCHEMA)


def test_solve_pure_and_mixed_results_match_the_schema():
    pure = valid(invoke("solve", PAPER / "escape.mech", "--json"))
    assert pure["command"] == "solve" and pure["schema"] == "mechdsl.result/1"
    (entry,) = pure["policy"]
    assert entry["action"] == "row=C" and entry["distribution"] == {"row=C": 1.0} and not entry["mixed"]
    assert pure["value_exact"] == "30"

    mixed = valid(invoke("solve", EXAMPLES / "security_game.mech", "--follower-model", "favourable", "--json"))
    (entry,) = mixed["policy"]
    assert entry["mixed"] and entry["distribution_exact"] == {"cover=t1": "21/44", "cover=t2": "15/44", "cover=t3": "2/11"}
    assert entry["action"] == "cover=t1"  # the likeliest
    assert mixed["value_exact"] == "-23/11"

    rounds = valid(invoke("solve", PAPER / "spm_messages.mech", "--set", "messages=1", "--json"))
    assert {e["kind"] for e in rounds["policy"]} == {"round"}
    assert all("goodx1" not in e["label"] for e in rounds["policy"])


def test_train_and_eval_results_match_the_schema(tmp_path):
    out = tmp_path / "run"
    train = valid(invoke("train", PAPER / "escape.mech", *FAST, "-o", out, "--json"))
    assert train["command"] == "train"
    ev = valid(invoke("eval", out, "--json"))
    assert ev["command"] == "eval" and ev["value"] == train["value"]
    solve = invoke("solve", PAPER / "escape.mech", "--json")
    # the policy has one shape whichever command printed it
    assert [set(e) for e in train["policy"]] == [set(e) for e in solve["policy"]]
    assert train["follower_strategies"].keys() == solve["follower_strategies"].keys()
    assert isinstance(train["regret"]["follower"]["none"], float)
    summary = json.loads((out / "summary.json").read_text())
    assert valid(summary)["command"] == "train"
    for x in floats(train):
        assert clean(x) == x  # no float noise anywhere


def test_exact_text_output():
    res = CliRunner().invoke(main, ["solve", str(EXAMPLES / "auction_revenue.mech"), "--ties", "first", "--exact"])
    assert res.exit_code == 0 and "revenue = 16/9" in res.output
    res = CliRunner().invoke(main, ["solve", str(EXAMPLES / "auction_revenue.mech"), "--ties", "first"])
    assert "revenue = 1.77778" in res.output


def test_every_field_is_documented():
    doc = (ROOT / "docs/results.md").read_text()
    names = set()

    def walk(schema):
        if isinstance(schema, dict):
            names.update(schema.get("properties", {}))
            for v in schema.values():
                walk(v)
        elif isinstance(schema, list):
            for v in schema:
                walk(v)

    walk(SCHEMA)
    missing = sorted(n for n in names if not re.search(rf"`{re.escape(n)}`", doc))
    assert not missing, f"docs/results.md does not describe {missing}"
