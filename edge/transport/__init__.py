"""Delivery from the edge to the cloud: everything that must arrive goes through the outbox.

Topic names come from the contract (`sightline.device.v1.topics.DeviceTopics`) and every retry
waits by the system's one backoff policy (`sightline.backoff`).

Public surface:
- `outbox.Outbox` / `OutboxSettings`: the SQLite WAL spool, bounded per kind with counted
  drop-oldest, dead letters and persisted sequence counters.
- `spool.enqueue` / `spool.enqueue_crop`: put wire messages (built by `edge.wire`) in the outbox
  under their idempotency keys.
- `mqtt.MqttLink` / `MqttSettings`: broker connection (birth, will, backoff, terminal auth
  failures) and the MQTT sender lane. Upstream only: nothing handles commands or desired state
  yet, so the link subscribes to nothing.
- `uplink.CropUplink` / `UplinkSettings`: the gRPC crop lane.
- `sender.Sender`: the thread that drains the outbox through the lanes (`lane.Lane`).

The lanes only talk to the network; building messages and spooling them happen before, on the
caller's thread.

Composition (done by the app): one `Outbox`, one stop `threading.Event`; an `MqttLink` and a
`CropUplink`; `Sender(outbox, {"mqtt": link, "crop": uplink}, stop)` with
`link.add_ready_listener(lambda: sender.wake("mqtt"))`.
"""
