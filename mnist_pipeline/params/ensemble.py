"""What the evaluate_ensemble stage reads from params.yaml: ``ensemble``.

Each member is trained by ensemble/dvc.yaml's train_member stage with the
``model`` and ``train`` sections and a seed of its own; the splits stay those
of the shared ``seed``, so the members differ only in their training's chance.
"""

from typing import Annotated

from pydantic import AfterValidator, Field

from mnist_pipeline.params import Section, Seed, StageParams


def _distinct(seeds: tuple[int, ...]) -> tuple[int, ...]:
    if len(set(seeds)) != len(seeds):
        raise ValueError("each seed must appear once")
    return seeds


class EnsembleParams(Section):
    # One member per seed: two members with one seed would be the same model twice.
    seeds: Annotated[
        tuple[Seed, ...], Field(min_length=1, max_length=10), AfterValidator(_distinct)
    ]


class EnsembleStageParams(StageParams):
    ensemble: EnsembleParams
