"""A downstream consumer: pull new events from Footfall on a schedule and keep per-user totals.

Run `footfall serve`, send it some events, then:

    python examples/downstream/pull_profiles.py --url http://127.0.0.1:8000 --token "$FOOTFALL_EXPORT_TOKEN"

It pulls `/v1/export` from the cursor it saved last time (in `pull.cursor`), so running it again (from
cron, say) processes each event exactly once, and it keeps its totals in `pull.state.json`. It needs
only httpx (`pip install httpx`).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import httpx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True, help="the collector's export token")
    parser.add_argument("--state-dir", type=Path, default=Path("."))
    args = parser.parse_args()

    cursor_file = args.state_dir / "pull.cursor"
    state_file = args.state_dir / "pull.state.json"
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    if state_file.exists():
        for person, figures in json.loads(state_file.read_text()).items():
            totals[person].update(figures)
    cursor = cursor_file.read_text().strip() if cursor_file.exists() else None

    pulled = 0
    with httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {args.token}"}, timeout=60) as client:
        while True:
            params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
            response = client.get("/v1/export", params=params)
            response.raise_for_status()
            lines = response.text.splitlines()
            if not lines:
                break  # caught up for now; the next run goes on from the saved cursor
            for line in lines:
                event = json.loads(line)
                person = event.get("userId") or event.get("anonymousId")
                totals[person][event["type"]] += 1
                if event.get("event") == "Order Completed":
                    props = event.get("properties", {})
                    amount = props.get("revenue", props.get("total", 0))
                    totals[person]["revenue " + props.get("currency", "?")] += amount
            pulled += len(lines)
            cursor = response.headers["Footfall-Cursor"]
            # Save state before the cursor: a crash between the two re-reads a page, never skips one.
            state_file.write_text(json.dumps(totals, indent=1))
            cursor_file.write_text(cursor)
    print(f"pulled {pulled} new events; {len(totals)} people so far (see {state_file})")


if __name__ == "__main__":
    main()
