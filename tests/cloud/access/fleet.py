"""A small fleet to scope users to: two sites, three cameras, two camera groups.

Site hq: device gate-01 with cameras lobby (group hq/entrances) and yard (group hq/outside).
Site depot: device dock-01 with camera dock (no group).
"""

from __future__ import annotations

from dataclasses import dataclass

from cloud.fleet.models import Camera, CameraGroup, Device, HardwareProfile, Site
from cloud.fleet.registry import ensure_site


@dataclass(frozen=True)
class Fleet:
    hq: Site
    depot: Site
    lobby: Camera
    yard: Camera
    dock: Camera
    entrances: CameraGroup
    outside: CameraGroup


def scoped_fleet() -> Fleet:
    """Make the fleet (gate-01 may exist already, as tests/cloud/conftest.py provisions it)."""
    hq, depot = ensure_site("hq"), ensure_site("depot")
    gate, _ = Device.objects.get_or_create(
        id="gate-01", defaults={"site": hq, "hardware_profile": HardwareProfile.X86_CPU}
    )
    dock_device = Device.objects.create(
        id="dock-01", site=depot, hardware_profile=HardwareProfile.X86_CPU
    )
    lobby, _ = Camera.objects.get_or_create(device=gate, edge_id="lobby")
    yard, _ = Camera.objects.get_or_create(device=gate, edge_id="yard")
    dock = Camera.objects.create(device=dock_device, edge_id="dock")
    entrances = CameraGroup.objects.create(site=hq, name="entrances")
    entrances.cameras.add(lobby)
    outside = CameraGroup.objects.create(site=hq, name="outside")
    outside.cameras.add(yard)
    return Fleet(hq, depot, lobby, yard, dock, entrances, outside)
