"""Small torch models for `python -m export onnx` tests, given as `module:factory`.

Seeded random weights: what is tested is the export and its checks, not what they detect.
"""

from __future__ import annotations

import torch
from torch import nn


class Detector(nn.Module):
    """A two-head "detector": per-cell class scores and box values, flattened like NanoDet's."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU6(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU6(),
        )  # fmt: skip
        self.scores = nn.Conv2d(16, 4, 1)
        self.boxes = nn.Conv2d(16, 8, 1)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(images)
        scores = torch.sigmoid(self.scores(features)).flatten(2).transpose(1, 2)
        return {"scores": scores, "box_logits": self.boxes(features).flatten(2).transpose(1, 2)}


class Embedder(nn.Module):
    """Conv, global mean, unit length."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 32, 3, stride=2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(torch.relu(self.conv(images)).mean(dim=(2, 3)), dim=1)


class FixedBatch(Embedder):
    """Reshapes with a batch size written in: exports, but for batches of 2 only."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return super().forward(images).reshape(2, -1)


class Branching(Embedder):
    """Data-dependent Python control flow: tracing keeps the branch the example input took."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        embedding = super().forward(images)
        return embedding * 2 if bool(images.mean() > 0) else embedding


def _seeded(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for parameter in model.parameters():
        nn.init.normal_(parameter, std=0.2)
    return model.eval()


def detector() -> nn.Module:
    """`tests.export.tiny_models:detector`."""
    return _seeded(Detector())


def embedder() -> nn.Module:
    """`tests.export.tiny_models:embedder`."""
    return _seeded(Embedder())


def fixed_batch() -> nn.Module:
    """`tests.export.tiny_models:fixed_batch`."""
    return _seeded(FixedBatch())


def branching() -> nn.Module:
    """`tests.export.tiny_models:branching`."""
    return _seeded(Branching())


def not_a_module() -> object:
    """A factory that returns something else."""
    return object()
