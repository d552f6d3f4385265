"""The README's picture of `dvc plots show` with no network: this workspace's charts, drawn offline.

    python docs/plots_screenshot.py [--out docs/plots_offline.png] [--width 1280]

Writes DVC's plots page with Vega inlined where .dvc/config names it (as `make install`
does), runs `dvc plots show` into a temporary folder, opens the page in chromium as a
local file with every other request aborted, waits until every chart is drawn and saves
the part of the page that holds the charts (the report's images follow them there).
Needs chromium (apt-get install chromium).
"""

import argparse
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mnist_pipeline import plots_page
from tests.browser import CHROMIUM
from tests.conftest import REPO
from tests.test_plots_page import (
    OfflinePage,
    configured_template,
    show_plots,
)

# Around the charts, as the page's body has: labels at a chart's edge stay off the picture's.
MARGIN = 8


def around(boxes: list[dict], margin: float = MARGIN) -> dict:
    """The box holding all ``boxes`` and ``margin`` around them (page coordinates)."""
    left = max(0, min(box["x"] for box in boxes) - margin)
    top = max(0, min(box["y"] for box in boxes) - margin)
    right = max(box["x"] + box["width"] for box in boxes) + margin
    bottom = max(box["y"] + box["height"] for box in boxes) + margin
    return {"x": left, "y": top, "width": right - left, "height": bottom - top}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs/plots_offline.png")
    parser.add_argument("--width", type=int, default=1280, help="the browser window's width")
    args = parser.parse_args()
    plots_page.write_page(configured_template(REPO))
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        try:
            page_file = show_plots(REPO, Path(folder))
        except AssertionError as error:  # the test helper's way of saying what DVC said
            sys.exit(f"error: dvc plots show: {error}")
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        opened = OfflinePage(browser, page_file, viewport={"width": args.width, "height": 800})
        try:
            charts = opened.wait_until_every_chart_is_drawn()
        except AssertionError as error:
            sys.exit(f"error: {error}")
        if opened.blocked:
            sys.exit(f"error: the page asked the network for {', '.join(opened.blocked)}")
        box = around([chart["box"] for chart in charts])
        opened.page.screenshot(path=args.out, clip=box, full_page=True)
        browser.close()
    print(f"{args.out}: {len(charts)} charts, drawn with no network")


if __name__ == "__main__":
    main()
