"""Export a user's PyTorch detector or embedder to ONNX and prove the file runs like the source.

Public surface: `ExportRequest`, `ExportReport`, `export_to_onnx`, `ExportError`.

The model is given as a `module:factory` callable (called with no arguments; an optional
`state_dict` file is then loaded into it strictly) or as a TorchScript file. It is exported with
a symbolic batch axis at a recorded opset, then checked three ways before it is accepted:

1. the ONNX checker and strict shape inference (`export.onnx_checks`): every output's shape
   known, the batch axis symbolic;
2. ONNX Runtime (CPU) against the source model on real images, fed exactly as the runtime feeds
   them (`export.samples`): whole vtest.avi frames for a detector (its raw head outputs are
   compared, before any decoding), person crops for an embedder (its embeddings), all in one
   batch of several, which also proves the batch axis works;
3. both measures of `export.parity` within the stated tolerance.

A file that fails is deleted and the report (JSON, beside where the file was) says why. Torch is
imported only here, inside the functions: it is export tooling (docs/architecture.md,
"Dependency directions"), installed by the `torch` extra.

The exporter is torch's TorchScript-based one (`dynamo=False`): it exports TorchScript files as
well as modules, and at opset 17, the newest TensorRT 8.5 (JetPack 5) parses, where the
torch.export-based one starts at opset 18 and needs onnxscript.
"""

from __future__ import annotations

import importlib
import logging
import re
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from export.onnx_checks import OPSET_KEY, GraphReport, OnnxCheckError, check_graph, record_metadata
from export.onnx_graph import OPSET
from export.parity import ParityReport, Tolerance, compare
from export.samples import VTEST, frame_count, load_samples, stack_inputs
from models.cache import sha256_file
from models.manifest import InputSpec

logger = logging.getLogger(__name__)

Task = Literal["detector", "embedder"]
Progress = Callable[[str], None]

_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
# What torch's TorchScript-based exporter says about itself on every call since 2.9; the choice
# is deliberate (see the module docstring), so these are not about the model and are dropped.
_EXPORTER_DEPRECATIONS = (
    r"You are using the legacy TorchScript-based ONNX export",
    r"The feature will be removed",
)


class ExportError(Exception):
    """The model cannot be loaded, exported or accepted; the message says which and why."""


class ExportRequest(BaseModel):
    """What to export and how to check it (the options of `python -m export onnx`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    factory: str | None = Field(
        default=None,
        description='"module:function" returning the torch.nn.Module (module importable from '
        "the current directory or the environment)",
    )
    weights: Path | None = Field(
        default=None, description="state_dict file loaded strictly into the factory's module"
    )
    torchscript: Path | None = Field(default=None, description="a torch.jit.save file instead")
    task: Task = Field(description="detector (frames, raw heads) or embedder (crops)")
    input: InputSpec = Field(description="input name, [batch, 3, H, W] and how images are fed")
    output_names: tuple[str, ...] | None = Field(
        default=None,
        description="names of the outputs in order; default: a dict's keys, else output, "
        "output_1, ...",
    )
    opset: int = Field(default=OPSET, ge=13, description="ai.onnx opset to export at")
    out: Path = Field(description="the ONNX file to write")
    video: Path = Field(default=VTEST, description="real footage for the parity check")
    samples: int = Field(default=8, ge=2, le=64, description="frames or crops compared")
    tolerance: Tolerance = Field(default_factory=Tolerance)
    device: str = Field(default="cpu", description='where the source model runs: "cpu", "cuda"')

    @model_validator(mode="after")
    def _one_source(self) -> ExportRequest:
        if (self.factory is None) == (self.torchscript is None):
            raise ValueError("give exactly one of a factory and a TorchScript file")
        if self.factory is not None and not _FACTORY.match(self.factory):
            raise ValueError(f"factory {self.factory!r} is not module:function")
        if self.weights is not None and self.factory is None:
            raise ValueError("weights go with a factory (a TorchScript file holds its own)")
        return self

    @property
    def source(self) -> str:
        """The factory, or the TorchScript file."""
        return self.factory if self.factory is not None else str(self.torchscript)

    @property
    def report_path(self) -> Path:
        """Where the JSON report goes: beside the ONNX file."""
        return self.out.with_name(f"{self.out.name}.report.json")


class ExportReport(BaseModel):
    """What was exported, with what, and how it checked out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    onnx: Path = Field(description="the file (deleted when the parity check failed)")
    sha256: str = Field(description="of the file as checked")
    source: str = Field(description="factory or TorchScript file")
    weights_sha256: str | None = Field(description="of the state_dict file, when one was given")
    task: Task
    torch_version: str
    opset: int = Field(description="also in the file's metadata_props as " + OPSET_KEY)
    export_warnings: tuple[str, ...] = Field(
        description="what the exporter warned about this model (a TracerWarning marks "
        "data-dependent code that the trace may have fixed to one branch)"
    )
    graph: GraphReport
    parity: ParityReport

    @property
    def passed(self) -> bool:
        """The parity check passed (the static checks raise instead)."""
        return self.parity.passed


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as err:
        raise ExportError(
            "exporting a PyTorch model needs torch: uv sync --extra export --extra torch"
        ) from err
    return torch


def load_module(request: ExportRequest) -> Any:
    """The source model in eval mode on the CPU. Raises `ExportError` with the cause."""
    torch = _import_torch()
    if request.torchscript is not None:
        try:
            with warnings.catch_warnings():
                # Deprecated from torch 2.15 on, but such files are what many users hold.
                warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", FutureWarning)
                module = torch.jit.load(str(request.torchscript), map_location="cpu")
        except (RuntimeError, ValueError, OSError) as err:
            raise ExportError(f"{request.torchscript}: not a TorchScript file: {err}") from err
        return module.eval()
    module_name, _, function_name = str(request.factory).partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as err:
        raise ExportError(f"factory {request.factory} cannot be loaded: {err}") from err
    module = factory()
    if not isinstance(module, torch.nn.Module):
        raise ExportError(
            f"factory {request.factory} returned {type(module).__name__}, not a torch.nn.Module"
        )
    if request.weights is not None:
        try:
            state = torch.load(str(request.weights), map_location="cpu", weights_only=True)
            module.load_state_dict(state, strict=True)
        except (RuntimeError, ValueError, OSError, TypeError) as err:
            raise ExportError(f"{request.weights} does not load into the model: {err}") from err
    return module.eval()


def _flatten(outputs: object, torch: Any) -> tuple[list[Any], list[str] | None]:
    """The model's output tensors in order, and the names a dict output gives them."""
    if isinstance(outputs, torch.Tensor):
        return [outputs], None
    if isinstance(outputs, Mapping):
        return list(outputs.values()), [str(key) for key in outputs]
    if isinstance(outputs, Sequence) and all(isinstance(o, torch.Tensor) for o in outputs):
        return list(outputs), None
    raise ExportError(
        f"the model returns {type(outputs).__name__}: a tensor, a tuple or list of tensors, or a "
        "dict of tensors is needed"
    )


def output_names(
    count: int, given: Sequence[str] | None, from_dict: Sequence[str] | None
) -> list[str]:
    """Names for `count` outputs: those `given`, else a dict's keys, else output, output_1, ..."""
    default = ["output", *(f"output_{i}" for i in range(1, count))]
    names = list(given or from_dict or default)
    if len(names) != count or len(set(names)) != count:
        raise ExportError(f"the model has {count} outputs; output names {names} do not fit")
    return names


def run_source(
    module: Any, batch: npt.NDArray[np.float32], device: str
) -> tuple[list[npt.NDArray[Any]], list[str] | None]:
    """The source model's outputs on `batch` as numpy arrays, run on `device`, and the names a
    dict output gives them.

    TF32 is turned off on CUDA: it rounds convolution inputs to 10 mantissa bits, which would be
    measured as export error.
    """
    torch = _import_torch()
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    module = module.to(device)
    with torch.inference_mode():
        outputs, names = _flatten(module(torch.from_numpy(batch).to(device)), torch)
    module.to("cpu")
    return [output.detach().float().cpu().numpy() for output in outputs], names


def _export(module: Any, request: ExportRequest, names: list[str]) -> list[str]:
    """Write the ONNX file; return the warnings the exporter gave about this model."""
    torch = _import_torch()
    height, width = request.input.shape[2], request.input.shape[3]
    # Two samples, so that nothing can be specialised to a batch of one while tracing.
    example = torch.zeros((2, 3, height, width), dtype=torch.float32)
    request.out.parent.mkdir(parents=True, exist_ok=True)
    # Recorded, not raised or printed: a TracerWarning ("converting a tensor to a Python
    # boolean...") says the trace may hold one branch of data-dependent code; the parity check
    # on real images then shows whether it matters, and the report keeps the warning.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.onnx.export(
            module,
            (example,),
            str(request.out),
            dynamo=False,
            opset_version=request.opset,
            input_names=[request.input.name],
            output_names=names,
            dynamic_axes={name: {0: "batch"} for name in [request.input.name, *names]},
            do_constant_folding=True,
        )
    found = {str(w.message) for w in caught}
    return sorted(m for m in found if not any(re.match(d, m) for d in _EXPORTER_DEPRECATIONS))


def run_onnx(path: Path, input_name: str, batch: npt.NDArray[np.float32]) -> dict[str, Any]:
    """The ONNX file's outputs on `batch` with ONNX Runtime's CPU provider, keyed by name."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(names, {input_name: batch}), strict=True))


def export_to_onnx(request: ExportRequest, progress: Progress = logger.info) -> ExportReport:
    """Export, check and compare (module docstring); write the report beside the file.

    Returns the report whether or not parity passed (a failed file is deleted first); raises
    `ExportError` when the model cannot be loaded or exported and `OnnxCheckError` when the
    file fails the static checks (the file is deleted then too).
    """
    import onnxruntime

    torch = _import_torch()
    started = time.perf_counter()
    module = load_module(request)
    frames = request.samples if request.task == "detector" else 0
    crops = request.samples if request.task == "embedder" else 0
    stop = frame_count(request.video)
    samples = load_samples(request.video, frames=frames, crops=crops, first=0, stop=stop)
    batch = stack_inputs(samples.images, request.input)
    progress(f"running the source model on {len(batch)} real {'frames' if frames else 'crops'}")
    reference, dict_names = run_source(module, batch, request.device)
    names = output_names(len(reference), request.output_names, dict_names)
    progress(f"exporting {request.source} to {request.out} (opset {request.opset})")
    export_warnings = _export(module, request, names)
    for warning in export_warnings:
        logger.warning("exporter: %s", warning)
    record_metadata(
        request.out,
        {
            OPSET_KEY: str(request.opset),
            "sightline.task": request.task,
            "sightline.source": request.source,
            "sightline.exporter": f"torch {torch.__version__} (TorchScript-based)",
        },
    )
    try:
        graph = check_graph(request.out)
    except OnnxCheckError:
        request.out.unlink(missing_ok=True)
        raise
    progress("comparing ONNX Runtime with the source model")
    candidate = run_onnx(request.out, request.input.name, batch)
    what = "frames" if frames else "HOG person crops"
    parity = ParityReport(
        reference=f"torch {torch.__version__} {request.device}",
        candidate=f"onnxruntime {onnxruntime.__version__} cpu",
        inputs=f"{len(batch)} {what} of {request.video.name}, one batch",
        samples=len(batch),
        tolerance=request.tolerance,
        outputs=compare(dict(zip(names, reference, strict=True)), candidate, request.tolerance),
    )
    report = ExportReport(
        onnx=request.out,
        sha256=sha256_file(request.out),
        source=request.source,
        weights_sha256=sha256_file(request.weights) if request.weights else None,
        task=request.task,
        torch_version=str(torch.__version__),
        opset=graph.opset,
        export_warnings=tuple(export_warnings),
        graph=graph,
        parity=parity,
    )
    if not report.passed:
        request.out.unlink()
    request.report_path.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    progress(f"done in {time.perf_counter() - started:.1f}s")
    return report
