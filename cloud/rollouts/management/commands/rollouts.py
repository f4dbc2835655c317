"""``python -m cloud rollouts``: start staged model rollouts and steer them.

    rollouts start NAME --model MODEL VERSION [--site S ...] [--hardware H ...] [--tag T ...]
                   [--group SITE/NAME ...] [--device D ...] [--stages 1,10%,50%,100%]
                   [--approve-before 2 ...] [--soak-s 300] [--baseline-s 600]
                   [--bound max_fps_drop=0.2 ...] [--dry-run]
    rollouts list | show NAME                       where each is, its stages and audit log
    rollouts pause|resume|abort|rollback|approve NAME [--reason WHY]

The gate (`celery -A cloud beat`, task advance_rollouts) moves a running rollout on by itself;
these are the operator's hands on it. Every action is in the rollout's audit log with the
operator (--actor, default the login name) and the reason. Listings take --json.
"""

from __future__ import annotations

import argparse
import getpass
import json
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cloud.deploy.models import ModelVersion
from cloud.errors import CloudError
from cloud.rollouts import services
from cloud.rollouts.models import Rollout
from cloud.rollouts.plan import DEFAULT_STAGES, PlanError, plan_stages
from cloud.rollouts.services import RolloutRequest, Selector

ACTIONS = ("pause", "resume", "abort", "rollback", "approve")


def _bound(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: write a bound as NAME=VALUE")
    return name, value


def rollout_summary(rollout: Rollout) -> dict[str, Any]:
    """What `list` shows of a rollout (and `show`, with its devices and log)."""
    return {
        "name": rollout.name,
        "model": f"{rollout.model_version.name} {rollout.model_version.version}",
        "phase": rollout.phase,
        "stage": rollout.stage + 1,
        "stages": rollout.stages,
        "holding_since": rollout.holding_since.isoformat() if rollout.holding_since else None,
        "created_by": rollout.created_by,
    }


class Command(BaseCommand):
    help = "Start staged, health-gated model rollouts; pause, resume, abort, roll back, approve."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--actor", default="", help="who acts (default: the login name)")
        sub = parser.add_subparsers(dest="action", required=True)
        start = sub.add_parser("start", help="plan a rollout and start its first stage")
        start.add_argument("name", help="the rollout's name (letters, digits, . _ -)")
        start.add_argument("--model", nargs=2, metavar=("NAME", "VERSION"), required=True)
        for flag, text in (
            ("--site", "site id"),
            ("--hardware", "hardware profile"),
            ("--tag", "tag"),
            ("--group", "camera group as SITE/NAME"),
            ("--device", "device id"),
        ):
            start.add_argument(flag, action="append", default=[], help=f"target: {text} (repeat)")
        start.add_argument(
            "--stages", default=",".join(DEFAULT_STAGES), help="stage sizes, counts or shares"
        )
        start.add_argument(
            "--approve-before",
            type=int,
            action="append",
            default=[],
            metavar="STAGE",
            help="stage number (from 1) that starts only when approved (repeat)",
        )
        start.add_argument("--soak-s", type=int, default=300, help="how long a gate must hold")
        start.add_argument(
            "--baseline-s", type=int, default=600, help="health history that is the baseline"
        )
        start.add_argument(
            "--bound",
            type=_bound,
            action="append",
            default=[],
            help="gate bound NAME=VALUE (cloud.rollouts.gate.GateBounds), repeat",
        )
        start.add_argument("--dry-run", action="store_true", help="print the plan, start nothing")
        start.add_argument("--json", action="store_true")
        listing = sub.add_parser("list", help="rollouts, newest first")
        listing.add_argument("--json", action="store_true")
        show = sub.add_parser("show", help="one rollout: stages, devices, audit log")
        show.add_argument("name")
        show.add_argument("--json", action="store_true")
        for action in ACTIONS:
            step = sub.add_parser(action, help=f"{action} a rollout")
            step.add_argument("name")
            step.add_argument("--reason", default="", help="why, for the audit log")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = options["actor"] or getpass.getuser()
        action = options["action"]
        try:
            if action == "start":
                self._start(options, actor)
            elif action == "list":
                self._emit([rollout_summary(r) for r in _rollouts()], options["json"])
            elif action == "show":
                self._emit(_details(options["name"]), options["json"])
            else:
                rollout = services.act(options["name"], action, actor, options["reason"])
                self.stdout.write(f"{rollout.name}: {rollout.phase}, stage {rollout.stage + 1}")
        except CloudError as err:
            raise CommandError(str(err)) from err

    def _start(self, options: dict[str, Any], actor: str) -> None:
        name, version = options["model"]
        model = ModelVersion.objects.filter(name=name, version=version).first()
        if model is None:
            raise CommandError(f"no model {name} {version}: upload it with `models upload`")
        selector = Selector(
            sites=tuple(options["site"]),
            hardware=tuple(options["hardware"]),
            tags=tuple(options["tag"]),
            groups=tuple(options["group"]),
            devices=tuple(options["device"]),
        )
        stages = tuple(size.strip() for size in options["stages"].split(",") if size.strip())
        if options["dry_run"]:
            try:
                plan = plan_stages(options["name"], services.select_devices(selector), stages)
            except PlanError as err:
                raise CommandError(str(err)) from err
            self._emit({f"stage {n + 1}": devices for n, devices in enumerate(plan)}, True)
            return
        request = RolloutRequest(
            name=options["name"],
            model_version_id=model.pk,
            selector=selector,
            stages=stages,
            soak=timedelta(seconds=options["soak_s"]),
            baseline=timedelta(seconds=options["baseline_s"]),
            bounds=services.parse_bounds(dict(options["bound"])),
            approvals=frozenset(stage - 1 for stage in options["approve_before"]),
        )
        rollout = services.start_rollout(request, actor)
        self._emit(rollout_summary(rollout), options["json"])

    def _emit(self, value: Any, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(value, indent=2, default=str))
        elif isinstance(value, list):
            for item in value:
                self.stdout.write(
                    f"{item['name']:<24} {item['model']:<28} {item['phase']:<18} "
                    f"stage {item['stage']}/{len(item['stages'])}"
                )
        else:
            for key, item in value.items():
                self.stdout.write(f"{key}: {item}")


def _rollouts() -> list[Rollout]:
    return list(Rollout.objects.select_related("model_version"))


def _details(name: str) -> dict[str, Any]:
    rollout = Rollout.objects.select_related("model_version").filter(name=name).first()
    if rollout is None:
        raise CommandError(f"no rollout named {name!r}")
    return {
        **rollout_summary(rollout),
        "selector": rollout.selector,
        "bounds": rollout.bounds,
        "devices": [
            {
                "device": member.device_id,
                "stage": member.stage + 1,
                "assigned_at": member.assigned_at,
                "rolled_back_at": member.rolled_back_at,
            }
            for member in rollout.devices.all()
        ],
        "log": [
            {
                "at": event.at,
                "actor": event.actor,
                "action": event.action,
                "phase": event.phase,
                "reason": event.reason,
                "devices": event.devices,
            }
            for event in rollout.events.all()
        ],
    }
