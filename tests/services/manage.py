#!/usr/bin/env python3
"""Start, stop and inspect the real services the integration tests use (stdlib only).

    python3 tests/services/manage.py up [--only NAME,...]   # then: set -a; . .services/env
    python3 tests/services/manage.py status | env | down

The commands live in tests/services/cli.py; this file only makes them runnable with a plain
`python3` before any virtual environment exists.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _main() -> int:
    # Run as a script, Python puts this folder first on sys.path, where our module names could
    # shadow real ones; the repository root goes there instead so `tests.services` imports.
    sys.path[0] = str(Path(__file__).resolve().parents[2])
    from tests.services.cli import main

    return main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(_main())
