"""Fixtures of the PyTorch client tests: seeded models and calibration batches."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from ._models import TinyCNN, tiny_cnn  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def cnn() -> TinyCNN:
    return tiny_cnn()


@pytest.fixture
def images() -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(32, 1, 8, 8, generator=gen) for _ in range(2)]


@pytest.fixture
def features() -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(2)
    return [torch.randn(64, 16, generator=gen)]
