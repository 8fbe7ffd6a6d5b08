"""The README's examples run as written: the Python API block (loads a spec, solves
it, trains a few steps, reads the result, makes the Gymnasium env)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_python_api_example_runs(monkeypatch, capsys):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    (code,) = python_blocks(section)
    monkeypatch.chdir(ROOT)  # the example's spec paths are relative to the repository
    scope: dict = {}
    exec(compile(code, "README.md (Python API)", "exec"), scope)
    assert abs(scope["sol"].value - 2 / 3) < 1e-9  # the comment says 2/3
    best = scope["best"]
    assert best.steps >= 300_000 and best.curve and "value" in best.curve[-1]
    assert set(scope["obs"]) == {"obs", "action_mask"}
    assert "0.6666" in capsys.readouterr().out
