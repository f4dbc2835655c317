"""The crop embedder: JPEG crops in, unit-length appearance vectors out (ONNX Runtime, CPU).

Public surface: `EmbedderSettings`, `CropEmbedder`, `load_crop_embedder(settings)` and
`decode_jpeg(data, max_pixels=...)`. A crop's vector (`cloud.embeddings.crop_vector`) joins the
MobileNetV2 network's features (`models/mobilenetv2-stripes.toml`: an upright 128 x 256 input,
pooled by horizontal band), sketched short, with the colours of its horizontal stripes
(`cloud.embeddings.colour_parts`): the network alone ranks other people above the same person
about half the time on vtest.avi (`tests/bench/bench_retrieval.py`). How a crop is fed to the
network (size, colour order, mean and std) comes from the model's manifest in `models/`, never
from constants here, so a rebuilt model with another input spec cannot be fed the old way by
mistake.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from cloud.embeddings import crop_vector
from cloud.embeddings.colour_parts import colour_parts
from cloud.embeddings.spec import (
    CROP_EMBEDDING_DIMENSION,
    CROP_MODEL_NAME,
    DEFAULT_MAX_CROP_PIXELS,
)
from cloud.errors import InvalidInput
from cloud.lib.jpeg import JpegHeaderError, read_jpeg_size
from cloud.lib.onnx_runtime import check_pinned, cpu_session
from models.cache import built_model
from models.errors import ModelError
from models.manifest import RuntimeManifest, manifest_path, read_runtime_manifest

logger = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
"""A decoded crop: height x width x 3, BGR, as OpenCV returns it."""
Vectors = npt.NDArray[np.float32]


class EmbedderSettings(BaseModel):
    """How an `embed` worker runs the crop embedder (`settings.EMBEDDER`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_path: Path | None = Field(
        default=None,
        description="ONNX file of the crop model; None finds the built model in "
        "SIGHTLINE_CACHE_DIR. Its sha256 must match the manifest either way.",
    )
    threads: int = Field(
        default=1,
        ge=1,
        description="ONNX Runtime intra-op threads per worker process. Keep threads x worker "
        "concurrency at or below the cores, or processes fight over them.",
    )
    batch_size: int = Field(
        default=32,
        ge=1,
        description="Most crops per model run; a shorter run is padded to the next power of two.",
    )
    max_crop_pixels: int = Field(
        default=DEFAULT_MAX_CROP_PIXELS,
        ge=1,
        description="Largest crop (width x height, as its JPEG header declares) the worker "
        "decodes; a larger one is refused unread, as a decoder would allocate it whole.",
    )


class UnreadableCrop(InvalidInput):
    """The stored bytes are not a JPEG that the worker may decode; embedding it can never
    succeed."""


def decode_jpeg(data: bytes, *, max_pixels: int = DEFAULT_MAX_CROP_PIXELS) -> Image:
    """Decode JPEG bytes into a BGR image; raise `UnreadableCrop` when they do not decode.

    The size the JPEG's header declares is checked first, without decoding: a crop of more
    than `max_pixels` is refused, because the decoder would allocate all of it, and a few
    crafted bytes could otherwise exhaust the worker's memory. Other formats are refused
    unread too (OpenCV would decode PNG, TIFF, WebP, ... whose headers are not checked).
    """
    try:
        read_jpeg_size(data, max_pixels=max_pixels)
    except JpegHeaderError as err:
        raise UnreadableCrop(f"crop refused unread: {err}") from err
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise UnreadableCrop("crop does not decode as an image")
    return np.asarray(image, dtype=np.uint8)


class CropEmbedder:
    """Runs the crop model on batches of decoded crops. Not thread-safe: one per worker process.

    The model file is checked against the manifest's sha256 before it is loaded, the shape of
    the model's output per crop against `output_shape` (by default the one `crop_vector` is laid
    out for), and the crop vector's length against `CROP_EMBEDDING_DIMENSION`, which the vector
    store was built with.
    """

    def __init__(
        self,
        model_path: Path,
        manifest: RuntimeManifest,
        *,
        threads: int = 1,
        batch_size: int = 32,
        max_crop_pixels: int = DEFAULT_MAX_CROP_PIXELS,
        output_shape: tuple[int, ...] = (crop_vector.STRIPES, crop_vector.NETWORK_DIMENSION),
    ) -> None:
        """Verify and load the model, then warm it up.

        Raises `models.errors.ModelError` when the file differs from the manifest or the model
        needs an input this embedder cannot make.
        """
        spec = manifest.input
        if (spec.layout, spec.dtype, spec.resize) != ("NCHW", "float32", "stretch") or (
            spec.color is None or spec.mean is None or spec.std is None or len(spec.shape) != 4
        ):
            raise ModelError(
                f"{manifest.name}: the embedder feeds stretched NCHW float32 images with a "
                f"colour order, mean and std; the manifest asks for {spec}"
            )
        height, width = spec.shape[2], spec.shape[3]
        if not isinstance(height, int) or not isinstance(width, int):
            raise ModelError(f"{manifest.name}: the input height and width must be fixed")
        check_pinned(model_path, manifest)
        # The web process embeds uploads too; workers run nothing else, but the spinning
        # threads of several worker processes would take the cores from each other.
        self._session = cpu_session(model_path, threads=threads, spinning=False)
        self._input = spec.name
        self._size = (width, height)
        self._rgb = spec.color == "RGB"
        self._mean = np.array(spec.mean, dtype=np.float32)
        self._std = np.array(spec.std, dtype=np.float32)
        self._batch_size = batch_size
        self._output_shape = output_shape
        self.max_crop_pixels = max_crop_pixels
        """Largest crop `decode_jpeg` should decode for this embedder (`EmbedderSettings`)."""
        # The first run of a shape allocates ONNX Runtime's buffers and picks kernels, which
        # takes several times longer than a normal run; running every shape `embed` uses here
        # keeps that out of a task.
        for rows in _run_sizes(batch_size):
            output = self._run(np.zeros((rows, 3, height, width), dtype=np.float32))
            if output.shape != (rows, *output_shape):
                raise ModelError(
                    f"{manifest.name} outputs {output.shape[1:]} values per crop, but "
                    f"{output_shape} are expected"
                )
        if crop_vector.DIMENSION != CROP_EMBEDDING_DIMENSION:
            raise ModelError(
                f"crop vectors have {crop_vector.DIMENSION} values, but the vector store "
                f"expects {CROP_EMBEDDING_DIMENSION}"
            )
        logger.info("loaded crop embedder %s %s", manifest.name, manifest.version)

    def preprocess(self, image: Image) -> npt.NDArray[np.float32]:
        """Turn a BGR crop into the model's input for one item: 3 x height x width float32."""
        resized = cv2.resize(image, self._size, interpolation=cv2.INTER_LINEAR)
        if self._rgb:
            resized = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
        normalised = (resized.astype(np.float32) - self._mean) / self._std
        chw: npt.NDArray[np.float32] = normalised.transpose(2, 0, 1)
        return chw

    def embed(self, images: Sequence[Image]) -> Vectors:
        """Return one unit-length crop vector per crop (rows in input order),
        `len(images)` x `CROP_EMBEDDING_DIMENSION`."""
        return crop_vector.compose(self.network_vectors(images), colour_parts(images))

    def network_vectors(self, images: Sequence[Image]) -> npt.NDArray[np.float32]:
        """The network's own output per crop (rows in input order; `output_shape` each).

        Crops are run `batch_size` at a time; a short run is padded with zeros to the next
        power of two, so that ONNX Runtime sees only the few shapes the warm-up ran, and a lone
        crop (the common case when crops trickle in) costs one crop's run, not a whole batch's.
        """
        vectors = np.empty((len(images), *self._output_shape), dtype=np.float32)
        for start in range(0, len(images), self._batch_size):
            chunk = images[start : start + self._batch_size]
            rows = min(self._batch_size, 1 << (len(chunk) - 1).bit_length())
            batch = np.zeros((rows, 3, self._size[1], self._size[0]), np.float32)
            for row, image in enumerate(chunk):
                batch[row] = self.preprocess(image)
            vectors[start : start + len(chunk)] = self._run(batch)[: len(chunk)]
        return vectors

    def _run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        (output,) = self._session.run(None, {self._input: batch})
        result: npt.NDArray[np.float32] = np.asarray(output, dtype=np.float32)
        return result


def _run_sizes(batch_size: int) -> list[int]:
    """The batch shapes `CropEmbedder.embed` runs: powers of two below `batch_size`, and it."""
    sizes = [
        1 << exponent for exponent in range(batch_size.bit_length()) if 1 << exponent < batch_size
    ]
    return [*sizes, batch_size]


def load_crop_embedder(settings: EmbedderSettings) -> CropEmbedder:
    """Build the crop embedder from its manifest and the configured (or cached) model file.

    Raises `models.errors.ModelError`: `ModelNotBuiltError` naming the build command when no path
    is set and the model is not in the cache, and the base class when the file does not match
    the manifest.
    """
    manifest = read_runtime_manifest(manifest_path(CROP_MODEL_NAME))
    path = settings.model_path or built_model(manifest)
    return CropEmbedder(
        path,
        manifest,
        threads=settings.threads,
        batch_size=settings.batch_size,
        max_crop_pixels=settings.max_crop_pixels,
    )
