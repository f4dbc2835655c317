"""The device's temperature, for the heartbeat: the hottest Linux thermal zone.

Linux exposes each sensor as `/sys/class/thermal/thermal_zone*/temp` in millidegrees Celsius;
Jetsons report their CPU, GPU and SoC zones there too. Reported: the highest reading, because a
throttling device is throttled by its hottest part. None where there is no zone (containers,
most VMs, macOS) or none is readable, so the heartbeat leaves the field unset rather than
claiming 0 degrees.
"""

from __future__ import annotations

from pathlib import Path

THERMAL_ROOT = Path("/sys/class/thermal")

# Sensors that are absent or broken report nonsense (-273 C, or several thousand degrees);
# only plausible readings count.
_PLAUSIBLE_C = (-60.0, 200.0)


def hottest_celsius(root: Path = THERMAL_ROOT) -> float | None:
    """The highest plausible reading of the thermal zones under `root`, in degrees Celsius."""
    readings = []
    for zone in sorted(root.glob("thermal_zone*")):
        try:
            millidegrees = int((zone / "temp").read_text(encoding="ascii").strip())
        except (OSError, ValueError):  # unreadable (permissions, a sensor that is off) or junk
            continue
        celsius = millidegrees / 1000.0
        if _PLAUSIBLE_C[0] <= celsius <= _PLAUSIBLE_C[1]:
            readings.append(celsius)
    return max(readings, default=None)
