"""Small seeded models for the PyTorch client tests."""

from __future__ import annotations

import torch
from torch import nn

torch.set_num_threads(1)


class TinyCNN(nn.Module):
    """Conv -> BatchNorm -> Conv -> Linear -> Linear on 1x8x8 inputs (BatchNorm has buffers)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.fc1 = nn.Linear(8 * 4 * 4, 24)
        self.fc2 = nn.Linear(24, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv1(x)))
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def tiny_cnn(seed: int = 0) -> TinyCNN:
    """A TinyCNN with seeded weights and non-trivial BatchNorm statistics, in train mode."""
    torch.manual_seed(seed)
    model = TinyCNN()
    with torch.no_grad():
        model(torch.randn(32, 1, 8, 8))  # updates running stats
    return model.train()


def mlp(seed: int = 0) -> nn.Sequential:
    """A seeded 3-layer MLP on 16 features."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4)
    )
