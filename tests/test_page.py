"""The page in a real browser: Debian's chromium, driven by Playwright, against the real server.

Playwright's own browser builds are downloaded from outside the package
registries, so the tests run the system's chromium (`apt-get install chromium`,
which .ci/run does). Without it they skip, except in CI, where they fail.
"""

import math

import pytest

from tests.browser import draw, shown_digit
from tests.running import running_server

pytestmark = pytest.mark.slow  # starts the server and a browser


@pytest.fixture
def page(browser, onnx_file):
    with running_server(onnx_file) as address:
        opened = browser.new_page()
        opened.goto(f"http://{address}/")
        yield opened
        opened.close()


def seen_ink(page) -> int:
    """The sum of the 28x28 image the page shows as what the model saw."""
    return page.evaluate(
        """() => document.getElementById("seen").getContext("2d")
              .getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 == 0)
              .reduce((a, b) => a + b, 0)"""
    )


def test_a_drawn_one_is_read_as_a_one(page):
    draw(page, [[(0.5, 0.15), (0.5, 0.85)]])
    assert shown_digit(page) == "1"
    rows = page.locator("#top li")
    assert rows.count() == 3
    assert rows.first.locator(".share").inner_text().endswith("%")
    assert seen_ink(page) > 0


def test_a_drawn_zero_is_read_as_a_zero_and_clear_empties_the_page(page):
    points = [(0.5 + 0.22 * cos, 0.5 + 0.33 * sin) for cos, sin in ring(24)]
    draw(page, [points])
    assert shown_digit(page) == "0"
    page.click("#clear")
    assert page.locator("#top li").count() == 0 and seen_ink(page) == 0


def ring(points: int) -> list[tuple[float, float]]:
    return [
        (math.cos(2 * math.pi * k / points), math.sin(2 * math.pi * k / points))
        for k in range(points + 1)
    ]


def test_an_image_file_chosen_on_the_page_is_read_like_the_command_reads_it(page, user_images):
    path, label = user_images["colour.jpg"]
    page.set_input_files("#file", str(path))
    assert shown_digit(page) == str(label)


def test_a_file_that_is_not_an_image_shows_the_server_s_reason(page, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not pixels")
    page.set_input_files("#file", str(text))
    page.wait_for_function("document.getElementById('error').textContent.length > 0")
    assert "not an image" in page.inner_text("#error")
