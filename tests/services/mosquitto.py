"""Mosquitto 2.0 from Debian with the dynamic-security plugin and TLS listeners.

Accounts live in the plugin (`cloud.fleet.broker` manages them at run time): the admin account
made here has the plugin's admin role plus publish rights everywhere (tests play the cloud with
it); device accounts, bound to their client id and confined to their own topics under one site,
are made per test by the `mqtt_site` fixture. Anonymous clients are refused.

Listeners, all on 127.0.0.1: plain MQTT; MQTT over TLS (server certificate from a CA made here);
and MQTT over TLS that requires a client certificate from that CA (mTLS). The CA's key is
written too, so tests can issue client certificates.
"""

from __future__ import annotations

import json
import signal
import struct
from pathlib import Path

from tests.services import contract
from tests.services.base import Context
from tests.services.procs import (
    LOOPBACK,
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
DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"

# use_identity_as_username stays off on the mTLS listener: the certificate proves the device's
# identity to the transport, and the account (user name and password) still decides access.
CONFIG = """\
per_listener_settings false
allow_anonymous false
plugin {plugin}
plugin_opt_config_file {home}/dynsec.json
persistence false
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information

listener {port} {host}

listener {tls_port} {host}
cafile {home}/ca.pem
certfile {home}/server.pem
keyfile {home}/server.key

listener {mtls_port} {host}
cafile {home}/ca.pem
certfile {home}/server.pem
keyfile {home}/server.key
require_certificate true
"""


class Mosquitto:
    """mosquitto on free ports with the dynamic-security plugin and two TLS listeners."""

    name = "mosquitto"
    apt_packages: tuple[str, ...] = ("mosquitto", "openssl")
    stop_signal = signal.SIGTERM

    def install(self, ctx: Context) -> None:
        """Nothing beyond the Debian packages (mosquitto ships mosquitto_ctrl and the plugin)."""

    def start(self, ctx: Context) -> Running:
        """Write config, accounts and certificates, start mosquitto, wait for the admin login."""
        home = ctx.state.service_dir(self.name)
        accounts = {user: ctx.state.secret(f"mqtt_{user}") for user in (ADMIN_USER, *DEVICE_USERS)}
        _write_dynsec(home / "dynsec.json", ADMIN_USER, accounts[ADMIN_USER])
        _write_certificates(home)
        port, tls_port, mtls_port = free_ports(3)
        config = home / "mosquitto.conf"
        config.write_text(
            CONFIG.format(
                plugin=DYNSEC_PLUGIN,
                port=port,
                tls_port=tls_port,
                mtls_port=mtls_port,
                host=LOOPBACK,
                home=home,
            ),
            encoding="utf-8",
        )
        give_to(SERVER_USER, home, home / "dynsec.json", home / "server.key", config)
        log = ctx.state.log_path(self.name)
        process = spawn(["/usr/sbin/mosquitto", "-c", config], log_path=log, user=SERVER_USER)
        device, device2 = DEVICE_USERS
        running = Running(
            process=identify(process.pid),
            ports={"port": port, "tls_port": tls_port, "mtls_port": mtls_port},
            env={
                contract.MQTT_HOST: LOOPBACK,
                contract.MQTT_PORT: str(port),
                contract.MQTT_TLS_PORT: str(tls_port),
                contract.MQTT_MTLS_PORT: str(mtls_port),
                contract.MQTT_CA_FILE: str(home / "ca.pem"),
                contract.MQTT_CA_KEY_FILE: str(home / "ca.key"),
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


def _write_dynsec(path: Path, admin: str, password: str) -> None:
    """The plugin's state with one admin account (`mosquitto_ctrl dynsec init` hashes the
    password), whose role also may publish anywhere: in tests it plays the cloud."""
    path.unlink(missing_ok=True)
    # The password goes through stdin: on the command line every local user could read it.
    run_as(
        None, ["mosquitto_ctrl", "dynsec", "init", path, admin], stdin=f"{password}\n{password}\n"
    )
    state = json.loads(path.read_text(encoding="utf-8"))
    (role,) = (r for r in state["roles"] if r["rolename"] == "admin")
    role["acls"].append({"acltype": "publishClientSend", "topic": "#", "allow": True})
    path.write_text(json.dumps(state, indent=1), encoding="utf-8")
    path.chmod(0o600)


def _write_certificates(home: Path) -> None:
    """A CA and a server certificate for 127.0.0.1 and localhost, with openssl."""
    ca, ca_key = home / "ca.pem", home / "ca.key"
    key, request, cert = home / "server.key", home / "server.csr", home / "server.pem"
    extensions = home / "server.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n", encoding="utf-8")
    new_key = ["-newkey", "rsa:2048", "-nodes"]
    run_as(None, ["openssl", "req", "-x509", *new_key, "-days", "30", "-keyout", ca_key,
                  "-out", ca, "-subj", "/CN=Sightline test CA"])  # fmt: skip
    run_as(None, ["openssl", "req", *new_key, "-keyout", key, "-out", request,
                  "-subj", "/CN=127.0.0.1"])  # fmt: skip
    run_as(None, ["openssl", "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key,
                  "-CAcreateserial", "-days", "30", "-out", cert,
                  "-extfile", extensions])  # fmt: skip


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
