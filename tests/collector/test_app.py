"""The app's own routes (app.py), in process."""

from __future__ import annotations

from collections.abc import Callable

from tests.collector.conftest import App


def test_healthz(app: App) -> None:
    health = app.client.get("/healthz").json()
    assert health["status"] == "ok" and "bots_dropped" not in health["counters"]


def test_while_serving_the_garbage_collector_leaves_the_start_alone_and_runs_less_often(
    app_factory: Callable[..., App],
) -> None:
    """Its passes over young objects every 700 allocations took about a tenth of single-message throughput.
    Undone when the last app of the process stops, in whatever order they stop (found in the suite: two
    apps whose lifespans overlapped left the setting behind)."""
    import gc

    from collector.app import GC_YOUNG

    first, second = app_factory(), app_factory()
    assert first.client.get("/healthz").status_code == 200  # (serving)
    assert gc.get_threshold()[0] == GC_YOUNG and gc.get_freeze_count() > 0
    first.stop()
    assert gc.get_threshold()[0] == GC_YOUNG and gc.get_freeze_count() > 0  # the second still serves
    second.stop()
    assert gc.get_threshold()[0] != GC_YOUNG and gc.get_freeze_count() == 0
