"""The zero-setup demo: the edge agent and the cloud on one machine, on embedded defaults.

`python -m demo` runs it (`./sightline demo` installs what it needs first); `demo.stack` holds
its pieces, which the end-to-end benchmark reuses. It composes the deployables as processes,
as a deployment would, and lives outside both: `edge` and `cloud` never import each other.
"""
