"""``python -m cloud models``: the model registry and what devices run, from the command line.

    models keygen --out KEY_FILE [--label L]     new operator key; registers its public half
    models trust ed25519:BASE64 [--label L]      register another operator's public key
    models sign --onnx F --manifest F --key K    print the signature the web form asks for
    models upload --onnx F --manifest F --key K  sign on this machine, verify, store
    models list | show NAME VERSION
    models assign NAME VERSION --device D ... [--camera C ...] --reason WHY
    models status --device D | drift | republish --device D ...
    models refresh --device D ... [--ttl SECONDS]  ask devices to report their state now

Every listing takes --json. The private key never leaves this machine: the cloud stores public
keys only and checks every upload's signature against them (`cloud.deploy.registry`).
"""

from __future__ import annotations

import argparse
import base64
import getpass
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cloud.deploy import registry, services
from cloud.deploy.models import ModelVersion, SigningKey
from cloud.deploy.signing import generate_key, load_private_key, private_key_id
from cloud.errors import CloudError
from cloud.lib.objectstore import ObjectStoreError
from sightline.model_signature import key_id, parse_public_key


class Command(BaseCommand):
    help = "Model registry: keys, signed uploads, assignments, desired vs reported state."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        keygen = sub.add_parser("keygen", help="make an operator key and register its public key")
        keygen.add_argument("--out", type=Path, required=True, help="private key file to write")
        keygen.add_argument("--label", default="", help="who or what the key is for")
        trust = sub.add_parser("trust", help="register an operator's public key")
        trust.add_argument("public_key", help="ed25519:<base64>, as keygen prints it")
        trust.add_argument("--label", default="")
        for name, text in (
            ("sign", "print the signature and key id of a model (for the web form)"),
            ("upload", "sign a model with the operator key, then verify and store it"),
        ):
            action = sub.add_parser(name, help=text)
            action.add_argument("--onnx", type=Path, required=True, help="the ONNX file")
            action.add_argument("--manifest", type=Path, required=True, help="its manifest TOML")
            action.add_argument("--key", type=Path, required=True, help="operator private key")
            action.add_argument("--json", action="store_true")
        listing = sub.add_parser("list", help="model versions in the registry")
        listing.add_argument("--json", action="store_true")
        show = sub.add_parser("show", help="one model version")
        show.add_argument("name")
        show.add_argument("version")
        show.add_argument("--json", action="store_true")
        assign = sub.add_parser("assign", help="make a model version devices' desired model")
        assign.add_argument("name")
        assign.add_argument("version")
        assign.add_argument("--device", action="append", required=True, help="repeat for more")
        assign.add_argument("--camera", action="append", help="only these cameras (repeat)")
        assign.add_argument("--reason", required=True, help="why, for the history")
        assign.add_argument("--json", action="store_true")
        status = sub.add_parser("status", help="a device's desired and reported state")
        status.add_argument("--device", required=True)
        status.add_argument("--json", action="store_true")
        drift = sub.add_parser("drift", help="devices not running what they should")
        drift.add_argument("--json", action="store_true")
        again = sub.add_parser("republish", help="publish devices' desired state again")
        again.add_argument("--device", action="append", required=True)
        refresh = sub.add_parser("refresh", help="ask devices to report their state now")
        refresh.add_argument("--device", action="append", required=True)
        refresh.add_argument(
            "--ttl", type=float, default=300.0, help="seconds until the request expires"
        )
        refresh.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        action: str = options["action"]
        try:
            result = getattr(self, f"_{action}")(options)
        except (CloudError, ObjectStoreError, ValueError) as err:
            raise CommandError(str(err)) from err
        if options.get("json"):
            self.stdout.write(json.dumps(result, indent=2, default=str))
        elif isinstance(result, str):
            self.stdout.write(result)
        else:
            self.stdout.write(_text(result))

    def _keygen(self, options: dict[str, Any]) -> str:
        public = generate_key(options["out"])
        raw = parse_public_key(public)
        SigningKey.objects.update_or_create(
            key_id=key_id(raw), defaults={"public_key": public, "label": options["label"]}
        )
        return (
            f"key id {key_id(raw)}; private key in {options['out']} (keep it secret)\n"
            f"public key (edge config deploy.trusted_keys): {public}"
        )

    def _trust(self, options: dict[str, Any]) -> str:
        text: str = options["public_key"]
        identity = key_id(parse_public_key(text))
        SigningKey.objects.update_or_create(
            key_id=identity, defaults={"public_key": text, "label": options["label"]}
        )
        return f"trusted key {identity}"

    def _signed(self, options: dict[str, Any]) -> registry.Upload:
        onnx, manifest = _read(options["onnx"]), _read(options["manifest"])
        private = load_private_key(options["key"])
        _, message = registry.message_of(onnx, manifest)
        return registry.Upload(onnx, manifest, private.sign(message), private_key_id(private))

    def _sign(self, options: dict[str, Any]) -> dict[str, Any]:
        upload = self._signed(options)
        return {"key_id": upload.key_id, "signature": base64.b64encode(upload.signature).decode()}

    def _upload(self, options: dict[str, Any]) -> dict[str, Any]:
        version, created = registry.upload_model(self._signed(options), uploaded_by=_operator())
        return {**_version(version), "created": created}

    def _list(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        return [_version(v) for v in ModelVersion.objects.order_by("name", "uploaded_at")]

    def _show(self, options: dict[str, Any]) -> dict[str, Any]:
        version = registry.get_version(options["name"], options["version"])
        return {**_version(version), "manifest": version.manifest}

    def _assign(self, options: dict[str, Any]) -> dict[str, int]:
        version = registry.get_version(options["name"], options["version"])
        return services.assign_model(
            options["device"],
            version,
            cameras=options["camera"],
            actor=_operator(),
            reason=options["reason"],
        )

    def _status(self, options: dict[str, Any]) -> dict[str, Any]:
        found = services.deployment(options["device"])
        reported = services.reported_only(options["device"])
        return {
            "device": options["device"],
            "drift": found.drift.value if found else None,
            "desired": _desired(found.desired) if found else None,
            "reported": _reported(reported) if reported else None,
        }

    def _drift(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "device": item.device_id,
                "drift": item.drift.value,
                "desired_generation": item.desired.generation,
                "reported_generation": item.reported.generation if item.reported else None,
                "error": item.reported.error if item.reported else "",
            }
            for item in services.drift()
        ]

    def _refresh(self, options: dict[str, Any]) -> dict[str, str]:
        return services.send_command(
            options["device"],
            services.REPORT_STATE,
            ttl=timedelta(seconds=options["ttl"]),
            actor=_operator(),
        )

    def _republish(self, options: dict[str, Any]) -> str:
        count = services.republish(options["device"])
        return f"{count} desired state(s) will be published again"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise CommandError(f"cannot read {path}: {err.strerror}") from err


def _operator() -> str:
    return f"cli:{getpass.getuser()}"


def _version(version: ModelVersion) -> dict[str, Any]:
    return {
        "name": version.name,
        "version": version.version,
        "sha256": version.sha256,
        "size": version.size,
        "object_key": version.object_key,
        "key_id": version.key_id,
        "signature": _b64(bytes(version.signature)),
        "uploaded_by": version.uploaded_by,
        "uploaded_at": version.uploaded_at.isoformat(),
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _desired(state: Any) -> dict[str, Any]:
    names = services.model_names(state.cameras.values())
    return {
        "generation": state.generation,
        "published_generation": state.published_generation,
        "cameras": {camera or "*": names.get(pk, str(pk)) for camera, pk in state.cameras.items()},
        "changed_by": state.changed_by,
        "reason": state.reason,
        "changed_at": state.changed_at.isoformat(),
    }


def _reported(state: Any) -> dict[str, Any]:
    return {
        "generation": state.generation,
        "cameras": state.cameras,
        "error": state.error,
        "reported_at": state.reported_at.isoformat(),
        "received_at": state.received_at.isoformat(),
    }


def _text(result: Any) -> str:
    if isinstance(result, list):
        return "\n".join(_text(item) for item in result) or "(none)"
    if isinstance(result, dict):
        return "  ".join(f"{key}={value}" for key, value in result.items() if key != "manifest")
    return str(result)
