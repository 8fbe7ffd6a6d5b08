"""The command line: every shipped spec compiles, every format works, errors are clean."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mechdsl.compiler.ir import GameIR
from mechdsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").rglob("*.mech"))


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_spec_compiles(path: Path) -> None:
    res = run("compile", str(path))
    assert res.exit_code == 0, res.output
    assert "leader information sets:" in res.output
    assert "type profiles:" in res.output
    res = run("check", str(path))
    assert res.exit_code == 0 and ": ok" in res.output


def test_summary_shows_docstring_and_sizes() -> None:
    res = run("compile", str(ROOT / "specs/paper/spm_messages.mech"))
    assert res.exit_code == 0
    out = res.output
    assert "type profiles: 4" in out
    assert "leader information sets: 12" in out
    assert "game tree:" in out


def test_json_format_round_trips(tmp_path: Path) -> None:
    target = tmp_path / "ir.json"
    res = run("compile", str(ROOT / "specs/paper/allocation.mech"), "--set", "messages=2", "--format", "json", "-o", str(target))
    assert res.exit_code == 0
    ir = GameIR.from_json(target.read_text())
    assert ir.action_counts == [2]
    assert GameIR.from_json(ir.to_json()) == ir


def test_dot_format_small_and_collapsed() -> None:
    res = run("compile", str(ROOT / "specs/paper/escape.mech"), "--format", "dot")
    assert res.exit_code == 0 and res.output.startswith("digraph")
    res = run("compile", str(ROOT / "specs/paper/spm_grid.mech"), "--format", "dot")
    assert res.exit_code == 0 and res.output.startswith("digraph")


def test_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mech"
    bad.write_text('"""x"""\nagent a {\n    action m in {}\n}\n')
    res = CliRunner().invoke(main, ["compile", str(bad)])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert f"{bad}:" in res.output and "error:" in res.output
    res = CliRunner().invoke(main, ["compile", str(tmp_path / "missing.mech")])
    assert res.exit_code == 2 and "error:" in res.output
    res = CliRunner().invoke(main, ["compile", str(ROOT / "specs/paper/allocation.mech"), "--set", "mesages=2"])
    assert res.exit_code == 2 and "messages" in res.output  # did you mean


@pytest.mark.parametrize("command", ["compile", "check", "solve", "train", "eval", "sweep"])
def test_every_command_has_help_with_example(command: str) -> None:
    res = run(command, "--help")
    assert res.exit_code == 0
    assert "Example" in res.output


def test_install_exposes_only_the_mechdsl_package(tmp_path: Path) -> None:
    """compiler/ and grammar/ install as mechdsl.compiler and mechdsl.grammar, so the
    distribution claims one top-level name.  A regular install is read from its RECORD; an
    editable one (whose RECORD holds only a finder) is checked by building the wheel."""
    import importlib.metadata
    import sysconfig
    import zipfile

    # the installed one, not a mechdsl.egg-info a build may have left in the checkout
    (dist,) = importlib.metadata.distributions(name="mechdsl", path=[sysconfig.get_paths()["purelib"]])
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    if direct.get("dir_info", {}).get("editable"):
        res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                              "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            pytest.skip(f"cannot build the wheel here: {res.stderr.strip().splitlines()[-1:]}")
        (wheel,) = tmp_path.glob("mechdsl-*.whl")
        names = zipfile.ZipFile(wheel).namelist()
    else:
        names = [str(f) for f in dist.files or []]
    top = {n.split("/")[0] for n in names if n.endswith(".py") and "/" in n and ".dist-info" not in n}
    assert top == {"mechdsl"}, top
    assert any(n.endswith("mechdsl/grammar/mech.lark") for n in names)
    assert any(n.endswith("mechdsl/grammar/tables.py") for n in names)  # the parser's shipped tables
    assert any(n.endswith("mechdsl/compiler/passes/moves.py") for n in names)


def test_installed_console_script_carries_grammar(tmp_path: Path) -> None:
    """Run the installed `mechdsl` from another folder: the wheel must carry grammar/ and compiler/."""
    exe = shutil.which("mechdsl")
    if exe is None:
        pytest.skip("mechdsl console script not installed")
    spec = ROOT / "specs/paper/allocation.mech"
    out = subprocess.run([exe, "compile", str(spec), "--format", "json"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["n_followers"] == 1


# ---------------------------------------------------------------------------
# one meaning per short flag, "did you mean" wherever a name is looked up
# ---------------------------------------------------------------------------


def test_dash_o_is_the_output_everywhere(tmp_path: Path) -> None:
    target = tmp_path / "escape.json"
    res = run("solve", str(ROOT / "specs/paper/escape.mech"), "--json", "-o", str(target))
    assert res.exit_code == 0 and json.loads(target.read_text())["value"] == 30
    text = tmp_path / "escape.txt"
    assert run("solve", str(ROOT / "specs/paper/escape.mech"), "-o", str(text)).exit_code == 0
    assert "row = C" in text.read_text()
    # train: -o is the run directory; a training setting is -O, and the old spelling says so
    res = CliRunner().invoke(main, ["train", str(ROOT / "specs/paper/escape.mech"), "-o", "lr=3e-3"])
    assert res.exit_code == 2 and "-O lr=3e-3" in res.output and not Path("lr=3e-3").exists()
    for command in ("compile", "solve", "train", "eval"):
        assert "-o, --out" in run(command, "--help").output
    assert "-O, --option" in run("train", "--help").output


@pytest.mark.parametrize("args, expect", [
    (["solve", "specs/paper/escape.mech", "--follower-model", "favorable"], "did you mean 'favourable'?"),
    (["solve", "specs/paper/escape.mech", "--ties", "pesimistic"], "did you mean 'pessimistic'?"),
    (["compile", "specs/paper/escape.mech", "--format", "jsn"], "did you mean 'json'?"),
    (["train", "specs/paper/escape.mech", "-O", "ties=pesimistic"], "did you mean 'pessimistic'?"),
    (["train", "specs/paper/escape.mech", "-O", "algo=mapo"], "did you mean 'mappo'?"),
    (["train", "specs/paper/escape.mech", "-O", "lrr=3"], "did you mean 'lr'?"),
    (["solve", "specs/paper/allocation.mech", "--set", "mesages=2"], "did you mean 'messages'?"),
    (["chek", "specs/paper/escape.mech"], "Did you mean 'check'?"),
])
def test_did_you_mean(args, expect) -> None:
    res = CliRunner().invoke(main, [str(ROOT / a) if a.startswith("specs/") else a for a in args])
    assert res.exit_code == 2 and expect.lower() in res.output.lower(), res.output


def test_output_oddities_are_gone(tmp_path: Path) -> None:
    res = run("check", str(ROOT / "specs/paper/escape.mech"))
    assert "ok (1 follower, 1 leader information set)" in res.output
    res = run("compile", str(ROOT / "specs/paper/escape.mech"))
    assert "objective: objective" not in res.output and "objective: bounds [" in res.output
    assert "objective: welfare   bounds" in run("compile", str(ROOT / "specs/paper/spm_messages.mech")).output
    res = run("solve", str(ROOT / "specs/paper/spm_messages.mech"), "--set", "messages=1", "--json")
    labels = [e["label"] for e in json.loads(res.output)["policy"]]
    assert labels and all("items left: good" in lab and "goodx1" not in lab for lab in labels)
    # an error that belongs to no file says `error:`, not `<spec>: error:`
    res = CliRunner().invoke(main, ["train", str(ROOT / "specs/paper/escape.mech"), "-O", "nope=1"])
    assert res.exit_code == 2 and res.output.startswith("error: unknown training option")


# ---------------------------------------------------------------------------
# fast start: check and compile import no heavy library (bench/startup.py times them)
# ---------------------------------------------------------------------------

HEAVY = ("torch", "scipy", "matplotlib", "numpy", "networkx", "rich", "tensorboard", "gymnasium", "pandas")


@pytest.mark.parametrize("argv,allowed", [
    (["check", "specs/paper/allocation.mech"], ()),
    (["check", "specs/paper/spm_messages.mech"], ()),
    (["compile", "specs/paper/allocation.mech"], ()),
    (["compile", "specs/paper/spm_grid.mech", "--format", "dot"], ("networkx",)),  # the drawn tree
    (["solve", "--help"], ()),
])
def test_light_commands_import_no_heavy_modules(argv, allowed, tmp_path: Path) -> None:
    """check and compile start without torch, numpy, networkx, ... (and without
    pydantic's plugin scan: no model schema is built for them, see compiler/model.py)."""
    heavy = tuple(m for m in HEAVY if m not in allowed)
    if argv[:2] == ["compile", "specs/paper/allocation.mech"] or argv[0] == "check":
        heavy += ("importlib.metadata",)
    code = ("import sys\nfrom mechdsl.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            f"heavy = [m for m in {heavy!r} if m in sys.modules]\n"
            "assert not heavy, heavy\nprint('light')")
    env = {**__import__("os").environ, "MECHDSL_CACHE_DIR": str(tmp_path)}
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0 and res.stdout.strip().endswith("light"), res.stderr


def test_parser_cache_round_trips(tmp_path: Path, monkeypatch) -> None:
    """The JSON tables (used when the shipped ones were made with another Lark) parse every
    shipped spec to the same tree as freshly built ones, and a corrupt cache file is
    rebuilt, not trusted."""
    from mechdsl.compiler import lalr_cache
    from mechdsl.compiler.lalr_cache import cache_dir, cached_lalr
    from mechdsl.compiler.parse import LALR_OPTIONS, grammar_text

    monkeypatch.setenv("MECHDSL_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(lalr_cache, "_shipped", lambda key: None)
    text, opts = grammar_text(), LALR_OPTIONS
    built = cached_lalr(text, **opts)
    (cached,) = cache_dir().glob("lalr-*.json")
    loaded = cached_lalr(text, **opts)
    for path in SPECS:
        src = path.read_text()
        assert loaded.parse(src, start="start") == built.parse(src, start="start")
    cached.write_text("{not json")
    assert cached_lalr(text, **opts).parse("param x = 1\n", start="start") is not None
