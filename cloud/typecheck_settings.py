"""Settings for mypy's django-stubs plugin only: `cloud.settings` with development defaults.

The plugin imports the settings module to learn the installed apps and models. `cloud.settings`
rightly refuses to load without a secret key and service URLs, which a type checker has no use
for, so this module turns on the debug defaults first (Sentry's ``server_mypy`` pattern). The
plugin restores the environment afterwards. Never point DJANGO_SETTINGS_MODULE at this module.
"""

import os

os.environ["SIGHTLINE_CLOUD_DEBUG"] = "true"

from cloud.settings import *  # noqa: F403
