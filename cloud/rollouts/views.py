"""The rollout pages: the list, the form that previews and starts one, and a rollout's
page with its plan, the gate's judgement, the audit log and the operator's actions.

Behind the site's login (`LoginRequiredMiddleware`) like the fleet pages; a rollout spans the
fleet, so its pages are for users who see every site (`cloud.access.roles`), and starting or
steering one for operators among them. Every change
goes through `cloud.rollouts.services`, as the `rollouts` command's do, so the web app and
the command leave the same audit entries.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from cloud.access.models import Role
from cloud.access.roles import require_role
from cloud.deploy import services as deploy
from cloud.errors import InvalidInput, NotFound
from cloud.monitoring.models import Alert
from cloud.rollouts import services
from cloud.rollouts.forms import ActionForm, RolloutForm
from cloud.rollouts.gate import DeviceJudgement
from cloud.rollouts.models import Rollout, RolloutDevice
from cloud.rollouts.plan import PlanError, plan_stages


@require_safe
@require_role(Role.VIEWER, fleet_wide=True)
def rollouts(request: HttpRequest) -> HttpResponse:
    """Every rollout, newest first."""
    return render(
        request,
        "rollouts/rollouts.html",
        {"rollouts": Rollout.objects.select_related("model_version")},
    )


@dataclass(frozen=True)
class PlannedStage:
    """One stage of a previewed plan: its size as asked, and the devices it adds."""

    number: int
    size: str
    devices: list[str]


@require_http_methods(["GET", "HEAD", "POST"])
@require_role(Role.OPERATOR, fleet_wide=True)
def new(request: HttpRequest) -> HttpResponse:
    """The rollout form: "Preview" shows the plan, "Start" starts the rollout.

    The preview plans exactly as starting does (`plan_stages` keyed by the rollout's name), so
    the devices shown per stage are the ones the rollout takes, as long as the fleet does not
    change in between.
    """
    form = RolloutForm(request.POST or None)
    plan: list[PlannedStage] = []
    if request.method == "POST" and form.is_valid():
        rollout_request = form.request()
        if "start" in request.POST:
            try:
                rollout = services.start_rollout(rollout_request, actor=request.user.get_username())
            except (InvalidInput, NotFound) as err:
                form.add_error(None, str(err))
            else:
                messages.success(request, f"Rollout {rollout.name} started.")
                return redirect("rollouts:rollout", name=rollout.name)
        else:
            devices = services.select_devices(rollout_request.selector)
            try:
                stages = plan_stages(rollout_request.name, devices, rollout_request.stages)
            except PlanError as err:
                form.add_error(None, str(err))
            else:
                plan = [
                    PlannedStage(number, size, members)
                    for number, (size, members) in enumerate(
                        zip(rollout_request.stages, stages, strict=False), start=1
                    )
                ]
    return render(
        request,
        "rollouts/new.html",
        {"form": form, "plan": plan},
        status=400 if form.errors else 200,
    )


@dataclass(frozen=True)
class PlanRow:
    """A device of a rollout as its page shows it: its place in the plan, what it reports
    running, the gate's judgement of it (assigned devices only) and its open alerts."""

    member: RolloutDevice
    deployment: deploy.DeviceDeployment | None
    judgement: DeviceJudgement | None
    alerts: list[Alert] = field(default_factory=list)

    @property
    def running(self) -> str:
        """The models the device reports running, as `name version` (in an agent rollout:
        the agent image it reports)."""
        reported = self.deployment.reported if self.deployment else None
        if reported is None:
            return ""
        if self.member.rollout.model_version_id is None:
            return reported.agent_image
        return ", ".join(
            sorted({f"{camera.get('name')} {camera.get('version')}" for camera in reported.cameras})
        )


@require_safe
@require_role(Role.VIEWER, fleet_wide=True)
def rollout(request: HttpRequest, name: str) -> HttpResponse:
    """A rollout's progress, plan, gate judgement and audit log, and (staff) its actions.

    A fixed number of queries however many devices the rollout has: every device's state,
    health and alerts are read in bulk.
    """
    found = Rollout.objects.select_related("model_version").filter(name=name).first()
    if found is None:
        raise Http404(f"no rollout named {name!r}")
    members = list(found.devices.select_related("device"))
    device_ids = [member.device_id for member in members]
    deployments = {item.device_id: item for item in deploy.deployments(device_ids)}
    judgement = services.judge(found, timezone.now())
    verdicts = {item.device_id: item for item in judgement.devices}
    alerts: dict[str, list[Alert]] = defaultdict(list)
    for alert in Alert.objects.filter(device_id__in=device_ids, resolved_at__isnull=True):
        alerts[alert.device_id].append(alert)
    stages: dict[int, list[PlanRow]] = defaultdict(list)
    for member in members:
        stages[member.stage].append(
            PlanRow(
                member,
                deployments.get(member.device_id),
                verdicts.get(member.device_id),
                alerts[member.device_id],
            )
        )
    return render(
        request,
        "rollouts/rollout.html",
        {
            "rollout": found,
            "stages": [(index + 1, size, stages[index]) for index, size in enumerate(found.stages)],
            "judgement": judgement,
            "targets": "; ".join(
                f"{key}: {', '.join(values)}" for key, values in found.selector.items() if values
            )
            or "every device",
            "events": found.events.all(),
            "actions": services.available_actions(found),
            "form": ActionForm(),
        },
    )


@require_POST
@require_role(Role.OPERATOR, fleet_wide=True)
def act(request: HttpRequest, name: str) -> HttpResponse:
    """Apply an operator's action (pause, resume, abort, rollback, approve), then show the
    rollout again with what happened or why it could not."""
    form = ActionForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not done: {form.errors.as_text()}")
        return redirect("rollouts:rollout", name=name)
    action = form.cleaned_data["action"]
    try:
        done = services.act(
            name, action, request.user.get_username(), form.cleaned_data["reason"].strip()
        )
    except NotFound as err:
        raise Http404(str(err)) from err
    except InvalidInput as err:
        messages.error(request, f"Not done: {err}")
    else:
        messages.success(request, f"Rollout {name}: {action} done; it is now {done.phase}.")
    return redirect("rollouts:rollout", name=name)
