"""The bridge's side of desired state: publish each pending generation, retained.

The bridge is the cloud's one MQTT account that may write devices' downstream topics
(`cloud.fleet.broker`), so it publishes what `cloud.deploy.services` wrote: every second,
between the messages it applies, `DesiredPublisher.publish_pending` takes the desired
states whose `published_generation` lags, builds each message with fresh download URLs, publishes
them retained at QoS 1 on the devices' `desired` topics, all at once (the broker acknowledges a
window of them per round trip), and marks published, in one transaction, those the broker
acknowledged. A device that is offline gets the retained message when it reconnects; a
publish that fails (connection lost, broker refusal) stays pending and is sent on a later pass.
The database is the outbox, so nothing is lost between a change and the broker. Queued commands
go the same way, not retained, until they expire.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Final

from django.db import transaction

from cloud.deploy.services import (
    command_message,
    desired_message,
    mark_command_published,
    mark_published,
    pending,
    pending_commands,
)
from cloud.errors import CloudError
from cloud.lib.objectstore import ObjectStoreError
from sightline.device.v1.topics import DeviceTopics

logger = logging.getLogger(__name__)

Publish = Callable[[Sequence[tuple[str, bytes, bool]]], list[bool]]
"""Publishes messages (topic, payload, retained) at QoS 1; returns, for each, whether the broker
acknowledged it."""

_BATCH: Final = 200


class DesiredPublisher:
    """Publishes pending desired states through `publish`; see the module docstring."""

    def __init__(self, publish: Publish, topic_prefix: str, sites: Sequence[str] = ()) -> None:
        self._publish = publish
        self._prefix = topic_prefix
        self._sites = tuple(sites)

    def publish_pending(self) -> int:
        """Publish what is pending, desired states then commands (a batch of each at most);
        return how many were published.

        Commands wait for a later pass when a desired state was not acknowledged (the
        connection is likely gone); a state whose message cannot be built (object store down)
        is skipped and stays pending. Database errors propagate to the caller, the bridge's loop.
        """
        built = []
        for state in pending(self._sites, _BATCH):
            try:
                message, expires_at = desired_message(state)
            except (CloudError, ObjectStoreError) as err:
                logger.warning(
                    "cannot publish generation %d to %s: %s", state.generation, state.device_id,
                    err, extra={"device_id": state.device_id},
                )  # fmt: skip
                continue
            topic = DeviceTopics(self._prefix, state.device.site_id, state.device_id).desired
            built.append((state, expires_at, (topic, message.SerializeToString(), True)))
        acknowledged = self._publish([outgoing for _, _, outgoing in built]) if built else []
        published = 0
        # One commit for the pass rather than one per device.
        with transaction.atomic():
            for (state, expires_at, _), acked in zip(built, acknowledged, strict=True):
                if acked:
                    mark_published(state.device_id, state.generation, expires_at)
                    published += 1
                    logger.info(
                        "published generation %d of %s's desired state", state.generation,
                        state.device_id, extra={"device_id": state.device_id},
                    )  # fmt: skip
        if published < len(built):
            return published
        commands = pending_commands(self._sites, _BATCH)
        messages = [
            (
                DeviceTopics(self._prefix, command.device.site_id, command.device_id).command(
                    command.name
                ),
                command_message(command).SerializeToString(),
                False,
            )
            for command in commands
        ]
        acknowledged = self._publish(messages) if messages else []
        with transaction.atomic():
            for command, acked in zip(commands, acknowledged, strict=True):
                if acked:
                    mark_command_published(command.request_id)
                    published += 1
        return published
