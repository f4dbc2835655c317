"""`python -m export onnx`: a user's PyTorch model to a checked ONNX file.

onnx     export a detector or embedder (module:factory [+ --weights] or --torchscript) with a
         dynamic batch axis, check the graph and compare ONNX Runtime with the source model on
         real vtest.avi frames or crops; writes FILE and FILE.report.json

Exit status: 0 accepted, 1 refused or failed (the message and the report say why), 2 bad
arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from export.onnx_checks import OnnxCheckError
from export.onnx_graph import OPSET
from export.parity import Tolerance
from export.samples import VTEST, SamplesError
from export.torch_to_onnx import ExportError, ExportReport, ExportRequest, export_to_onnx
from models.manifest import InputSpec

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


def parser() -> argparse.ArgumentParser:
    """The command line (`--help` shows the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _onnx_parser(commands)
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
    except (ExportError, OnnxCheckError, SamplesError) as err:
        logger.error("%s", err)
        return 1


if __name__ == "__main__":
    sys.exit(main())
