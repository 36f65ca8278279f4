"""The app's own routes (app.py), in process."""

from __future__ import annotations

from tests.collector.conftest import App


def test_healthz(app: App) -> None:
    health = app.client.get("/healthz").json()
    assert health["status"] == "ok" and "bots_dropped" not in health["counters"]


def test_while_serving_the_garbage_collector_leaves_the_start_alone_and_runs_less_often(app: App) -> None:
    """Its passes over young objects every 700 allocations took about a tenth of single-message throughput."""
    import gc

    from collector.app import GC_YOUNG

    assert app.client.get("/healthz").status_code == 200  # (serving)
    assert gc.get_threshold()[0] == GC_YOUNG and gc.get_freeze_count() > 0
    app.stop()
    assert gc.get_threshold()[0] != GC_YOUNG and gc.get_freeze_count() == 0
