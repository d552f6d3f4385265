"""Predictions as text: a table for people, JSON or CSV for programs."""

import csv
import io
import json
from dataclasses import asdict
from pathlib import Path

from mnist_predict.prediction import Prediction

Rows = list[tuple[Path, Prediction]]


def format_predictions(rows: Rows, style: str) -> str:
    """``rows`` as ``style``, one of FORMATS."""
    return FORMATS[style](rows)


def as_table(rows: Rows) -> str:
    width = max([len("path"), *(len(str(path)) for path, _ in rows)])
    lines = [f"{'path':<{width}}  digit  probability  top-k"]
    lines += [
        f"{path!s:<{width}}  {p.digit:>5}  {p.probability:>11.4f}  {_top_k(p)}" for path, p in rows
    ]
    return "\n".join(lines)


def as_json(rows: Rows) -> str:
    return json.dumps([{"path": str(path), **asdict(p)} for path, p in rows], indent=2)


def as_csv(rows: Rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "digit", "probability", "top_k"])
    writer.writerows([str(path), p.digit, p.probability, _top_k(p)] for path, p in rows)
    return buffer.getvalue().rstrip("\n")


def _top_k(prediction: Prediction) -> str:
    return " ".join(f"{digit}:{share:.4f}" for digit, share in prediction.top_k)


FORMATS = {"table": as_table, "json": as_json, "csv": as_csv}
