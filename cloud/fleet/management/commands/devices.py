"""``python -m cloud devices VERB``: list, show, enrol, revoke and edit devices.

    devices list [--site S] [--group G] [--hardware H] [--agent-version V] [--tag T]
                 [--health online|lagging|offline] [--json]
    devices show ID [--json]
    devices enrol --site S --hardware H [--device-id ID] [--name N] [--tag T ...]
                  [--expires-in HOURS] [--json]
    devices revoke ID [--json]
    devices edit ID [--name N] [--hardware H]
    devices add-camera ID CAMERA [--name N]

`enrol` prints a one-time token for ``POST /api/v1/enrol`` (`cloud.fleet.api`); `revoke` takes
away every gRPC token and the broker account at once (`cloud.fleet.revocation`).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

from django.utils import timezone

from cloud.fleet import enrolment, registry, revocation
from cloud.fleet.broker import BrokerAccountError, accounts_from_settings
from cloud.fleet.management.nouns import NounCommand, add_json, device_summary
from cloud.fleet.models import HardwareProfile
from cloud.fleet.registry import DeviceFilter, Health


class Command(NounCommand):
    help = "List, show, enrol, revoke and edit the fleet's devices."
    verbs: ClassVar[Mapping[str, str]] = {
        "list": "List devices, filtered by site, group, hardware, agent version, tag or health.",
        "show": "Show one device: registry data, cameras, health and credentials.",
        "enrol": "Make a one-time enrolment token for a new device and print it.",
        "revoke": "Revoke every gRPC token of a device and delete its broker account.",
        "edit": "Change a device's name or hardware profile.",
        "add-camera": "Register a camera of a device (or rename it).",
    }

    def args_list(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--site", default="", help="site id")
        parser.add_argument("--group", default="", help="camera group name")
        parser.add_argument("--hardware", default="", choices=["", *HardwareProfile.values])
        parser.add_argument("--agent-version", default="")
        parser.add_argument("--tag", default="")
        parser.add_argument("--health", default="", choices=["", *Health])
        add_json(parser)

    def do_list(self, **options: Any) -> None:
        now = timezone.now()
        where = DeviceFilter(
            site=options["site"],
            group=options["group"],
            hardware=options["hardware"],
            agent_version=options["agent_version"],
            tag=options["tag"],
            health=options["health"],
        )
        rows = [device_summary(d, now=now) for d in registry.find_devices(where, now=now)]
        lines = [
            f"{r['id']:<24} {r['site']:<16} {r['hardware_profile']:<14} "
            f"{r['agent_version'] or '-':<10} {r['health']:<8} {','.join(r['tags'])}"
            for r in rows
        ]
        self.emit(options, rows, "\n".join(lines) or "no devices match")

    def args_show(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("device_id")
        add_json(parser)

    def do_show(self, **options: Any) -> None:
        device = registry.get_device(options["device_id"])
        try:
            accounts: revocation.AccountLookup | None = accounts_from_settings()
        except BrokerAccountError:
            accounts = None
        state = revocation.credential_state(device.id, accounts)
        data = {
            **device_summary(device, now=timezone.now()),
            "cameras": [
                {
                    "id": camera.edge_id,
                    "name": camera.name,
                    "groups": [group.name for group in camera.groups.all()],
                }
                for camera in device.cameras.prefetch_related("groups")
            ],
            "credentials": {
                "active_tokens": state.active_tokens,
                "revoked_tokens": state.revoked_tokens,
                "broker_account": state.broker_account,
                "broker_error": state.broker_error,
            },
        }
        account = {True: "present", False: "absent", None: f"unknown {state.broker_error}"}
        text = "\n".join(
            [
                *(f"{key}: {data[key]}" for key in ("id", "name", "site", "hardware_profile")),
                *(f"{key}: {data[key]}" for key in ("agent_version", "status", "health", "tags")),
                f"cameras: {', '.join(c['id'] for c in data['cameras']) or 'none'}",
                f"gRPC tokens: {state.active_tokens} active, {state.revoked_tokens} revoked",
                f"broker account: {account[state.broker_account]}",
            ]
        )
        self.emit(options, data, text)

    def args_enrol(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--site", required=True, help="an existing site (sites add)")
        parser.add_argument("--hardware", required=True, choices=HardwareProfile.values)
        parser.add_argument("--device-id", default="", help="default: the cloud picks one")
        parser.add_argument("--name", default="", help="display name")
        parser.add_argument("--tag", action="append", default=[], help="a tag (repeat)")
        parser.add_argument(
            "--expires-in",
            type=float,
            default=enrolment.DEFAULT_TTL / timedelta(hours=1),
            metavar="HOURS",
            help="hours the token stays valid (default 24, at most 720)",
        )
        add_json(parser)

    def do_enrol(self, **options: Any) -> None:
        issued = enrolment.create_enrolment(
            site=options["site"],
            hardware_profile=options["hardware"],
            device_id=options["device_id"],
            name=options["name"],
            tags=options["tag"],
            ttl=timedelta(hours=options["expires_in"]),
        )
        data = {
            "token": issued.token,
            "site": issued.enrolment.site_id,
            "device_id": issued.enrolment.device_id,
            "expires_at": issued.enrolment.expires_at.isoformat(),
        }
        self.emit(options, data, issued.token)

    def args_revoke(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("device_id")
        add_json(parser)

    def do_revoke(self, **options: Any) -> None:
        revoked = revocation.revoke_device(options["device_id"], accounts_from_settings())
        data = {
            "device_id": revoked.device_id,
            "tokens_revoked": revoked.tokens,
            "broker_account_deleted": revoked.broker_account,
        }
        text = (
            f"{revoked.device_id}: revoked {revoked.tokens} gRPC token(s); broker account "
            f"{'deleted' if revoked.broker_account else 'was absent'}"
        )
        self.emit(options, data, text)

    def args_edit(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("device_id")
        parser.add_argument("--name", default=None, help="display name")
        parser.add_argument("--hardware", default=None, choices=HardwareProfile.values)

    def do_edit(self, **options: Any) -> None:
        device = registry.edit_device(
            options["device_id"], name=options["name"], hardware_profile=options["hardware"]
        )
        self.stdout.write(f"{device.id}: {device.name or '(no name)'}, {device.hardware_profile}")

    def args_add_camera(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("device_id")
        parser.add_argument("camera_id")
        parser.add_argument("--name", default="", help="display name")

    def do_add_camera(self, **options: Any) -> None:
        created = registry.add_camera(
            options["device_id"], options["camera_id"], name=options["name"]
        )
        camera = f"{options['device_id']}/{options['camera_id']}"
        self.stdout.write(f"{camera}: {'added' if created else 'renamed'}")
