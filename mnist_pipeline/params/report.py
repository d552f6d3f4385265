"""What the report stage reads from params.yaml: ``report``."""

from typing import Annotated

from pydantic import Field, StrictInt

from mnist_pipeline.params import Section, StageParams


class ReportParams(Section):
    sample_images: Annotated[StrictInt, Field(ge=1, le=100)]
    misclassified_images: Annotated[StrictInt, Field(ge=1, le=100)]


class ReportStageParams(StageParams):
    report: ReportParams
