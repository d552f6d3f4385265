"""Stage report: figures and a markdown summary, from the metrics and plot data alone."""

import argparse
from pathlib import Path

from mnist_pipeline.atomic import atomic_path
from mnist_pipeline.errors import run_command
from mnist_pipeline.figures import save_figure
from mnist_pipeline.gallery import load_gallery
from mnist_pipeline.params import check_unchanged, load_params
from mnist_pipeline.params.report import ReportStageParams
from mnist_pipeline.report import (
    figures,
    markdown_report,
    read_history,
    read_json,
    read_predictions,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, required=True)
    for name in ("metrics", "per-class", "predictions", "gallery", "training", "out"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    args = parser.parse_args(argv)

    stage_params = load_params(args.params, ReportStageParams)
    summary, per_class = read_json(args.metrics), read_json(args.per_class)
    history = read_history(args.training)
    drawn = figures(
        read_predictions(args.predictions), history, load_gallery(args.gallery), stage_params.report
    )
    titles = {name: title for name, (title, _) in drawn.items()}
    with atomic_path(args.out, directory=True) as folder:
        for name, (_, figure) in drawn.items():
            save_figure(figure, folder / name)
        (folder / "report.md").write_text(markdown_report(summary, per_class, history, titles))
        check_unchanged(args.params, stage_params)
    print(f"test accuracy {summary['test']['accuracy']:.4f}; report in {args.out / 'report.md'}")


if __name__ == "__main__":
    run_command(main)
