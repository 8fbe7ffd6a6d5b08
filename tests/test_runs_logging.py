"""What a training run leaves for people to look at: TensorBoard event files with the
standard tags, the curve (PNG and SVG, labelled band, zoomed axes, optimum line, regret
panel), the per-seed progress bars and their time left, and Ctrl-C (a real SIGINT in a
subprocess) writing the partial summary, curve and policy before the resume hint."""
from __future__ import annotations

import csv
import html
import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mechdsl.cli import main
from mechdsl.config import TrainConfig
from mechdsl.curves import band_label, draw, plot_curves
from mechdsl.progress import Progress, SeedClock
from mechdsl.runs import RunDir
from mechdsl.tblog import TAGS
from tests.checks import interrupt_when

ROOT = Path(__file__).resolve().parent.parent
ALLOCATION = str(ROOT / "specs" / "paper" / "allocation.mech")
TINY = ["--set", "messages=2", "--steps", "300000", "-O", "episodes=64"]
STANDARD_TAGS = {"eval/greedy_value", "eval/regret", "ppo/policy_loss", "ppo/value_loss", "ppo/entropy",
                 "ppo/approx_kl"}


def metrics(path: Path) -> list[dict[str, float]]:
    with open(path / "metrics.csv", newline="") as f:
        return [{k: float(v) for k, v in r.items() if v} for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("runs") / "run"
    res = CliRunner().invoke(main, ["train", ALLOCATION, *TINY, "--seeds", "2", "--out", str(out), "--json"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return out, json.loads(res.output)


def test_event_files_hold_the_standard_tags(trained):
    pytest.importorskip("tensorboard")
    from mechdsl.tblog import read_scalars

    out, _ = trained
    rows = metrics(out)
    for seed in (0, 1):
        folder = out / "tb" / f"seed-{seed}"
        assert list(folder.glob("events.out.tfevents.*")), folder
        scalars = read_scalars(folder)
        assert STANDARD_TAGS <= set(scalars)
        mine = [r for r in rows if r["seed"] == seed]
        assert [s for s, _ in scalars["eval/greedy_value"]] == [int(r["steps"]) for r in mine]
        assert [v for _, v in scalars["eval/greedy_value"]] == pytest.approx([r["value"] for r in mine])
        assert [v for _, v in scalars["ppo/value_loss"]] == pytest.approx([r["value_loss"] for r in mine])
        # the optimum the train command found by `solve` (allocation, 2 messages: 2/3)
        assert scalars["eval/optimum"][-1][1] == pytest.approx(2 / 3)


def test_curve_is_png_and_svg_with_a_labelled_band(trained):
    out, report = trained
    assert (out / "curve.png").stat().st_size > 0
    svg = html.unescape((out / "curve.svg").read_text())
    assert band_label(2) in svg and "mean ± 1 std over 2 seeds" in svg
    assert "exact optimum" in svg and "followers' regret" in svg and "value loss" in svg
    assert report["optimum"] == pytest.approx(2 / 3)


def test_readme_lists_every_file_of_the_run_directory(trained):
    out, _ = trained
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The run directory", 1)[1].split("\n## ", 1)[0]
    names = {p.name for p in out.iterdir()}
    assert {"tb", "curve.svg", "summary.json", "policy.pt", "checkpoint.pt"} <= names
    for name in names:
        assert f"`{name}`" in section or f"`{name}/" in section, name
    for tag in TAGS.values():
        assert f"`{tag}`" in section, tag


def test_curve_zooms_onto_a_small_gap(tmp_path):
    """Values near 0.66 under an optimum of 2/3: the axis is far narrower than [0, 1]
    and still holds the optimum line; without regret rows there is no regret panel."""
    rows = lambda off: [{"steps": s, "normalized": 0.66 + off, "greedy_reward": 0.659 + off}  # noqa: E731
                        for s in (100, 200, 300)]
    fig = draw({0: rows(0.0), 1: rows(0.002)}, "t", optimum_normalized=2 / 3)
    (ax,) = fig.axes
    lo, hi = ax.get_ylim()
    assert hi - lo < 0.05 and lo < 0.66 < 2 / 3 < hi
    labels = ax.get_legend_handles_labels()[1]
    assert band_label(2) in labels and any("exact optimum" in x for x in labels)
    assert plot_curves({0: rows(0.0)}, tmp_path / "c.png", "one seed") == tmp_path / "c.png"
    assert (tmp_path / "c.svg").is_file() and "over 1 seeds" not in (tmp_path / "c.svg").read_text()
    assert plot_curves({0: []}, tmp_path / "none.png", "empty") is None


def test_seed_clock_measures_speed_and_counts_down():
    clock = SeedClock(budget=10_000)
    assert clock.rate() is None and clock.left() is None
    clock.add(steps=1_000, seconds=2.0)  # one evaluation: the seed's average
    assert clock.rate() == pytest.approx(500)
    clock.add(steps=3_000, seconds=3.0)  # then the last evaluations' speed
    assert clock.rate() == pytest.approx(2_000)
    assert clock.left(now=clock.seen) == pytest.approx(3.5)
    assert clock.left(now=clock.seen + 1.0) == pytest.approx(2.5)
    assert clock.left(now=clock.seen + 60.0) == 0.0


def test_a_bar_per_seed():
    from rich.console import Console

    buf = io.StringIO()
    cfg = TrainConfig(steps=1_000, seeds=2, seed=5)
    with Progress(cfg, disable=False, console=Console(file=buf, width=120, force_terminal=False)) as bar:
        for seed in (5, 6):
            for k in (1, 2):
                bar.update({"seed": seed, "steps": 400 * k, "seconds": 0.5 * k, "value": 0.25 * k})
    text = buf.getvalue()
    assert "seed 5 (1/2)" in text and "seed 6 (2/2)" in text
    assert text.count("done") == 2 and "800/1k steps" in text and "800/s" in text


def test_sigint_writes_partial_results_and_resume_continues(tmp_path):
    """A real Ctrl-C (SIGINT) after the first evaluations of a long run."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-c", "from mechdsl.cli import main; main()", "train", ALLOCATION, "--set", "messages=2",
           "--seeds", "2", "--steps", "1e9", "-O", "episodes=64", "-O", "stall=1000000", "--workers", "1",
           "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    stdout, stderr = interrupt_when(proc, lambda: (out / "metrics.csv").is_file() and len(metrics(out)) >= 2,
                                    "evaluation", signal.SIGINT)
    assert proc.returncode == 130, stderr
    for name in ("summary.json", "curve.png", "curve.svg", "policy.pt", "checkpoint.pt"):
        assert (out / name).is_file(), name
    assert json.loads((out / "summary.json").read_text())["interrupted"] is True
    (seed0,) = RunDir(out).load_policy()["runs"]  # the seed so far: its best greedy policy
    assert seed0["seed"] == 0 and seed0["stopped"] == "interrupted"
    assert "interrupted" in stderr and f"--out {out} --resume" in stderr
    assert "written: summary.json" in stderr and "optimum" in stdout
    done = len(metrics(out))

    # --resume continues from the checkpoint (a budget already spent ends the seed at once)
    steps = int(max(r["steps"] for r in metrics(out)))
    res = CliRunner().invoke(main, ["train", ALLOCATION, "--out", str(out), "--resume", "--steps", str(steps + 1),
                                    "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "interrupted" not in json.loads(res.output)
    assert "interrupted" not in json.loads((out / "summary.json").read_text())
    assert [r["seed"] for r in RunDir(out).load_policy()["runs"]] == [0, 1]
    rows = metrics(out)
    assert len(rows) > done and {r["seed"] for r in rows} == {0.0, 1.0}
    if importlib.util.find_spec("tensorboard"):  # the event files were replayed, not duplicated
        from mechdsl.tblog import read_scalars

        for seed in (0, 1):
            steps = [s for s, _ in read_scalars(out / "tb" / f"seed-{seed}")["eval/greedy_value"]]
            assert steps == [int(r["steps"]) for r in rows if r["seed"] == seed]


def test_check_and_compile_never_import_the_writers():
    """TensorBoard and matplotlib load only when a run logs or plots."""
    code = ("import sys\nfrom mechdsl.cli import main\n"
            f"for cmd in (['check', {ALLOCATION!r}], ['compile', {ALLOCATION!r}]):\n"
            "    try:\n        main(cmd)\n    except SystemExit as e:\n        assert not e.code, e.code\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorboard', 'matplotlib')\n"
            "             or m == 'torch.utils.tensorboard'))\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "[]"
