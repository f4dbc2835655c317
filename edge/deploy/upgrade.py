"""Agent upgrades: hand the desired agent image to the host, and report how the host fared.

The agent cannot replace its own container; its host can (docker/edge-jetson/sightline-jetson
`upgrade`, which a systemd path unit runs whenever `desired_file` changes). So for a desired
state that names an agent image other than the one it runs, the agent writes that image to
`desired_file` and the host switches the agent's unit to it, restarting the agent: the new
agent's status carries its version, which is how the cloud sees the image adopted. When the new
image does not run healthy the host goes back to the previous one and says so in `result_file`
(upgrade.json: from, to, result, detail, at). The agent, started again on the old image,
reports that as the error of the desired generation, which the cloud counts as a refusal, and
does not hand that image over again (the host would only roll back again) until the cloud
asks for another one.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)

FAILED_RESULTS: Final = ("rolled-back", "failed")
"""The `result` values of upgrade.json for an upgrade that left the previous image running."""


class AgentUpgradeSettings(BaseModel):
    """Where the agent and its host exchange the desired image and the upgrade's outcome."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str = Field(
        default="",
        description="The image this agent runs, as the host started it (the Jetson unit sets "
        "SIGHTLINE_EDGE_DEPLOY__AGENT_UPGRADE__IMAGE). Empty: unknown, and every desired "
        "image is handed to the host, which finds out whether it runs it already.",
    )
    desired_file: Path = Field(
        default=Path("/var/lib/sightline/agent-desired"),
        description="Where the agent writes the desired image (one line) for the host.",
    )
    result_file: Path = Field(
        default=Path("/var/lib/sightline/upgrade.json"),
        description="Where the host writes the outcome of its last upgrade.",
    )


class AgentUpgrades:
    """The desired agent image of the generation processed last, handed to the host; `None`
    settings: this device's host does not upgrade agents, and a desired image is refused."""

    def __init__(self, settings: AgentUpgradeSettings | None) -> None:
        self._settings = settings
        self._wanted = ""
        self._write_error = ""

    @property
    def running_image(self) -> str:
        """The image this agent runs, '' when unknown."""
        return self._settings.image if self._settings else ""

    def want(self, image: str) -> None:
        """Take the agent image of a desired state ('': no wish); hand it to the host unless
        the agent runs it, or the host failed it already."""
        self._wanted, self._write_error = image, ""
        settings = self._settings
        if not image or settings is None or image == settings.image or self._failure(image):
            return
        desired = settings.desired_file
        try:
            if desired.exists() and desired.read_text() == f"{image}\n":
                return  # Rewriting would start the host's upgrade again.
            partial = desired.with_name(f".{desired.name}.partial")
            partial.write_text(f"{image}\n")
            partial.replace(desired)
        except OSError as err:
            self._write_error = f"cannot hand it to the host in {desired}: {err.strerror}"
            logger.error("agent image %s: %s", image, self._write_error)
            return
        logger.info("agent image %s handed to the host (%s)", image, desired)

    def problem(self) -> str:
        """Why the agent does not run the desired image and will not ('' when it does, when
        there is none, or while the host is at it), for the reported state."""
        image = self._wanted
        if not image or image == self.running_image:
            return ""
        if self._settings is None:
            reason = "this device does not take agent images (deploy.agent_upgrade is not set)"
        else:
            reason = self._write_error or self._failure(image)
        return f"agent image {image}: {reason}" if reason else ""

    def _failure(self, image: str) -> str:
        """How the host's last upgrade to `image` failed, '' when it did not (or none is
        recorded)."""
        assert self._settings is not None
        file = self._settings.result_file
        try:
            outcome = json.loads(file.read_text())
        except FileNotFoundError:
            return ""
        except (OSError, ValueError) as err:
            logger.warning("cannot read the host's upgrade outcome in %s: %s", file, err)
            return ""
        if not isinstance(outcome, dict) or outcome.get("to") != image:
            return ""
        result = outcome.get("result")
        if result not in FAILED_RESULTS:
            return ""
        return f"{result} by the host ({outcome.get('detail', '')})"
