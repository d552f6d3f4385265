"""What the check_params stage reads from params.yaml: every section, each by its stage's schema.

The stage is the first of the pipeline, so a value that some stage would refuse
stops `dvc repro` (and `dvc exp run -S ...`) before DVC removes any stage's
outputs: DVC deletes a stage's outputs only when it starts that stage.
"""

from pydantic import ConfigDict, create_model

from mnist_pipeline.params import StageParams
from mnist_pipeline.params.download import DownloadStageParams
from mnist_pipeline.params.ensemble import EnsembleStageParams
from mnist_pipeline.params.preprocess import PreprocessStageParams
from mnist_pipeline.params.report import ReportStageParams
from mnist_pipeline.params.train import TrainStageParams

# Imported, not discovered, so that dvc.yaml's deps (which follow the imports) re-run
# this stage when any schema changes; tests/test_params.py checks none is missing.
STAGE_SCHEMAS = (
    DownloadStageParams,
    PreprocessStageParams,
    TrainStageParams,
    ReportStageParams,
    EnsembleStageParams,
)


class _EverySection(StageParams):
    # Unlike a stage's schema, it knows every section: an unknown one is a misspelling.
    model_config = ConfigDict(extra="forbid", frozen=True)


def _sections() -> dict:
    """Each section as the stages declare it, validators included, in alphabetical order."""
    fields = {
        name: (field.annotation, field)
        for schema in STAGE_SCHEMAS
        for name, field in schema.model_fields.items()
    }
    return dict(sorted(fields.items()))


CheckParamsStageParams = create_model(
    "CheckParamsStageParams", __base__=_EverySection, __module__=__name__, **_sections()
)
