"""TLS of the cloud's connections to the MQTT broker (the bridge, the account API).

The settings are a device's (`sightline.tls.MqttEndpoint`, docs/architecture.md, "Security"):
TLS unless the broker is on loopback, the system's roots or `ca_file`, and with `cert_file` and
`key_file` a client certificate on top of the password, for a listener that requires one.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt

from sightline.tls import MqttEndpoint


def apply_tls(client: mqtt.Client, endpoint: MqttEndpoint) -> None:
    """Set up `client`'s TLS for `endpoint` (before it connects); nothing without TLS."""
    if not endpoint.uses_tls:
        return
    client.tls_set(
        ca_certs=str(endpoint.ca_file) if endpoint.ca_file else None,
        certfile=str(endpoint.cert_file) if endpoint.cert_file else None,
        keyfile=str(endpoint.key_file) if endpoint.key_file else None,
    )
