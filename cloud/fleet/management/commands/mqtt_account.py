"""``python -m cloud mqtt_account``: make, rotate or delete broker accounts.

    mqtt_account DEVICE_ID                  (re)make the device's account and print its password
    mqtt_account DEVICE_ID --revoke         delete it; a live session is disconnected at once
    mqtt_account --bridge NAME [--site S]   (re)make a bridge account for sites S (all if none)

A device's account is confined to its registered site and bound to its id as client id
(`cloud.fleet.broker`). Enrolment (`python -m cloud devices enrol`) makes it for new devices.
A password is shown only once; making the account again rotates it.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cloud.errors import NotFound
from cloud.fleet.broker import BrokerAccountError, accounts_from_settings, new_password
from cloud.fleet.services import device_site


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
            accounts = accounts_from_settings()
            if options["revoke"]:
                existed = accounts.delete(name)
                self.stdout.write(f"{name}: {'deleted' if existed else 'had no account'}")
                return
            password = new_password()
            if options["bridge"]:
                accounts.put_bridge(name, password, options["site"])
            else:
                accounts.put_device(name, device_site(name), password)
        except (BrokerAccountError, NotFound) as err:
            raise CommandError(str(err)) from err
        self.stdout.write(password)
