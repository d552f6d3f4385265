"""What phones and scanners add to a digit on paper: uneven light, ruled or squared lines, marks.

Each effect takes a page of grey levels (float, paper near PAPER, ink darker)
and a NumPy random generator, and returns the page changed. Shared by
tests/test_digit_image.py and bench/predict_photos.py.
"""

import numpy as np
from PIL import Image, ImageDraw

PAPER = 238  # grey level of white paper under ordinary light
INK = 40  # a pen's ink


def uneven_light(page: np.ndarray, rng) -> np.ndarray:
    """Light falling off across the page, and a soft shadow over part of it."""
    rows, columns = np.indices(page.shape, dtype=np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    along = np.cos(angle) * columns / page.shape[1] + np.sin(angle) * rows / page.shape[0]
    light = 1.0 - 0.45 * (along - along.min()) / max(np.ptp(along), 1e-6)
    cut = rng.uniform(0.3, 0.7) * page.shape[1]
    shadow = 1.0 - 0.35 / (1.0 + np.exp(-(columns - cut) / (0.04 * page.shape[1])))
    return page * light * shadow


def ruled_paper(page: np.ndarray, rng, squared: bool = False) -> np.ndarray:
    """Light blue-grey lines (and a red margin), drawn under the ink: the darker wins."""
    spacing = (
        int(page.shape[0] * rng.uniform(0.12, 0.2))
        if squared
        else int(page.shape[0] * rng.uniform(0.22, 0.3))
    )
    lines = Image.new("L", (page.shape[1], page.shape[0]), 255)
    draw = ImageDraw.Draw(lines)
    offset = int(rng.integers(0, spacing))
    for y in range(offset, page.shape[0], spacing):
        draw.line([(0, y), (page.shape[1], y)], fill=175, width=2)
    if squared:
        for x in range(offset, page.shape[1], spacing):
            draw.line([(x, 0), (x, page.shape[0])], fill=185, width=1)
    else:
        margin = int(page.shape[1] * rng.uniform(0.08, 0.15))
        draw.line([(margin, 0), (margin, page.shape[0])], fill=150, width=2)
    return np.minimum(page, np.asarray(lines, np.float32) * PAPER / 255)


def stray_marks(page: np.ndarray, rng) -> np.ndarray:
    """A few dots and short scratches near the edges, away from the digit's middle."""
    marked = Image.fromarray(page.astype(np.uint8))
    draw = ImageDraw.Draw(marked)
    height, width = page.shape
    for _ in range(int(rng.integers(2, 5))):
        x = float(rng.choice([rng.uniform(0, 0.12), rng.uniform(0.88, 1.0)])) * width
        y = float(rng.uniform(0, 1)) * height
        if rng.random() < 0.5:
            radius = max(1, width // 120)
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=INK)
        else:
            length = width * rng.uniform(0.02, 0.05)
            draw.line([(x, y), (x + length, y + length * rng.uniform(-1, 1))], fill=INK, width=2)
    return np.asarray(marked, np.float32)
