"""`python -m edge health FILE`: ask the running agent's `/healthz`, for a container HEALTHCHECK.

With `metrics.enabled` it GETs `/healthz` on the configured port (a wildcard host is asked on
loopback) and succeeds on 200; an agent that answers 503 or does not answer fails. Without it
there is no endpoint to ask, so the check falls back to what the images checked before: that the
config still loads (a mounted config that became invalid would stop the next restart).
"""

from __future__ import annotations

import urllib.error
import urllib.request

from edge.health.settings import MetricsSettings

_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
TIMEOUT_S = 5.0


def healthz_url(settings: MetricsSettings) -> str:
    """Where the agent of these settings answers `/healthz`, seen from its own host."""
    host = _WILDCARDS.get(settings.host, settings.host)
    return (
        f"http://[{host}]:{settings.port}/healthz"
        if ":" in host
        else (f"http://{host}:{settings.port}/healthz")
    )


def ask(settings: MetricsSettings) -> tuple[bool, str]:
    """(healthy, what the agent said or why it could not be asked)."""
    url = healthz_url(settings)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return True, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return False, f"{url}: {error.code} {error.read().decode(errors='replace')}"
    except OSError as error:
        return False, f"{url}: the agent does not answer ({error})"
