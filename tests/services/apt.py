"""Install missing Debian packages, without letting them start their own default daemons."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

from tests.services.procs import ServiceError

logger = logging.getLogger(__name__)

POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
APT_LISTS = Path("/var/lib/apt/lists")


def missing(packages: Iterable[str]) -> list[str]:
    """The packages of `packages` that dpkg does not report as installed."""
    result = []
    for package in packages:
        status = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        if status != "install ok installed":
            result.append(package)
    return result


@contextlib.contextmanager
def _no_daemon_autostart() -> Iterator[None]:
    # postgresql, redis-server and mosquitto start system-wide servers on their default ports
    # when installed. The tests run their own, so deny starts for the duration of the install
    # (exit 101 = "action forbidden", see /usr/share/doc/init-system-helpers/README.policy-rc.d).
    # An existing policy belongs to the machine's owner: it is left alone.
    if POLICY_RC_D.exists():
        yield
        return
    POLICY_RC_D.write_text("#!/bin/sh\nexit 101\n", encoding="ascii")
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC_D.unlink()


def _apt_get(*args: str) -> bool:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    logger.info("apt-get %s", " ".join(args))
    return subprocess.run(["apt-get", *args], env=env, check=False).returncode == 0


def install(packages: list[str]) -> None:
    """apt-get install `packages`; apt-get update only when lists are missing or stale."""
    if not packages:
        return
    if os.geteuid() != 0:
        raise ServiceError(f"missing Debian packages {packages}: run as root to install them")
    install_args = ("install", "-y", "-q", "--no-install-recommends", *packages)
    with _no_daemon_autostart():
        if not any(APT_LISTS.glob("*_Packages")) and not _apt_get("update", "-q"):
            raise ServiceError("apt-get update failed")
        if _apt_get(*install_args):
            return
        # The usual cause is package lists that name versions the mirror no longer has.
        if not (_apt_get("update", "-q") and _apt_get(*install_args)):
            raise ServiceError(f"apt-get install {' '.join(packages)} failed")
