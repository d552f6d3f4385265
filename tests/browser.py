"""Driving the page as a user does: the system's chromium, real mouse strokes (no TensorFlow)."""

import shutil

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ANSWER_TIMEOUT_MS = 60_000


def draw(page, strokes: list[list[tuple[float, float]]]) -> None:
    """Real mouse strokes on the drawing square; points in 0..1 of its side."""
    box = page.locator("#pad").bounding_box()
    for stroke in strokes:
        (x, y), rest = stroke[0], stroke[1:]
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=8)
        page.mouse.up()


def shown_digit(page) -> str:
    page.wait_for_selector("#top[data-digit]", timeout=ANSWER_TIMEOUT_MS)
    return page.get_attribute("#top", "data-digit")
