"""Model registry and deployment: signed model versions, desired vs reported state per device.

- `models`: operator signing keys, model versions (ONNX in the object store, manifest, sha256,
  ed25519 signature), the desired state of each device and the state it last reported.
- `signing`: ed25519 keys and signatures (`cryptography`) over `sightline.model_signature`.
- `registry`: upload and verify a model version; expiring download URLs.
- `services`: `assign_model` (the seam rollouts call), reported state, drift.
- `publisher`: the bridge's side: publishes each pending desired state, retained.
"""
