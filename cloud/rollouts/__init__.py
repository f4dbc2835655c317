"""Staged, health-gated model rollouts (docs/architecture.md, "Fleet and rollouts").

`plan` picks each stage's devices, `gate` judges a stage's devices against their own baseline,
`engine` is the state machine; `services` persists them and applies their transitions through
`cloud.deploy` (what devices should run) and `cloud.monitoring` (how healthy they are), and the
Celery beat task `advance_rollouts` drives every running rollout.
"""
