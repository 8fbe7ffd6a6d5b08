"""A bounded, seeded fuzz run in the default suite: mutants of the shipped specs made by
bench/fuzz.py's mutator go through `mechdsl check` and `mechdsl compile`; none may end in
a traceback, a hang, running out of memory, an error without a position or a hint, or a
summary showing nan/inf.  `python bench/fuzz.py` runs the long version (10,000 mutants,
in worker processes with a memory cap)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = 300
SEED = 20240611


@pytest.fixture(scope="module")
def fuzz():
    spec = importlib.util.spec_from_file_location("bench_fuzz", ROOT / "bench" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_fuzz"] = module
    spec.loader.exec_module(module)
    return module


def test_mutants_are_reproducible(fuzz):
    a, b = fuzz.mutant(SEED, 1234), fuzz.mutant(SEED, 1234)
    assert (a.data, a.sets, a.ops) == (b.data, b.sets, b.ops)
    assert fuzz.mutant(SEED, 0).data == (ROOT / fuzz.ALL_SOURCES[0].name).read_bytes()


@pytest.mark.parametrize("outcome, code, output", [
    ("ok", 0, "t.mech: ok (1 follower, 1 leader information set)"),
    ("positioned", 2, "t.mech:1:2: error: x\n    y\n    ^\nhint: z"),
    ("no-hint", 2, "t.mech:1:2: error: x\n    y\n    ^"),
    ("unpositioned", 2, "t.mech: error: x\nhint: z"),
    ("nonfinite", 0, "mechanism t\n\n  a docstring may say inf\n\nparams: x=inf"),
    ("ok", 0, "mechanism t\n\n  a docstring may say inf or nan\n\nparams: x=1"),
])
def test_classify(fuzz, outcome, code, output):
    assert fuzz.classify(code, output, None) == outcome


def test_classify_exceptions(fuzz):
    assert fuzz.classify(1, "", ValueError("x")) == "traceback"
    assert fuzz.classify(1, "", MemoryError()) == "oom"
    assert fuzz.classify(1, "", fuzz.Hang()) == "hang"


def test_no_mutant_breaks_the_compiler(fuzz, tmp_path):
    bad = []
    for index in range(MUTANTS):
        m = fuzz.mutant(SEED, index)
        outcome, printed, seconds = fuzz.run_mutant(m, tmp_path)
        if outcome not in fuzz.GOOD:
            saved = tmp_path / f"mutant{index}.mech"
            saved.write_bytes(m.data)
            bad.append(f"#{index} {outcome} ({m.source}: {', '.join(m.ops)}; sets {m.sets}; saved {saved})\n"
                       + printed[-1500:])
    assert not bad, "\n\n".join(bad[:5])
