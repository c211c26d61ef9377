"""What operators watch: Prometheus metrics (:mod:`.metrics`, read from the store's own records
so every process shows every run), tenants' usage for vendor licences (:mod:`.usage`).

Alerts are :mod:`aurum.alerts`; logs and traces are :mod:`aurum.telemetry`, low enough for the
query and lake layers to trace into.
"""
