"""The README's picture of the page: a 7 drawn with the mouse on `mnist-predict serve`.

    python docs/screenshot.py [--model models/model.onnx] [--out docs/page.png]

Needs chromium (apt-get install chromium); the server runs on 127.0.0.1 and is stopped after.
"""

import argparse
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.browser import CHROMIUM, draw, shown_digit
from tests.running import running_server

SEVEN = [[(0.28, 0.22), (0.72, 0.22), (0.45, 0.85)], [(0.36, 0.52), (0.64, 0.52)]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=Path("models/model.onnx"))
    parser.add_argument("--out", type=Path, default=Path("docs/page.png"))
    args = parser.parse_args()
    with running_server(args.model) as address, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 760, "height": 470})
        page.goto(f"http://{address}/")
        draw(page, SEVEN)
        print(f"the page reads: {shown_digit(page)}")
        page.screenshot(path=args.out)
        browser.close()


if __name__ == "__main__":
    main()
