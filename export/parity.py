"""Output parity between two runs of one model on the same inputs (source vs ONNX, FP16 vs INT8).

Public surface: `Tolerance`, `OutputParity`, `ParityReport`, `compare` and `row_cosines`.

Two measures per output, because each misses what the other sees: the largest absolute
difference catches a single wrong value (an off-by-one pad, a mis-folded bias on one channel),
and the lowest per-sample cosine catches a small but systematic drift spread over every value
(a wrong normalisation constant), independent of the output's scale.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class Tolerance(BaseModel):
    """How close the candidate's outputs must be to the reference's."""

    model_config = _FROZEN

    max_abs: float = Field(
        default=1e-3,
        gt=0,
        description="Largest absolute difference allowed in any value of any output. FP32 "
        "ONNX Runtime against FP32 PyTorch differs by about 1e-5 on MobileNetV2's raw features.",
    )
    min_cosine: float = Field(
        default=0.9999,
        gt=0,
        le=1,
        description="Lowest cosine similarity allowed between a sample's reference and candidate "
        "output (each sample's output flattened).",
    )


class OutputParity(BaseModel):
    """One output's agreement over every sample."""

    model_config = _FROZEN

    name: str = Field(description="output name")
    shape: tuple[int, ...] = Field(description="shape of the compared array, batch first")
    max_abs: float = Field(description="largest absolute difference of any value")
    min_cosine: float = Field(description="lowest per-sample cosine similarity")
    passed: bool = Field(description="both within the tolerance")


class ParityReport(BaseModel):
    """Source against candidate on real inputs, output by output."""

    model_config = _FROZEN

    reference: str = Field(description='what gave the reference outputs, e.g. "torch 2.15.0 cpu"')
    candidate: str = Field(description='what gave the compared ones, e.g. "onnxruntime 1.23"')
    inputs: str = Field(description="which real images were fed")
    samples: int = Field(ge=1, description="how many images")
    tolerance: Tolerance
    outputs: tuple[OutputParity, ...]

    @property
    def passed(self) -> bool:
        """Every output within the tolerance."""
        return all(output.passed for output in self.outputs)

    def summary(self) -> str:
        """One line per output, for the command's output and error messages."""
        return "\n".join(
            f"  {o.name} {list(o.shape)}: max abs diff {o.max_abs:.3g} "
            f"(<= {self.tolerance.max_abs:g}), min cosine {o.min_cosine:.6f} "
            f"(>= {self.tolerance.min_cosine:g}) {'ok' if o.passed else 'FAILED'}"
            for o in self.outputs
        )


def row_cosines(reference: npt.ArrayLike, candidate: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Cosine similarity of each sample (axis 0) of two same-shaped arrays, values flattened.

    Two all-zero samples agree (1.0); one all-zero sample against a non-zero one does not (0.0).
    """
    a = np.asarray(reference, np.float64)
    b = np.asarray(candidate, np.float64)
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    both_zero = ~a.any(axis=1) & ~b.any(axis=1)
    dots = np.einsum("ij,ij->i", a, b)
    cosines: npt.NDArray[np.float64] = np.divide(
        dots, norms, out=np.zeros_like(dots), where=norms > 0
    )
    cosines[both_zero] = 1.0
    return cosines


def compare(
    reference: Mapping[str, npt.NDArray[np.generic]],
    candidate: Mapping[str, npt.NDArray[np.generic]],
    tolerance: Tolerance,
) -> tuple[OutputParity, ...]:
    """Each output of `reference` against the same-named output of `candidate`.

    Raises `ValueError` when the candidate lacks an output or gives another shape: that is a
    broken export, not a tolerance question.
    """
    results = []
    for name, expected in reference.items():
        if name not in candidate:
            raise ValueError(f"the candidate has no output {name!r} (it has {sorted(candidate)})")
        got = np.asarray(candidate[name])
        if got.shape != expected.shape:
            raise ValueError(f"output {name!r}: shape {got.shape}, expected {expected.shape}")
        difference = np.abs(np.asarray(expected, np.float64) - got.astype(np.float64))
        max_abs = float(difference.max()) if difference.size else 0.0
        if not np.isfinite(max_abs):
            max_abs = float("inf")
        min_cosine = float(row_cosines(expected, got).min()) if len(got) else 1.0
        results.append(
            OutputParity(
                name=name,
                shape=tuple(int(n) for n in expected.shape),
                max_abs=max_abs,
                min_cosine=min_cosine,
                passed=max_abs <= tolerance.max_abs and min_cosine >= tolerance.min_cosine,
            )
        )
    return tuple(results)
