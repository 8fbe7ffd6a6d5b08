"""Shared test fixtures."""
import pytest
import torch


@pytest.fixture
def one_thread():
    """Small tensors, many ops: one intra-op thread (as the solver itself uses)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)
