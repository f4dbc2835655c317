"""Mosquitto 2.0 from Debian with real authentication and a per-device ACL.

Accounts: one cloud/admin account with full access to `<prefix>/#`, and device accounts whose
username is the device id, confined by a pattern ACL to `<prefix>/v1/<any site>/<own id>/#`
(the topic layout in `sightline.device.v1.topics`). Anonymous clients are refused.
"""

from __future__ import annotations

import signal
import struct
from pathlib import Path

from tests.services import contract
from tests.services.base import Context
from tests.services.procs import (
    LOOPBACK,
    ServiceError,
    free_ports,
    give_to,
    identify,
    run_as,
    server_user,
    spawn,
    stopped_on_failure,
    tcp_exchange,
    wait_until,
)
from tests.services.state import Running

TOPIC_PREFIX = "sightline"
ADMIN_USER = "sightline-cloud"
DEVICE_USERS = ("test-device-1", "test-device-2")
SERVER_USER = server_user("mosquitto")

# Pattern lines apply to every account, so they come before the first `user` block; %u is the
# username (mosquitto.conf(5), acl_file). Mosquitto refuses %u substitution for usernames
# holding `+`, `#` or `/`, so device ids must not contain them.
ACL = f"""\
pattern readwrite {TOPIC_PREFIX}/v1/+/%u/#

user {ADMIN_USER}
topic readwrite {TOPIC_PREFIX}/#
"""

CONFIG = """\
per_listener_settings false
allow_anonymous false
listener {port} {host}
password_file {home}/passwd
acl_file {home}/acl
persistence false
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
"""


class Mosquitto:
    """mosquitto on a free port with a password file and an ACL file."""

    name = "mosquitto"
    apt_packages: tuple[str, ...] = ("mosquitto",)
    stop_signal = signal.SIGTERM

    def install(self, ctx: Context) -> None:
        """Nothing beyond the Debian package (it ships mosquitto_passwd)."""

    def start(self, ctx: Context) -> Running:
        """Write config, passwords and ACL, start mosquitto, wait until the admin can log in."""
        home = ctx.state.service_dir(self.name)
        accounts = {user: ctx.state.secret(f"mqtt_{user}") for user in (ADMIN_USER, *DEVICE_USERS)}
        _write_password_file(home / "passwd", accounts)
        (home / "acl").write_text(ACL, encoding="utf-8")
        (port,) = free_ports(1)
        config = home / "mosquitto.conf"
        config.write_text(CONFIG.format(port=port, host=LOOPBACK, home=home), encoding="utf-8")
        give_to(SERVER_USER, home, home / "passwd", home / "acl", config)
        log = ctx.state.log_path(self.name)
        process = spawn(["/usr/sbin/mosquitto", "-c", config], log_path=log, user=SERVER_USER)
        device, device2 = DEVICE_USERS
        running = Running(
            process=identify(process.pid),
            ports={"port": port},
            env={
                contract.MQTT_HOST: LOOPBACK,
                contract.MQTT_PORT: str(port),
                contract.MQTT_TOPIC_PREFIX: TOPIC_PREFIX,
                contract.MQTT_ADMIN_USER: ADMIN_USER,
                contract.MQTT_ADMIN_PASSWORD: accounts[ADMIN_USER],
                contract.MQTT_DEVICE_USER: device,
                contract.MQTT_DEVICE_PASSWORD: accounts[device],
                contract.MQTT_DEVICE2_USER: device2,
                contract.MQTT_DEVICE2_PASSWORD: accounts[device2],
            },
            address=f"{LOOPBACK}:{port}",
        )
        with stopped_on_failure(process):
            wait_until(
                lambda: self.is_ready(running),
                what="mosquitto",
                timeout=30,
                process=process,
                log_path=log,
            )
        return running

    def is_ready(self, running: Running) -> bool:
        """An MQTT 3.1.1 CONNECT with the admin credentials is accepted (CONNACK code 0)."""
        packet = connect_packet(
            "sightline-services-probe",
            running.env[contract.MQTT_ADMIN_USER],
            running.env[contract.MQTT_ADMIN_PASSWORD],
        )
        disconnect = b"\xe0\x00"
        return tcp_exchange(running.ports["port"], packet + disconnect, 4) == b"\x20\x02\x00\x00"


def _write_password_file(path: Path, accounts: dict[str, str]) -> None:
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    for user, password in accounts.items():
        try:
            run_as(None, ["mosquitto_passwd", "-b", path, user, password])
        except ServiceError:
            # The message would quote the command line, password included.
            raise ServiceError(f"mosquitto_passwd could not add {user} to {path}") from None


def _utf8_field(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("!H", len(data)) + data


def _remaining_length(length: int) -> bytes:
    # MQTT 3.1.1 section 2.2.3: 7 bits per byte, high bit set while more bytes follow.
    out = bytearray()
    while True:
        length, digit = divmod(length, 128)
        out.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(out)


def connect_packet(client_id: str, user: str, password: str) -> bytes:
    """An MQTT 3.1.1 CONNECT with username, password and a clean session (spec section 3.1)."""
    flags = 0x80 | 0x40 | 0x02  # username, password, clean session
    header = _utf8_field("MQTT") + bytes([4, flags]) + struct.pack("!H", 30)
    body = header + _utf8_field(client_id) + _utf8_field(user) + _utf8_field(password)
    return b"\x10" + _remaining_length(len(body)) + body
