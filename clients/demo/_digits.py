"""scikit-learn's bundled digits (8x8, nothing downloaded), a small CNN and MLP, train and test."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["Digits", "DigitsCNN", "DigitsMLP", "accuracy", "load_digits", "train"]


@dataclass(frozen=True)
class Digits:
    """Train/test split of the digits: images ``(N, 1, 8, 8)`` in [0, 1], labels ``(N,)``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def calibration(self, n_batches: int = 2, batch_size: int = 128) -> list[torch.Tensor]:
        """The first ``n_batches * batch_size`` training images in batches (inputs only)."""
        return [self.x_train[i * batch_size : (i + 1) * batch_size] for i in range(n_batches)]


def load_digits(seed: int = 0, test_fraction: float = 0.3) -> Digits:
    """The 1,797 digits of ``sklearn.datasets.load_digits``, split by a seeded permutation."""
    from sklearn.datasets import load_digits as sk_load_digits

    data = sk_load_digits()
    x = torch.tensor(data.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(data.target, dtype=torch.int64)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(y)))
    n_test = round(len(y) * test_fraction)
    test, train_ = order[:n_test], order[n_test:]
    return Digits(x[train_], y[train_], x[test], y[test])


class DigitsCNN(nn.Module):
    """Three 3x3 convolutions (16, 32, 64 channels, two max-pools) and two linear layers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 2 * 2, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv3(x)), 2)
        out: torch.Tensor = self.fc2(torch.relu(self.fc1(x.flatten(1))))
        return out


class DigitsMLP(nn.Module):
    """64 -> 256 -> 128 -> 10 with ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.fc1(x.flatten(1)))
        out: torch.Tensor = self.fc3(torch.relu(self.fc2(x)))
        return out


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    lr: float = 3e-3,
    batch_size: int = 64,
    seed: int = 0,
) -> nn.Module:
    """Adam on cross-entropy, seeded shuffles; works on masked models (masks stay applied)."""
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
    model.eval()
    return model


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy in eval mode."""
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).double().mean())
