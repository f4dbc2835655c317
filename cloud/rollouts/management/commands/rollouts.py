"""``python -m cloud rollouts``: start staged model or agent rollouts and steer them.

    rollouts start NAME (--model MODEL VERSION | --agent-image REPOSITORY:VERSION)
                   [--site S ...] [--hardware H ...] [--tag T ...] [--group SITE/NAME ...]
                   [--device D ...] [--stages 1,10%,50%,100%]
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
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import partial
from typing import Any, ClassVar

from django.core.management.base import CommandError

from cloud.deploy.models import ModelVersion
from cloud.fleet.management.nouns import NounCommand, add_json
from cloud.rollouts import services
from cloud.rollouts.models import Rollout
from cloud.rollouts.plan import DEFAULT_STAGES, PlanError, plan_stages
from cloud.rollouts.services import ACTIONS, RolloutRequest, Selector


def _bound(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: write a bound as NAME=VALUE")
    return name, value


def rollout_summary(rollout: Rollout) -> dict[str, Any]:
    """What `list` shows of a rollout (and `show`, with its devices and log)."""
    return {
        "name": rollout.name,
        "target": rollout.target,
        "phase": rollout.phase,
        "stage": rollout.stage + 1,
        "stages": rollout.stages,
        "holding_since": rollout.holding_since.isoformat() if rollout.holding_since else None,
        "created_by": rollout.created_by,
    }


class Command(NounCommand):
    help = (
        "Start staged, health-gated model or agent rollouts; pause, resume, abort, roll back, "
        "approve."
    )
    verbs: ClassVar[Mapping[str, str]] = {
        "start": "Plan a rollout and start its first stage (--dry-run: print the plan only).",
        "list": "Rollouts, newest first.",
        "show": "One rollout: its stages, devices and audit log.",
        **{
            action: f"{action.capitalize()} a rollout, with a reason for the log."
            for action in ACTIONS
        },
    }

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--actor", default="", help="who acts (default: the login name)")
        super().add_arguments(parser)

    def args_start(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help="the rollout's name (letters, digits, . _ -)")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--model", nargs=2, metavar=("NAME", "VERSION"))
        target.add_argument(
            "--agent-image",
            default="",
            metavar="REPOSITORY:VERSION",
            help="roll out this agent image (devices whose host upgrades it: Jetson)",
        )
        for flag, text in (
            ("--site", "site id"),
            ("--hardware", "hardware profile"),
            ("--tag", "tag"),
            ("--group", "camera group as SITE/NAME"),
            ("--device", "device id"),
        ):
            parser.add_argument(flag, action="append", default=[], help=f"target: {text} (repeat)")
        parser.add_argument(
            "--stages", default=",".join(DEFAULT_STAGES), help="stage sizes, counts or shares"
        )
        parser.add_argument(
            "--approve-before",
            type=int,
            action="append",
            default=[],
            metavar="STAGE",
            help="stage number (from 1) that starts only when approved (repeat)",
        )
        parser.add_argument("--soak-s", type=int, default=300, help="how long a gate must hold")
        parser.add_argument(
            "--baseline-s", type=int, default=600, help="health history that is the baseline"
        )
        parser.add_argument(
            "--bound",
            type=_bound,
            action="append",
            default=[],
            help="gate bound NAME=VALUE (cloud.rollouts.gate.GateBounds), repeat",
        )
        parser.add_argument("--dry-run", action="store_true", help="print the plan, start nothing")
        add_json(parser)

    def do_start(self, **options: Any) -> None:
        model = None
        if options["model"]:
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
            by_stage = {f"stage {n + 1}": devices for n, devices in enumerate(plan)}
            text = "\n".join(f"{key}: {', '.join(value)}" for key, value in by_stage.items())
            self.emit(options, by_stage, text)
            return
        request = RolloutRequest(
            name=options["name"],
            model_version_id=model.pk if model else None,
            agent_image=options["agent_image"],
            selector=selector,
            stages=stages,
            soak=timedelta(seconds=options["soak_s"]),
            baseline=timedelta(seconds=options["baseline_s"]),
            bounds=services.parse_bounds(dict(options["bound"])),
            approvals=frozenset(stage - 1 for stage in options["approve_before"]),
        )
        summary = rollout_summary(services.start_rollout(request, _actor(options)))
        self.emit(options, summary, _line(summary))

    def args_list(self, parser: argparse.ArgumentParser) -> None:
        add_json(parser)

    def do_list(self, **options: Any) -> None:
        summaries = [rollout_summary(r) for r in Rollout.objects.select_related("model_version")]
        self.emit(options, summaries, "\n".join(map(_line, summaries)) or "no rollouts")

    def args_show(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name")
        add_json(parser)

    def do_show(self, **options: Any) -> None:
        details = _details(options["name"])
        log = [f"  {e['at']:%Y-%m-%d %H:%M:%S} {e['actor']}: {e['reason']}" for e in details["log"]]
        self.emit(options, details, "\n".join([_line(details), *log]))

    def _verb(self, name: str, kind: str) -> Callable[..., Any]:
        # The operator's actions all take a rollout's name and a reason.
        if name in ACTIONS:
            return self._action_args if kind == "args" else partial(self._act, name)
        return super()._verb(name, kind)

    def _action_args(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--reason", default="", help="why, for the audit log")

    def _act(self, action: str, **options: Any) -> None:
        rollout = services.act(options["name"], action, _actor(options), options["reason"])
        self.stdout.write(f"{rollout.name}: {rollout.phase}, stage {rollout.stage + 1}")


def _actor(options: Mapping[str, Any]) -> str:
    return str(options["actor"] or getpass.getuser())


def _line(summary: Mapping[str, Any]) -> str:
    return (
        f"{summary['name']:<24} {summary['target']:<28} {summary['phase']:<18} "
        f"stage {summary['stage']}/{len(summary['stages'])}"
    )


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
