"""DVC's plots page offline: with our template every chart draws, with DVC's own none does.

A small git + DVC repo declares a confusion matrix and a training curve; the real
`dvc plots show` renders it twice, first with the template a fresh `dvc init` gives
(DVC's own page, which loads Vega from a CDN), then with the project's .dvc/config
and the page mnist_pipeline.plots_page writes. Debian's chromium opens each one as a
local file with every other request aborted, as on a machine without a network.
"""

import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mnist_pipeline import plots_page
from mnist_pipeline.errors import PipelineError
from tests.conftest import REPO
from tests.dvc_project import dvc, git

RENDER_TIMEOUT_MS = 60_000
SCRIPT_FROM_ELSEWHERE = re.compile(r"<script[^>]*\bsrc\s*=", re.IGNORECASE)

CONFUSION_CSV = "confusion.csv"
ACCURACY_TSV = "training/plots/metrics/train/accuracy.tsv"  # where dvclive writes a metric
PLOTS = (CONFUSION_CSV, ACCURACY_TSV)
CONFUSION = """actual,predicted
0,0
0,0
0,1
1,1
1,1
1,1
2,2
2,0
2,2
"""
# dvclive's columns: the step and the value.
ACCURACY = "step\taccuracy\n0\t0.61\n1\t0.83\n2\t0.90\n3\t0.94\n"
DVC_YAML = f"""plots:
  - {CONFUSION_CSV}:
      template: confusion
      x: predicted
      y: actual
  - {ACCURACY_TSV}:
      x: step
"""
# Each Vega plot div DVC writes (a child of <body>; its image plots' divs hold an <img>), where it
# is on the page, what vega-embed drew in it, and whether that is the data: its marks are coloured
# (the confusion scale, the line), while axes, grid and text are grey, so an empty frame is not.
CHARTS = """() => [...document.querySelectorAll("body > div[id]:not(:has(img))")].map((div) => {
    const rect = div.getBoundingClientRect();
    const box = {x: rect.left + window.scrollX, y: rect.top + window.scrollY,
                 width: rect.width, height: rect.height};
    const svg = div.querySelector("svg");
    if (svg) {
        const marks = svg.querySelectorAll(".mark-rect path, .mark-line path").length;
        return {id: div.id, box, kind: "svg", marks, drawn: marks > 0};
    }
    const canvas = div.querySelector("canvas");
    if (!canvas || !canvas.width || !canvas.height) {
        return {id: div.id, box, kind: "none", drawn: false};
    }
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    const colours = new Set();
    let coloured = 0;
    for (let i = 0; i < pixels.length; i += 4) {
        const [r, g, b, a] = pixels.subarray(i, i + 4);
        colours.add(((r << 24) | (g << 16) | (b << 8) | a) >>> 0);
        if (a > 128 && Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured += 1;
    }
    return {id: div.id, box, kind: "canvas", colours: colours.size, coloured,
            drawn: colours.size > 1 && coloured >= 50};
})"""
# DVC writes the divs into the page itself, so their number is known at "load".
EVERY_CHART_DRAWN = f"""() => {{
    const charts = ({CHARTS})();
    return charts.length > 0 && charts.every((chart) => chart.drawn);
}}"""


# --- the template itself ---------------------------------------------------------------


def test_the_template_holds_each_placeholder_dvc_fills_once_and_no_scripts_placeholder():
    page = plots_page.page_html(plots_page.vega_script(plots_page.newest_vega_lite_5()))
    assert page.count(plots_page.PLOT_DIVS) == 1
    assert page.count(plots_page.REFRESH_TAG) == 1
    assert plots_page.SCRIPTS not in page  # with it, DVC would add its CDN tags
    assert not SCRIPT_FROM_ELSEWHERE.search(page)


def test_the_inlined_vega_lite_is_version_5_which_dvc_s_templates_are_written_for():
    assert plots_page.newest_vega_lite_5().split(".")[0] == "5"


@pytest.mark.parametrize("trap", ["{plot_divs}", "{scripts}", "{refresh_tag}", "</SCRIPT>"])
def test_a_bundle_that_dvc_or_the_html_parser_would_rewrite_is_refused(monkeypatch, trap):
    monkeypatch.setattr(
        plots_page.vl_convert, "javascript_bundle", lambda vl_version: f'var s = "{trap}";'
    )
    with pytest.raises(PipelineError, match="bundle holds"):
        plots_page.vega_script("5.21")


def test_the_command_writes_the_page_and_prints_nothing(tmp_path, capsys):
    path = tmp_path / ".dvc/plots.html"
    plots_page.main([str(path)])
    assert plots_page.PLOT_DIVS in path.read_text(encoding="utf-8")
    assert capsys.readouterr().out == ""
    assert [file.name for file in path.parent.iterdir()] == ["plots.html"]  # no temporaries


# --- the rendered pages, in a browser with no network --------------------------------------


@pytest.fixture(scope="module")
def plots_repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plots_repo")
    (root / ACCURACY_TSV).parent.mkdir(parents=True)
    (root / CONFUSION_CSV).write_text(CONFUSION)
    (root / ACCURACY_TSV).write_text(ACCURACY)
    (root / "dvc.yaml").write_text(DVC_YAML)
    git(root, "init", "-q", "-b", "main")
    assert dvc(root, "init", "-q").returncode == 0
    return root


@pytest.fixture(scope="module")
def pages(plots_repo) -> dict[str, Path]:
    """DVC's own page (a fresh `dvc init`), then ours (the project's .dvc/config and template)."""
    default = show_plots(plots_repo, plots_repo / "default")
    shutil.copy2(REPO / ".dvc/config", plots_repo / ".dvc/config")
    plots_page.write_page(configured_template(plots_repo))
    offline = show_plots(plots_repo, plots_repo / "offline")
    return {"default": default, "offline": offline}


def configured_template(repo: Path) -> Path:
    """Where `dvc plots show` looks for the page: plots.html_template, relative to .dvc/."""
    result = dvc(repo, "config", "plots.html_template")
    assert result.returncode == 0, result.stderr
    return repo / ".dvc" / result.stdout.strip()


def show_plots(repo: Path, out: Path) -> Path:
    """The page `dvc plots show` writes into ``out``, with every plot's data loaded."""
    result = dvc(repo, "plots", "show", "-o", str(out))
    output = (result.stdout + result.stderr).strip()
    # A plot whose data is missing is a warning and exit 0, and an empty chart on the page.
    assert result.returncode == 0 and "failed to load" not in output, output
    return out / "index.html"


def is_local_file(url: str) -> bool:
    return urlsplit(url).scheme == "file"


class OfflinePage:
    """A page opened from a local file: every request recorded, any not for a local file aborted."""

    def __init__(self, browser, path: Path, **context_options):
        self.context = browser.new_context(**context_options)
        self.requested: list[str] = []
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.context.on("request", lambda request: self.requested.append(request.url))
        self.context.route("**/*", self._file_only)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(path.as_uri())

    def _file_only(self, route):
        if is_local_file(route.request.url):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def charts(self) -> list[dict]:
        return self.page.evaluate(CHARTS)

    def wait_until_every_chart_is_drawn(self) -> list[dict]:
        """The charts, once vega-embed has drawn each; an AssertionError naming any left blank."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(EVERY_CHART_DRAWN, timeout=RENDER_TIMEOUT_MS)
        except PlaywrightTimeout:
            blank = [chart["id"] for chart in self.charts() if not chart["drawn"]]
            raise AssertionError(
                f"charts not drawn: {blank or 'no charts on the page'}; page errors: {self.errors}"
            ) from None
        return self.charts()

    def close(self):
        self.context.close()


@pytest.fixture
def open_offline(browser):
    opened = []

    def open_page(path: Path) -> OfflinePage:
        opened.append(OfflinePage(browser, path))
        return opened[-1]

    yield open_page
    for page in opened:
        page.close()


@pytest.mark.slow  # the real dvc, twice, and a browser
def test_our_page_draws_every_chart_offline_without_one_request_leaving_the_machine(
    pages, open_offline
):
    html = pages["offline"].read_text(encoding="utf-8")
    assert not SCRIPT_FROM_ELSEWHERE.search(html)
    opened = open_offline(pages["offline"])
    charts = opened.wait_until_every_chart_is_drawn()
    assert len(charts) == len(PLOTS) and all(chart["drawn"] for chart in charts), charts
    assert opened.blocked == []
    assert opened.requested and all(map(is_local_file, opened.requested))
    assert opened.errors == []


@pytest.mark.slow
def test_dvc_s_own_page_stays_blank_offline(pages, open_offline):
    """The same data with DVC's default template: proof that the test above can fail."""
    html = pages["default"].read_text(encoding="utf-8")
    assert SCRIPT_FROM_ELSEWHERE.search(html)
    opened = open_offline(pages["default"])  # returns at "load": every inline script has run
    charts = opened.charts()
    assert len(charts) == len(PLOTS) and not any(chart["drawn"] for chart in charts), charts
    assert opened.blocked and all("cdn.jsdelivr.net" in url for url in opened.blocked)
    assert any("vegaEmbed is not defined" in error for error in opened.errors)
