"""How long a command takes to start, against `python -c "import pydantic, lark"`.

Runs each command as a fresh process several times, the commands taking turns (so a
change in the machine's load falls on every row alike), and prints the median wall time
and the median CPU time (user + system; steadier on a shared machine), the ratio of each
to the pydantic + lark baseline, and which heavy modules the command imported.  With
``--before DIR`` (a checkout of older code, e.g. /work/main) the same commands are also
timed there, for a before/after table.

    python bench/startup.py                      # this checkout
    python bench/startup.py --before /work/main  # and an older one beside it
    python bench/startup.py --runs 15

The parser's table cache (compiler/lalr_cache.py) is warmed by one untimed run in a
temporary cache directory, as it is for anyone after their first command; the cold
first run is timed on its own row.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "scipy", "matplotlib", "rich", "networkx", "numpy", "gymnasium", "pandas", "tensorboard")
SPEC = "specs/paper/allocation.mech"
MAIN = "from mechdsl.cli import main; main()"

CASES = [  # (row name, python arguments, mechdsl arguments or None)
    ("bare python", ["-c", "pass"], None),
    ("import pydantic, lark", ["-c", "import pydantic, lark"], None),
    # `import pydantic` is lazy: a CLI that defines a model also pays for BaseModel (and click)
    ("import click, lark, pydantic.BaseModel", ["-c", "import click, lark; from pydantic import BaseModel"], None),
    # defining a model class loads the rest of pydantic's machinery (pydantic.fields, .types),
    # even with its schema deferred as mechdsl's are
    ("... and define one model class", ["-c", "import click, lark\nfrom pydantic import BaseModel, ConfigDict\n"
                                        "class M(BaseModel):\n    model_config = ConfigDict(defer_build=True)\n"
                                        "    x: int = 0"], None),
    ("check", ["-c", MAIN, "check", SPEC], ["check", SPEC]),
    ("compile", ["-c", MAIN, "compile", SPEC], ["compile", SPEC]),
    ("solve --help", ["-c", MAIN, "solve", "--help"], ["solve", "--help"]),
]
BASELINE = "import pydantic, lark"


def _timed(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `python ARGS` in `cwd`."""
    import time

    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode not in (0,):
        raise SystemExit(f"{' '.join(args)} in {cwd} failed ({proc.returncode}):\n{err}")
    return wall, usage.ru_utime + usage.ru_stime


def heavy_modules(argv: list[str], cwd: Path, env: dict[str, str]) -> list[str]:
    """The heavy modules a command leaves in sys.modules."""
    code = ("import sys\nfrom mechdsl.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            f"print('heavy:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    line = [x for x in out.stdout.splitlines() if x.startswith("heavy:")][-1]
    return [m for m in line[len("heavy:"):].split(",") if m]


def measure(cwd: Path, runs: int, cache: Path) -> dict[str, tuple[float, float, list[str] | None]]:
    env = dict(os.environ, MECHDSL_CACHE_DIR=str(cache), PYTHONDONTWRITEBYTECODE="0")
    out = {}
    shutil.rmtree(cache, ignore_errors=True)
    check = next(args for name, args, _ in CASES if name == "check")
    wall, cpu = _timed(check, cwd, env)  # the first run after install: builds the parser cache
    out["check (first run)"] = (wall, cpu, None)
    for _, args, _ in CASES:
        _timed(args, cwd, env)  # warm the disk cache and the .pyc files
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in CASES}
    for _ in range(runs):
        for name, args, _ in CASES:
            samples[name].append(_timed(args, cwd, env))
    for name, _, argv in CASES:
        wall = statistics.median(s[0] for s in samples[name])
        cpu = statistics.median(s[1] for s in samples[name])
        out[name] = (wall, cpu, None if argv is None else heavy_modules(argv, cwd, env))
    return out


def table(title: str, rows: dict[str, tuple[float, float, list[str] | None]]) -> list[str]:
    base_wall, base_cpu = rows[BASELINE][:2]
    lines = [f"## {title}", "",
             f"| command | wall (median) | x baseline | CPU (median) | x baseline | heavy modules imported |",
             "|---|---:|---:|---:|---:|---|"]
    for name, (wall, cpu, heavy) in rows.items():
        shown = "-" if heavy is None else (", ".join(heavy) or "none")
        lines.append(f"| {name} | {wall:.3f} s | {wall / base_wall:.2f} | {cpu:.3f} s | {cpu / base_cpu:.2f} | {shown} |")
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=9, help="timed runs per command (the median is shown)")
    ap.add_argument("--before", type=Path, help="an older checkout to time the same way")
    args = ap.parse_args()
    lines = [f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; "
             f"{args.runs} runs each; baseline: `python -c \"import pydantic, lark\"`", ""]
    with tempfile.TemporaryDirectory() as tmp:
        if args.before:
            lines += table(f"before ({args.before})", measure(args.before.resolve(), args.runs, Path(tmp) / "before"))
        lines += table(f"after ({ROOT})", measure(ROOT, args.runs, Path(tmp) / "after"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
