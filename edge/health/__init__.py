"""Health you can see while the agent runs: Prometheus metrics and health checks over HTTP.

`settings.MetricsSettings` is the `metrics:` section; `state` describes the agent at one moment
(cameras, delivery) and judges it (`/healthz`, `/readyz`); `collector.AgentCollector` turns the
same snapshot into Prometheus metrics at scrape time, reading the counters the pipelines and the
outbox keep anyway (one source of truth: nothing is counted twice); `server.HealthServer` serves
`/metrics`, `/healthz` and `/readyz` on a thread of its own.
"""
