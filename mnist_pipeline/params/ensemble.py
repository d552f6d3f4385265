"""What the evaluate_ensemble stage reads from params.yaml: ``ensemble``.

The ensemble is opt-in: dvc.yaml makes one train_member stage per seed in
``ensemble.seeds`` and one evaluate_ensemble stage per way in ``ensemble.combine``,
so with both empty (the default) the pipeline has neither. Each member is
trained with the ``model`` and ``train`` sections and a seed of its own; the
splits stay those of the shared ``seed``, so the members differ only in their
training's chance.
"""

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from mnist_pipeline.params import Section, Seed, StageParams


def _distinct(values: tuple) -> tuple:
    if len(set(values)) != len(values):
        raise ValueError("each value must appear once")
    return values


class EnsembleParams(Section):
    # One member per seed: two members with one seed would be the same model twice.
    seeds: Annotated[tuple[Seed, ...], Field(max_length=10), AfterValidator(_distinct)]
    # How the members' answers are combined; one stage each.
    combine: Annotated[tuple[Literal["mean"], ...], AfterValidator(_distinct)]

    @model_validator(mode="after")
    def _members_to_combine(self) -> "EnsembleParams":
        if self.combine and not self.seeds:
            raise ValueError(
                "ensemble.combine names a way to combine members, but ensemble.seeds is empty: "
                "give one seed per member, e.g. [0, 1, 2]"
            )
        return self


class EnsembleStageParams(StageParams):
    ensemble: EnsembleParams
