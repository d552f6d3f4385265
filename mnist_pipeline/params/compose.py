"""params.yaml composed from conf/, byte for byte as `dvc exp run` composes it.

With ``hydra.enabled`` in .dvc/config, every `dvc exp run` writes params.yaml
anew from conf/config.yaml and a preset of conf/model/ (DVC's Hydra
composition), then its ``-S`` overrides. `dvc repro` reads params.yaml as it
is, so after an edit of conf/ run this (`make params`) before `dvc repro`:

    python -m mnist_pipeline.params.compose                     # conf/ as it is
    python -m mnist_pipeline.params.compose model=best seed=1   # Hydra overrides, as -S takes them
"""

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mnist_pipeline.atomic import atomic_path
from mnist_pipeline.errors import ParamsError, first_line, run_command

CONF = "conf"  # DVC's default hydra.config_dir; config.yaml is its default config_name
CONFIG_NAME = "config"


def compose(root: Path, overrides: Sequence[str] = ()) -> str:
    """The text `dvc exp run -S <overrides>` writes to ``root``/params.yaml."""
    # DVC's own function, so the two never disagree on a byte.
    from dvc.utils.hydra import compose_and_dump
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    root = root.resolve()
    with tempfile.TemporaryDirectory() as scratch:
        composed = Path(scratch) / "params.yaml"
        try:
            compose_and_dump(composed, str(root / CONF), None, CONFIG_NAME, str(root), overrides)
        except (HydraException, OmegaConfBaseException) as error:
            raise ParamsError(f"{root / CONF}: {first_line(error)}") from None
        return composed.read_text(encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides: model=best train.epochs=3")
    parser.add_argument("--root", type=Path, default=Path(), help="the project (holds conf/)")
    args = parser.parse_args(argv)

    text = compose(args.root, args.overrides)
    with atomic_path(args.root / "params.yaml") as params:
        params.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    run_command(main, interrupted="interrupted; params.yaml was not changed")
