"""``python -m cloud <command>``: Django's manage.py for the Sightline cloud.

For example ``python -m cloud migrate``, ``python -m cloud createsuperuser`` or
``python -m cloud runserver``.
"""

import os
import sys

from django.core.management import execute_from_command_line


def main() -> None:
    """Run a Django management command with the cloud's settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloud.settings")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
