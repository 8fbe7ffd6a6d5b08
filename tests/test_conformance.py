"""Conformance on generated specs (tests/specgen.py; the full run is bench/conformance.py).

Every family generates specs that compile, deterministically; a handful of generated
specs from distinct families, trained with the default settings (one seed, one thread),
reach the exact optimum of `mechdsl.solve` (the supremum for a mixed commitment) to
within 1% of the objective's range."""
from __future__ import annotations

import random

import pytest

from mechdsl import compiler
import mechdsl
from mechdsl.compiler.build import build_ir
from mechdsl.config import config_for
from mechdsl.solve import solve
from mechdsl.train import train
from tests.specgen import FAMILIES, generate, generate_seeded


def compile_text(text: str, name: str) -> mechdsl.GameIR:
    return build_ir(compiler.loads(text, f"{name}.mech"))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_generates_specs_that_compile(family):
    rng = random.Random(f"compile:{family}")
    for k in range(20):
        state = rng.getstate()
        text = generate(family, rng)
        first = text.splitlines()[0]
        assert first.startswith(f'"""Conformance spec: family {family}, seed ')
        seed = int(first.rsplit(" ", 1)[1].rstrip("."))
        assert generate_seeded(family, seed) == text  # the docstring rebuilds the spec
        rng2 = random.Random()
        rng2.setstate(state)
        assert generate(rng=rng2, family=family) == text  # deterministic for an rng state
        ir = compile_text(text, f"{family}-{k}")
        assert ir.n_infosets >= 1 and ir.objective_bounds[0] <= ir.objective_bounds[1]


def test_unknown_family_is_an_error():
    with pytest.raises(ValueError, match="unknown family"):
        generate("no_such_family", random.Random(0))


# (family, seed): small specs, a few seconds of training each on one thread
TRAINED = [
    ("bayesian", 1212289566),
    ("mixed", 667585781),  # the optimum is a supremum (the follower indifferent at the LP point)
    ("allocation", 375370357),
    ("spm_messages", 349295564),
    ("direct_fee", 403439625),
]


@pytest.mark.parametrize("family,seed", TRAINED, ids=[f for f, _ in TRAINED])
def test_defaults_reach_the_exact_optimum(family, seed, one_thread):
    ir = compile_text(generate_seeded(family, seed), f"{family}-{seed}")
    sol = solve(ir)
    assert sol.value is not None
    run = train(config_for(ir, {"seed": 0, "seeds": 1, "threads": 1}), ir).runs[0]
    lo, hi = ir.objective_bounds
    assert run.value >= sol.value - 0.01 * (hi - lo), (run.value, sol.value, run.stopped)
    assert run.value <= sol.value + 1e-9 * max(1.0, hi - lo)  # nothing beats the optimum
