"""Delivery from the edge to the cloud: everything that must arrive goes through the outbox.

Records that must be stored (events, track summaries) and crops travel over gRPC with an ack per
item, sent only after the cloud stored it; MQTT carries presence and state (status birth and
will, the heartbeat), never anything the outbox holds (docs/architecture.md, "Transport"). Every
retry waits by the system's one backoff policy (`sightline.backoff`).

Public surface:
- `outbox.Outbox` / `OutboxSettings`: the SQLite WAL spool, bounded per kind ('record', 'crop')
  with counted drop-oldest, dead letters and persisted sequence counters.
- `spool.enqueue_record` / `spool.enqueue_crop`: put wire messages (built by `edge.wire`) in the
  outbox under their idempotency keys.
- `uplink.Uplink` / `UplinkSettings`: the gRPC channel and its two lanes, `records`
  (UploadRecords) and `crops` (UploadCrops), both `stream.StreamLane`s.
- `sender.Sender`: one thread per lane (`lane.Lane`) draining the outbox, with the retry rules.
- `mqtt.MqttLink` / `MqttSettings`: broker connection (birth, will, backoff, terminal auth
  failures) and the heartbeat; `heartbeat.HeartbeatSampler` samples its Metrics. Downstream, it
  subscribes to the device's desired state and commands and hands them to `edge.deploy`.

The lanes only talk to the network; building messages and spooling them happen before, on the
caller's thread.

Composition (done by `edge.delivery.OutboxDelivery`): one `Outbox`, one stop `threading.Event`;
an `Uplink`; `Sender(outbox, {"record": uplink.records, "crop": uplink.crops}, stop)`; an
`MqttLink(..., heartbeat=HeartbeatSampler(outbox, sender, ...))`.
"""
