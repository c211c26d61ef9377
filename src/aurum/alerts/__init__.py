"""Alerts for operators: gate failures, quarantine spikes, layout drift, missing files, stale
vendors — each raised once per condition, as an ``alert`` event and a Slack-compatible post.

:mod:`.rules` decides (pure); :mod:`.service` gathers the facts from the outbox, the runs and
the vendor schedule, raises, resolves and tells.
"""

from aurum.alerts.rules import AlertSpec
from aurum.alerts.service import Alerts, Pass

__all__ = ["AlertSpec", "Alerts", "Pass"]
