"""Sightline's container images built and run with podman: base image, wheelhouses, builds."""
