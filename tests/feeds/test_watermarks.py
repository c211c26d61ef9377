"""Feed watermarks in the store: per source, never backwards, shown by /metrics as days behind
(not as an event consumer's lag) — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from prometheus_client import generate_latest

from aurum.feeds.watermarks import StoreWatermarks
from aurum.observability.metrics import Metrics


def test_a_watermark_moves_forward_only_and_per_source(store):
    marks = StoreWatermarks(store)
    assert marks.get("pjm.da_hrl_lmps") is None
    marks.advance("pjm.da_hrl_lmps", date(2025, 5, 2))
    marks.advance("pjm.da_hrl_lmps", date(2025, 5, 1))  # an older day: kept as it was
    marks.advance("ecb.eurofxref_daily", date(2026, 4, 13))
    assert marks.get("pjm.da_hrl_lmps") == date(2025, 5, 2)
    assert marks.get("ecb.eurofxref_daily") == date(2026, 4, 13)


def test_metrics_show_days_behind_not_event_lag(store):
    StoreWatermarks(store).advance("pjm.da_hrl_lmps", date(2025, 5, 2))
    metrics = Metrics()
    metrics.watch(store)
    text = generate_latest(metrics.registry).decode()
    behind = (date.today() - date(2025, 5, 2)).days
    assert f'aurum_feed_watermark_days{{source="pjm.da_hrl_lmps"}} {float(behind)}' in text
    assert 'consumer="feed:' not in text
