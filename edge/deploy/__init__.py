"""Desired state and commands from the cloud: fetch, verify, prepare and swap in models.

- `generations`: which desired generation to apply (pure).
- `verify`: size, sha256, manifest and the operator's ed25519 signature of an artifact (pure).
- `download`: the expiring URL, bounded in size and time, retried with backoff.
- `swap`: the handoff of a prepared detector to a camera between two frames.
- `commands`: request-id dedupe and expiry of commands (pure).
- `agent`: the `Deployer` thread that composes them and reports the state the device runs.
"""
