"""`python -m export onnx|engine`: a user's PyTorch model to a checked ONNX file, and an ONNX
model to a TensorRT engine with its manifest.

onnx     export a detector or embedder (module:factory [+ --weights] or --torchscript) with a
         dynamic batch axis, check the graph and compare ONNX Runtime with the source model on
         real vtest.avi frames or crops; writes FILE and FILE.report.json
engine   build an FP16 or INT8 engine of a built model (or any ONNX file with a manifest); INT8
         is calibrated on real frames and crops and refused when it drifts from FP16

Exit status: 0 accepted, 1 refused or failed (the message and the report say why), 2 bad
arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from export.engine_build import (
    EngineBuildError,
    EngineOutcome,
    EngineRequest,
    ProgressPrinter,
    build,
)
from export.onnx_checks import OnnxCheckError
from export.onnx_graph import OPSET
from export.parity import Tolerance
from export.parity_gate import GateBound
from export.samples import VTEST, SamplesError
from export.torch_to_onnx import ExportError, ExportReport, ExportRequest, export_to_onnx
from models.cache import built_model, cache_root
from models.errors import ModelError
from models.manifest import InputSpec, RuntimeManifest, manifest_path, read_runtime_manifest

logger = logging.getLogger("export")

_RESIZE: dict[str, Literal["letterbox", "stretch"]] = {
    "detector": "letterbox",
    "embedder": "stretch",
}


def _validation_message(err: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'arguments'}: {item['msg']}"
        for item in err.errors()
    )


def _onnx_request(args: argparse.Namespace) -> ExportRequest:
    height, width = args.input_size
    return ExportRequest(
        factory=args.model,
        weights=args.weights,
        torchscript=args.torchscript,
        task=args.task,
        input=InputSpec(
            name=args.input_name,
            shape=("batch", 3, height, width),
            dtype="float32",
            layout="NCHW",
            color=args.color,
            mean=args.mean,
            std=args.std,
            resize=args.resize or _RESIZE[args.task],
        ),
        output_names=args.output_names,
        opset=args.opset,
        out=args.out,
        video=args.video,
        samples=args.samples,
        tolerance=Tolerance(max_abs=args.max_abs, min_cosine=args.min_cosine),
        device=args.device,
    )


def _print_export(report: ExportReport, report_path: Path) -> None:
    outputs = ", ".join(f"{o.name} {list(o.shape)}" for o in report.graph.outputs)
    sys.stdout.write(
        f"{'accepted' if report.passed else 'REFUSED'}: {report.onnx} (sha256 {report.sha256})\n"
        f"opset {report.opset}, outputs {outputs}\n"
        f"parity, {report.parity.reference} vs {report.parity.candidate} on "
        f"{report.parity.inputs}:\n{report.parity.summary()}\n"
        f"report: {report_path}\n"
    )


def _run_onnx(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        request = _onnx_request(args)
    except ValidationError as err:
        parser.error(_validation_message(err))
    report = export_to_onnx(request)
    _print_export(report, request.report_path)
    if not report.passed:
        logger.error("the ONNX file does not match the source model; deleted it")
        return 1
    return 0


def _onnx_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    onnx = commands.add_parser("onnx", help="export a PyTorch detector or embedder to ONNX")
    source = onnx.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", metavar="MODULE:FACTORY", help="returns the torch module")
    source.add_argument("--torchscript", type=Path, metavar="FILE", help="a torch.jit.save file")
    onnx.add_argument("--weights", type=Path, metavar="FILE", help="state_dict for --model")
    onnx.add_argument("--task", required=True, choices=sorted(_RESIZE))
    onnx.add_argument("--input-size", required=True, type=int, nargs=2, metavar=("H", "W"))
    onnx.add_argument("--out", required=True, type=Path, metavar="FILE", help="ONNX to write")
    onnx.add_argument("--input-name", default="images")
    onnx.add_argument("--output-names", nargs="+", metavar="NAME", help="default: see docs")
    onnx.add_argument("--color", choices=["RGB", "BGR"], default="RGB", help="channel order")
    onnx.add_argument("--mean", type=float, nargs=3, default=(0.0, 0.0, 0.0), metavar="M")
    onnx.add_argument("--std", type=float, nargs=3, default=(255.0, 255.0, 255.0), metavar="S")
    onnx.add_argument("--resize", choices=["letterbox", "stretch"], help="default: by task")
    onnx.add_argument("--opset", type=int, default=OPSET)
    onnx.add_argument("--video", type=Path, default=VTEST, help="real footage for parity")
    onnx.add_argument("--samples", type=int, default=8, help="frames or crops compared")
    onnx.add_argument("--max-abs", type=float, default=Tolerance().max_abs)
    onnx.add_argument("--min-cosine", type=float, default=Tolerance().min_cosine)
    onnx.add_argument("--device", default="cpu", help="where the source model runs (cuda)")
    onnx.set_defaults(run=_run_onnx)


# Defaults by task: what the model sees in service (whole frames for a detector, person crops
# for an embedder), and enough of it that calibration and the gate see many walkers.
_CALIBRATION = {"detector": (128, 0), "crop-embedder": (0, 256)}
_HELD_OUT = {"detector": 24, "crop-embedder": 64}
_INT8_ONLY = (
    "calibration_frames",
    "calibration_crops",
    "held_out",
    "max_boxes_lost",
    "max_cosine_distance",
)


def _model(args: argparse.Namespace) -> tuple[Path, RuntimeManifest]:
    """The ONNX file and its manifest: a built model by name, or a file and a manifest."""
    if args.name is not None:
        if args.onnx is not None or args.manifest is not None:
            raise ValueError("give a model name or --onnx with --manifest, not both")
        manifest = read_runtime_manifest(manifest_path(args.name))
        return built_model(manifest), manifest
    if args.onnx is None or args.manifest is None:
        raise ValueError("give a model name, or both --onnx FILE and --manifest FILE")
    return args.onnx, read_runtime_manifest(args.manifest)


def engine_request(args: argparse.Namespace) -> EngineRequest:
    """The request the `engine` arguments describe. Raises `ValueError` for arguments that do
    not fit together or the model, before anything is built."""
    onnx, manifest = _model(args)
    task = manifest.task
    fixed_batch = isinstance(manifest.input.shape[0], int)
    max_batch = args.max_batch or (1 if fixed_batch else 8)
    if fixed_batch and max_batch != manifest.input.shape[0]:
        raise ValueError(f"{manifest.name} has a fixed batch of {manifest.input.shape[0]}")
    if args.precision == "fp16":
        named = [f"--{n.replace('_', '-')}" for n in _INT8_ONLY if getattr(args, n) is not None]
        if named:
            raise ValueError(f"{', '.join(named)} only apply to --precision int8")
    frames, crops = _CALIBRATION.get(task, (0, 0))
    bound = GateBound()

    def given(value: Any, default: Any) -> Any:
        return default if value is None else value

    return EngineRequest(
        onnx=onnx,
        manifest=manifest,
        precision=args.precision,
        max_batch=max_batch,
        cache_dir=given(args.cache_dir, cache_root() / "engines"),
        video=args.video,
        calibration_frames=given(args.calibration_frames, frames),
        calibration_crops=given(args.calibration_crops, crops),
        held_out=given(args.held_out, _HELD_OUT.get(task, 1)),
        bound=GateBound(
            boxes_lost=given(args.max_boxes_lost, bound.boxes_lost),
            cosine_distance=given(args.max_cosine_distance, bound.cosine_distance),
        ),
    )


def _print_engine(outcome: EngineOutcome) -> None:
    manifest = outcome.manifest
    lines = [
        f"{'accepted' if outcome.accepted else 'REFUSED'}: {manifest.model_name} "
        f"{manifest.precision}, batch 1..{manifest.max_batch}, {manifest.target.device_name} "
        f"(TensorRT {manifest.target.tensorrt_version}), built in {manifest.build_seconds:.0f}s",
        f"engine: {outcome.engine or 'deleted'}",
        f"{'manifest' if outcome.accepted else 'report'}: {outcome.manifest_path}",
    ]
    if manifest.calibration is not None:
        c = manifest.calibration
        lines.append(f"calibration: {c.frames} frames, {c.crops} crops, batches of {c.batch_size}")
    if manifest.parity is not None:
        p = manifest.parity
        lines.append(f"parity: {p.metric} = {p.value:.4f} (bound {p.bound}) vs {p.reference}")
    sys.stdout.write("\n".join(lines) + "\n")


def _run_engine(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        request = engine_request(args)
    except (ValueError, ValidationError) as err:
        message = _validation_message(err) if isinstance(err, ValidationError) else str(err)
        parser.error(message)
    outcome = build(request, ProgressPrinter())
    _print_engine(outcome)
    if not outcome.accepted:
        logger.error("the INT8 engine drifts past the bound from FP16: refused and deleted")
        return 1
    return 0


def _engine_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    engine = commands.add_parser("engine", help="build a TensorRT engine (FP16, or gated INT8)")
    engine.add_argument("name", nargs="?", help="a built model (models/NAME.toml)")
    engine.add_argument("--onnx", type=Path, metavar="FILE", help="or an ONNX file ...")
    engine.add_argument("--manifest", type=Path, metavar="FILE", help="... with its manifest")
    engine.add_argument("--precision", choices=["fp16", "int8"], default="fp16")
    engine.add_argument("--max-batch", type=int, help="default: the fixed batch, else 8")
    engine.add_argument("--cache-dir", type=Path, help="default: $SIGHTLINE_CACHE_DIR/engines")
    engine.add_argument("--video", type=Path, default=VTEST, help="real footage")
    engine.add_argument("--calibration-frames", type=int, help="default: 128 for a detector")
    engine.add_argument("--calibration-crops", type=int, help="default: 256 for an embedder")
    engine.add_argument("--held-out", type=int, help="frames or crops judged (24 / 64)")
    engine.add_argument("--max-boxes-lost", type=float, help="detector bound (0.1)")
    engine.add_argument("--max-cosine-distance", type=float, help="embedder bound (0.02)")
    engine.set_defaults(run=_run_engine)


def parser() -> argparse.ArgumentParser:
    """The command line (`--help` shows the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _onnx_parser(commands)
    _engine_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    command_line = parser()
    args = command_line.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.run(args, command_line))
    except (ExportError, OnnxCheckError, SamplesError, EngineBuildError, ModelError) as err:
        logger.error("%s", err)
        return 1


if __name__ == "__main__":
    sys.exit(main())
