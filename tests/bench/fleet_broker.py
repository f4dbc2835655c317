"""A Mosquitto 2.0 of the fleet benchmark's own, with a dynamic-security account per device.

Accounts made one by one through the dynamic-security API (`cloud.fleet.broker`) rewrite the
plugin's whole state file on every change, so thousands of them would take minutes, and on the
shared test broker they would slow every other test meanwhile. This broker is the benchmark's
own: its state file is written before it starts with the same accounts the API would make
(bound to their client ids, roles from `cloud.fleet.broker.device_acls` and `bridge_acls`,
passwords hashed as `mosquitto_ctrl` hashes them: PBKDF2-SHA512, 101 iterations), so the
broker checks the same logins and ACLs as in a deployment. Its queue limit is raised from
Mosquitto's 1,000 messages per client: the bridge's session must be able to hold a burst of
the whole fleet's heartbeats.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cloud.fleet.broker import bridge_acls, device_acls
from tests.bench.measure import BenchError
from tests.cloud.ingest.processes import cloud_command, cloud_env
from tests.services.mosquitto import DYNSEC_PLUGIN
from tests.services.procs import free_ports, give_to, server_user, spawn

PREFIX = "sightline"
SITE = "bench"
"""The one site of a benchmark's fleet (its topic level, and the devices' site)."""
BRIDGE_USER = "bench-bridge"
PROVISION = """
import sys
from cloud.fleet.services import provision_device
for device_id in sys.stdin.read().split():
    provision_device(device_id, hardware_profile="x86-cpu", site="bench")
"""
CONFIG = """\
per_listener_settings false
allow_anonymous false
plugin {plugin}
plugin_opt_config_file {home}/dynsec.json
persistence false
max_queued_messages {max_queued}
log_dest stderr
log_type error
log_type warning
listener {port} 127.0.0.1
"""
_ITERATIONS = 101


def _client(username: str, password: str) -> dict[str, Any]:
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _ITERATIONS)
    return {
        "username": username,
        "clientid": username,
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": _ITERATIONS,
        "roles": [{"rolename": username}],
    }


class FleetBroker:
    """Started on construction, stopped by `close`."""

    def __init__(
        self,
        home: Path,
        *,
        prefix: str,
        site: str,
        devices: Sequence[tuple[str, str]],
        bridge: tuple[str, str],
        max_queued: int = 100_000,
    ) -> None:
        """`devices`: (device id, password) pairs; `bridge`: the bridge's (username,
        password)."""
        home.mkdir(parents=True, exist_ok=True)
        clients = [_client(*bridge), *(_client(*device) for device in devices)]
        roles = [{"rolename": bridge[0], "acls": bridge_acls(prefix, [site])}]
        roles += [
            {"rolename": device, "acls": device_acls(prefix, site, device)} for device, _ in devices
        ]
        state = {
            "defaultACLAccess": {
                "publishClientSend": False,
                "publishClientReceive": True,
                "subscribe": False,
                "unsubscribe": True,
            },
            "clients": clients,
            "roles": roles,
        }
        (home / "dynsec.json").write_text(json.dumps(state), encoding="utf-8")
        (self.port,) = free_ports(1)
        config = home / "mosquitto.conf"
        config.write_text(
            CONFIG.format(plugin=DYNSEC_PLUGIN, home=home, max_queued=max_queued, port=self.port),
            encoding="utf-8",
        )
        user = server_user("mosquitto")
        give_to(user, home, home / "dynsec.json", config)
        self.log = home / "mosquitto.log"
        self._process = spawn(["/usr/sbin/mosquitto", "-c", config], log_path=self.log, user=user)
        deadline = time.monotonic() + 30
        while not self._accepts():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"mosquitto did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        """The broker's process id."""
        return self._process.pid

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def close(self) -> None:
        """Stop the broker."""
        if self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGTERM)
            self._process.wait(timeout=30)


def bridge_env(storage: dict[str, str], port: int, bridge: tuple[str, str]) -> dict[str, str]:
    """The cloud's environment for a benchmark: `storage` (`BenchStorage.variables`), the
    broker on `port` with the bridge's (username, password), its one site, quiet logs."""
    return cloud_env(
        {
            **storage,
            "SIGHTLINE_CLOUD_MQTT_HOST": "127.0.0.1",
            "SIGHTLINE_CLOUD_MQTT_PORT": str(port),
            "SIGHTLINE_CLOUD_MQTT_USERNAME": bridge[0],
            "SIGHTLINE_CLOUD_MQTT_PASSWORD": bridge[1],
            "SIGHTLINE_CLOUD_MQTT_SITES": SITE,
            "SIGHTLINE_CLOUD_LOG_LEVEL": "WARNING",
        }
    )


def provision(env: dict[str, str], ids: Sequence[str]) -> None:
    """Provision `ids` at `SITE` in the cloud's database, as an operator does (one process)."""
    subprocess.run(
        cloud_command("shell", "--no-imports", "-c", PROVISION),
        input="\n".join(ids), env=env, text=True, check=True, timeout=600,
    )  # fmt: skip
