"""Assertions several test files share."""
from __future__ import annotations

import random
import subprocess
import time
from typing import Callable

import torch


def assert_matches_reference(ir, draws: int = 3, seed: int = 0) -> None:
    """The batched evaluator agrees with the slow tree-walking reference on random pure
    leader policies."""
    from mechdsl.compiler.reference import reference_evaluate
    from mechdsl.evaluate import Policy, Tables, evaluate

    rng = random.Random(seed)
    for _ in range(draws):
        action = [rng.choice([k for k, ok in enumerate(row) if ok]) for row in ir.legal]
        U, V = reference_evaluate(ir, action)
        pay = evaluate(Tables(ir), Policy(action=torch.tensor([action])))
        assert torch.allclose(pay.U[0], torch.tensor(U, dtype=torch.float64), atol=1e-12)
        assert torch.allclose(pay.V[0], torch.tensor(V, dtype=torch.float64), atol=1e-12)


def interrupt_when(proc: subprocess.Popen, ready: Callable[[], bool], what: str, signal_to_send,
                   timeout: float = 300) -> tuple[str, str]:
    """Wait (at most `timeout` s) until `ready()`, send the signal, and return the
    process's output once it has exited."""
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"no {what} within {timeout:g} s"
            time.sleep(0.05)
        proc.send_signal(signal_to_send)
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
