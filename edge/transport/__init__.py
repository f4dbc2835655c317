"""Delivery from the edge to the cloud: everything that must arrive goes through the outbox.

Topic names come from the contract (`sightline.device.v1.topics.DeviceTopics`) and every retry
waits by the system's one backoff policy (`sightline.backoff`).

Public surface:
- `outbox.Outbox` / `OutboxSettings`: the SQLite WAL spool, bounded per kind with counted
  drop-oldest, dead letters and persisted sequence counters.
- `mqtt.MqttLink` / `MqttSettings` / `enqueue`: broker connection (birth, will, backoff, terminal
  auth failures), the MQTT sender lane, and `router` (`downstream.DownstreamRouter`) for commands
  and desired state.
- `uplink.CropUplink` / `UplinkSettings` / `build_crop_request` / `enqueue_crop`: the gRPC crop
  lane.
- `sender.Sender`: the thread that drains the outbox through the lanes (`lane.Lane`).

Composition (done by the app): one `Outbox`, one stop `threading.Event`; an `MqttLink` and a
`CropUplink`; `Sender(outbox, {"mqtt": link, "crop": uplink}, stop)` with
`link.add_ready_listener(lambda: sender.wake("mqtt"))`.
"""
