"""Golden tests: the IR shape of every paper spec, pinned in tests/golden/*.json.

Regenerate after an intended change with ``MECHDSL_REGOLD=1 pytest tests/test_ir.py``
and review the diff.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import mechdsl
from mechdsl.compiler.ir import GameIR

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden"
PAPER = sorted((ROOT / "specs" / "paper").glob("*.mech"))
CASES = [(p, {}) for p in PAPER] + [
    (ROOT / "specs/paper/allocation.mech", {"messages": "1"}),
    (ROOT / "specs/paper/allocation.mech", {"messages": "2"}),
    (ROOT / "specs/paper/spm_messages.mech", {"messages": "1"}),
]


def shape(ir: GameIR) -> dict:
    """The parts of the IR a change must not move silently."""
    return {
        "type_counts": ir.type_counts,
        "type_labels": [f.type_labels for f in ir.model.followers],
        "prior": [round(p, 12) for p in ir.prior],
        "action_labels": [f.action_labels for f in ir.model.followers],
        "classes": ir.class_labels,
        "n_actions": ir.n_actions,
        "mixed": ir.mixed,
        "price_grid": ir.price_grid,
        "infosets": [[s.kind, s.label, sum(ir.legal[s.id])] for s in ir.infosets],
        "choose_actions": len(ir.choose_actions),
        "round_actions": len(ir.round_actions),
    }


def _name(path: Path, sets: dict) -> str:
    extra = "".join(f"_{k}{v}" for k, v in sorted(sets.items()))
    return f"{path.stem}{extra}"


@pytest.mark.parametrize("path,sets", CASES, ids=[_name(p, s) for p, s in CASES])
def test_golden_shape(path: Path, sets: dict) -> None:
    ir = mechdsl.compile(mechdsl.load(str(path), sets))
    got = shape(ir)
    gold = GOLDEN / f"{_name(path, sets)}.json"
    if os.environ.get("MECHDSL_REGOLD") or not gold.exists():
        GOLDEN.mkdir(exist_ok=True)
        gold.write_text(json.dumps(got, indent=1) + "\n")
        if not os.environ.get("MECHDSL_REGOLD"):
            pytest.fail(f"wrote missing golden file {gold.name}; review and commit it")
    assert got == json.loads(gold.read_text())


@pytest.mark.parametrize("path", sorted((ROOT / "specs").rglob("*.mech")), ids=lambda p: p.stem)
def test_json_round_trip_and_hash(path: Path) -> None:
    ir = mechdsl.compile(mechdsl.load(str(path)))
    back = GameIR.from_json(ir.to_json())
    assert back == ir
    assert back.content_hash() == ir.content_hash()
    moved = ir.model_copy(update={"model": ir.model.model_copy(update={"path": "/elsewhere/x.mech"})})
    assert moved.content_hash() == ir.content_hash()


@pytest.mark.parametrize("path", sorted((ROOT / "specs").rglob("*.mech")), ids=lambda p: p.stem)
def test_plain_dump_is_pydantics(path: Path, monkeypatch) -> None:
    """`plain()` (the hash of a small IR, read without building pydantic's schemas) is
    `model_dump(mode="json")`, and the hash is the same whichever way it is dumped."""
    from mechdsl.compiler import ir as ir_module

    ir = mechdsl.compile(mechdsl.load(str(path)))
    assert json.dumps(ir.plain()) == json.dumps(ir.model_dump(mode="json"))
    small = ir.content_hash()
    monkeypatch.setattr(ir_module, "PLAIN_DUMP_SIZE", 0)
    assert ir.content_hash() == small


def test_paper_shapes_by_hand() -> None:
    """A few facts read straight off the paper, independent of the golden files."""
    spm = mechdsl.compile(mechdsl.load(str(ROOT / "specs/paper/spm_messages.mech")))
    assert spm.type_counts == [2, 2] and spm.action_counts == [2, 2]
    assert spm.price_grid == pytest.approx([0, 0.25, 0.75, 1.75])
    assert len(spm.class_labels) == 4
    # per message profile: one first-round set and one second-round set per first agent
    assert spm.n_infosets == 4 * 3
    alloc = mechdsl.compile(mechdsl.load(str(ROOT / "specs/paper/allocation.mech"), {"messages": "2"}))
    assert alloc.type_counts == [3] and alloc.action_counts == [2]
    assert alloc.n_infosets == 2 and alloc.n_actions == 3
    md = mechdsl.compile(mechdsl.load(str(ROOT / "specs/paper/matrix_design.mech")))
    assert md.action_counts == [2, 2] and md.n_infosets == 1 and md.n_actions == 11
    mixed = mechdsl.compile(mechdsl.load(str(ROOT / "specs/paper/maintain_mixed.mech")))
    assert mixed.mixed and mixed.n_actions == 3
