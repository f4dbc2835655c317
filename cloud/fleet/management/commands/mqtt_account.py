"""``python -m cloud mqtt_account``: make, rotate or delete broker accounts.

    mqtt_account DEVICE_ID                  (re)make the device's account and print its password
    mqtt_account DEVICE_ID --revoke         delete it; a live session is disconnected at once
    mqtt_account --bridge NAME [--site S]   (re)make a bridge account for sites S (all if none)

A device's account is confined to its registered site (`provision_device --site`; blank means
"default", the edge's own default) and bound to its id as client id (`cloud.fleet.broker`).
A password is shown only once; making the account again rotates it.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from pydantic import ValidationError

from cloud.errors import NotFound
from cloud.fleet.broker import (
    BrokerAccountError,
    BrokerAdminSettings,
    MosquittoAccounts,
    new_password,
)
from cloud.fleet.services import device_site

# The edge's default site (edge.config.DeviceSettings) for devices registered without one.
DEFAULT_SITE = "default"


class Command(BaseCommand):
    help = "Make, rotate or delete a device's (or a bridge's) broker account."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help="device id, or the bridge's user name with --bridge")
        parser.add_argument("--revoke", action="store_true", help="delete the account")
        parser.add_argument("--bridge", action="store_true", help="a bridge account")
        parser.add_argument(
            "--site", action="append", default=[], help="bridge only: a site it serves (repeat)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"]
        try:
            accounts = MosquittoAccounts(BrokerAdminSettings.model_validate(settings.MQTT_ACCOUNTS))
        except ValidationError as err:
            raise CommandError(
                f"broker admin settings are incomplete (SIGHTLINE_CLOUD_MQTT_HOST, "
                f"SIGHTLINE_CLOUD_MQTT_ADMIN_USERNAME, ..._PASSWORD): {err}"
            ) from err
        try:
            if options["revoke"]:
                existed = accounts.delete(name)
                self.stdout.write(f"{name}: {'deleted' if existed else 'had no account'}")
                return
            password = new_password()
            if options["bridge"]:
                accounts.put_bridge(name, password, options["site"])
            else:
                accounts.put_device(name, device_site(name) or DEFAULT_SITE, password)
        except (BrokerAccountError, NotFound) as err:
            raise CommandError(str(err)) from err
        self.stdout.write(password)
