"""Regenerate the Python code of the wire contract, or check that the committed code is current.

Run from the repository root:

    uv run python protos/generate.py            # rewrite the generated files
    uv run python protos/generate.py --check    # exit 1 with a diff when they are stale

For every ``protos/sightline/**/x.proto`` the generator writes ``x_pb2.py`` and ``x_pb2.pyi``
next to the source, plus ``x_pb2_grpc.py`` and its typed stub ``x_pb2_grpc.pyi`` when the file
declares a service; an ``__init__.py`` in every package directory and a ``py.typed`` marker; and
it deletes generated files whose source is gone. The generators are the protoc bundled with
grpcio-tools and mypy-protobuf's gRPC stub plugin, both pinned in the ``protos`` dependency
group, so the output depends only on the ``.proto`` files and those pins.

``--check`` also runs ``buf lint`` (STANDARD rules, ``protos/buf.yaml``) when a ``buf`` binary is
on PATH or at ``$SIGHTLINE_CACHE_DIR/bin/buf``; ``--require-buf`` makes a missing binary an error.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.metadata
import importlib.resources
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

logger = logging.getLogger(__name__)

PROTO_ROOT = Path(__file__).resolve().parent
PACKAGE = "sightline"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
GRPC_SUFFIXES = ("_pb2_grpc.py", "_pb2_grpc.pyi")
PACKAGE_MARKERS = ("__init__.py", "py.typed")
ROOT_DOCSTRING = (
    '"""Sightline wire contract, the one package both the edge and the cloud import.\n\n'
    "Generated protobuf and gRPC code: edit the .proto files next to it, then run\n"
    "`uv run python protos/generate.py`. Beside it, the few hand-written rules both sides must\n"
    "apply identically: `names` (id grammar), `backoff` (retry policy),\n"
    "`device.v1.topics` (MQTT topic layout) and `model_signature` (what a model signature\n"
    "covers).\n"
    '"""\n'
)


def proto_sources(proto_root: Path) -> list[Path]:
    """Return the ``.proto`` files of the contract, relative to ``proto_root``, sorted."""
    return sorted(path.relative_to(proto_root) for path in (proto_root / PACKAGE).rglob("*.proto"))


def package_init(package_dir: Path) -> str:
    """Return the ``__init__.py`` text for a package directory given relative to the root."""
    if package_dir == Path(PACKAGE):
        return ROOT_DOCSTRING
    dotted = ".".join(package_dir.parts)
    return f'"""Generated package {dotted} (do not edit; run protos/generate.py)."""\n'


def mypy_grpc_plugin() -> Path:
    """Locate mypy-protobuf's ``protoc-gen-mypy_grpc`` beside the running interpreter."""
    plugin = Path(sysconfig.get_path("scripts")) / "protoc-gen-mypy_grpc"
    if not plugin.is_file():
        raise RuntimeError(f"{plugin} not found: install the `protos` dependency group")
    return plugin


def render(proto_root: Path, out_dir: Path) -> None:
    """Generate the code for every ``.proto`` under ``proto_root`` into ``out_dir``.

    Raises RuntimeError when protoc fails; its messages are on stderr.
    """
    sources = proto_sources(proto_root)
    if not sources:
        raise RuntimeError(f"no .proto files under {proto_root / PACKAGE}")
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    # protoc names each file by its path under --proto_path, so the generated code holds
    # import-relative names only, never this checkout's absolute path.
    descriptor_set = out_dir / "descriptors.binpb"
    args = [
        "grpc_tools.protoc",
        f"--proto_path={proto_root}",
        f"--proto_path={well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        # grpcio-tools writes untyped service modules; these stubs let strict mypy check servicers
        # and stubs without per-call ignores.
        f"--plugin=protoc-gen-mypy_grpc={mypy_grpc_plugin()}",
        f"--mypy_grpc_out={out_dir}",
        "--mypy_grpc_opt=quiet",
        f"--descriptor_set_out={descriptor_set}",
        *(str(proto_root / source) for source in sources),
    ]
    status = protoc.main(args)
    if status != 0:
        raise RuntimeError(f"protoc exited with status {status}")
    # The gRPC plugins write a module for every file, service or not; drop the empty ones so a
    # `_pb2_grpc` module exists exactly where there is something to import from it.
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes()).file
    descriptor_set.unlink()
    for file in files:
        if not file.service:
            source = out_dir / file.name
            for suffix in GRPC_SUFFIXES:
                source.with_name(f"{source.stem}{suffix}").unlink(missing_ok=True)
    package_dirs = {parent for source in sources for parent in source.parents if parent.parts}
    for package_dir in sorted(package_dirs):
        (out_dir / package_dir / "__init__.py").write_text(package_init(package_dir))
    (out_dir / PACKAGE / "py.typed").write_text("")


def is_generated(path: Path) -> bool:
    """Tell whether a file name is one the generator writes (and may therefore delete)."""
    return path.name.endswith(GENERATED_SUFFIXES) or path.name in PACKAGE_MARKERS


def generated_files(root: Path) -> dict[Path, bytes]:
    """Map each generated file under ``root/sightline`` (relative to ``root``) to its bytes."""
    return {
        path.relative_to(root): path.read_bytes()
        for path in sorted((root / PACKAGE).rglob("*"))
        if path.is_file() and is_generated(path)
    }


def fresh_output(proto_root: Path) -> dict[Path, bytes]:
    """Generate into a temporary directory and return the files it produced."""
    with tempfile.TemporaryDirectory(prefix="sightline-protos-") as tmp:
        render(proto_root, Path(tmp))
        return generated_files(Path(tmp))


def write(proto_root: Path) -> int:
    """Bring the committed generated files in line with the sources; return the files changed."""
    expected = fresh_output(proto_root)
    actual = generated_files(proto_root)
    changed = 0
    for relative, content in expected.items():
        if actual.get(relative) != content:
            target = proto_root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            logger.info("wrote %s", relative)
            changed += 1
    for relative in sorted(actual.keys() - expected.keys()):
        (proto_root / relative).unlink()
        logger.info("deleted %s (no longer generated)", relative)
        changed += 1
    return changed


def staleness_report(expected: dict[Path, bytes], actual: dict[Path, bytes]) -> list[str]:
    """Describe how ``actual`` differs from ``expected``: one block per differing file."""
    report: list[str] = []
    for relative in sorted(expected.keys() | actual.keys()):
        want, have = expected.get(relative), actual.get(relative)
        if want == have:
            continue
        if have is None:
            report.append(f"missing: {relative}\n")
        elif want is None:
            report.append(f"not generated from any .proto (delete it): {relative}\n")
        else:
            diff = difflib.unified_diff(
                have.decode().splitlines(keepends=True),
                want.decode().splitlines(keepends=True),
                fromfile=f"committed/{relative}",
                tofile=f"generated/{relative}",
            )
            report.append(f"stale: {relative}\n{''.join(diff)}")
    return report


def find_buf() -> Path | None:
    """Locate a ``buf`` binary on PATH or in the Sightline cache's ``bin`` directory."""
    on_path = shutil.which("buf")
    if on_path:
        return Path(on_path)
    cache_dir = Path(os.environ.get("SIGHTLINE_CACHE_DIR", "~/.cache/sightline")).expanduser()
    cached = cache_dir / "bin" / "buf"
    return cached if cached.is_file() and os.access(cached, os.X_OK) else None


def buf_lint(proto_root: Path, *, required: bool) -> bool:
    """Run ``buf lint`` over ``proto_root``; return False when it finds problems.

    Without a buf binary this passes (with a warning) unless ``required`` is set.
    """
    buf = find_buf()
    if buf is None:
        if required:
            logger.error("buf not found on PATH or in $SIGHTLINE_CACHE_DIR/bin")
            return False
        logger.warning("buf not found on PATH or in $SIGHTLINE_CACHE_DIR/bin: lint skipped")
        return True
    result = subprocess.run([str(buf), "lint"], cwd=proto_root, check=False)
    if result.returncode != 0:
        logger.error("buf lint failed (%s)", buf)
        return False
    logger.info("buf lint passed (%s)", buf)
    return True


def check(proto_root: Path, *, require_buf: bool) -> bool:
    """Compare the committed generated code with a fresh generation and lint the sources."""
    report = staleness_report(fresh_output(proto_root), generated_files(proto_root))
    if report:
        sys.stdout.write("".join(report))
        logger.error(
            "%d generated file(s) differ from grpcio-tools %s + mypy-protobuf %s output; "
            "run `uv run python protos/generate.py`",
            len(report),
            importlib.metadata.version("grpcio-tools"),
            importlib.metadata.version("mypy-protobuf"),
        )
    lint_ok = buf_lint(proto_root, required=require_buf)
    return not report and lint_ok


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write: exit 1 and print a diff when the committed code is stale",
    )
    parser.add_argument(
        "--require-buf",
        action="store_true",
        help="with --check, fail when no buf binary is found instead of skipping the lint",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        if args.check:
            return 0 if check(PROTO_ROOT, require_buf=args.require_buf) else 1
        changed = write(PROTO_ROOT)
    except RuntimeError as err:
        logger.error("%s", err)
        return 2
    logger.info("%d generated file(s) changed", changed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
