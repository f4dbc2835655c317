"""What an operator configures for the image-text plug-in (`settings.IMAGE_TEXT`).

Every file is pinned by its sha256, checked before it is loaded, so a swapped or half-copied
file never runs. The input spec says how crops are fed to the image encoder; the defaults are
OpenAI CLIP's (224 x 224, RGB, pixel / 255 then CLIP's mean and std), so a CLIP ViT-B/32 export
needs only its paths, hashes and dimension.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="Lowercase hex sha256.")]
Triple = tuple[float, float, float]


class PinnedFile(BaseModel):
    """A file the plug-in loads, with the sha256 it must have."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Field(description="Where the file is, on every embed worker and web process.")
    sha256: Sha256


class ImageTextSettings(BaseModel):
    """The image-text model pair, its tokenizer and how to feed them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_encoder: PinnedFile = Field(
        description="ONNX image encoder: float32 NCHW [batch, 3, height, width] in, "
        "float32 [batch, dimension] out (normalised here, so raw embeddings are fine)."
    )
    text_encoder: PinnedFile = Field(
        description="ONNX text encoder: int64 [batch, sequence] token ids (and, when "
        "`text_attention_mask` is set, the int64 attention mask) in, float32 [batch, "
        "dimension] out."
    )
    tokenizer: PinnedFile = Field(
        description="The text encoder's tokenizer as a `tokenizers` library tokenizer.json."
    )
    dimension: int = Field(ge=1, le=4096, description="Length of both encoders' vectors.")
    width: int = Field(default=224, ge=8, le=1024, description="Image input width (pixels).")
    height: int = Field(default=224, ge=8, le=1024, description="Image input height (pixels).")
    colour_order: Literal["RGB", "BGR"] = Field(
        default="RGB", description="Channel order the image encoder expects."
    )
    mean: Triple = Field(
        default=(0.48145466, 0.4578275, 0.40821073),
        description="Per-channel mean subtracted after scaling pixels to [0, 1], in "
        "`colour_order`.",
    )
    std: Triple = Field(
        default=(0.26862954, 0.26130258, 0.27577711),
        description="Per-channel std divided by after subtracting `mean`, in `colour_order`.",
    )
    resize: Literal["stretch"] = Field(
        default="stretch",
        description="How a crop becomes width x height: stretched whole (a centre crop would "
        "cut a standing person's head and feet off).",
    )
    image_input: str = Field(default="pixel_values", description="Image encoder input name.")
    text_input_ids: str = Field(default="input_ids", description="Text encoder ids input name.")
    text_attention_mask: str | None = Field(
        default="attention_mask",
        description="Text encoder attention mask input name; None when it takes only ids.",
    )
    max_tokens: int = Field(
        default=77, ge=2, le=512, description="Token ids per text, padded and truncated to this."
    )
    collection_suffix: str = Field(
        default="ImageText",
        pattern=r"^[A-Z][A-Za-z0-9]*$",
        description="The image vectors' collection: the configured vector collection's name "
        "plus this (`cloud.backends.vector_collection`).",
    )
    threads: int = Field(default=1, ge=1, description="ONNX Runtime intra-op threads.")
    batch_size: int = Field(default=16, ge=1, description="Most crops per image encoder run.")
