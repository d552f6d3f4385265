"""DVC's plots page with Vega inlined, so that `dvc plots show` and `dvc plots diff` draw offline.

DVC's own page loads vega, vega-lite and vega-embed from a CDN, so without a
network every chart on it is blank. `.dvc/config` names the page written here
as `plots.html_template`: it has no ``{scripts}`` placeholder, so DVC adds no
CDN tags, and it carries the three libraries itself, as the Vega project's own
builds bundled by vl-convert-python into one classic script.

    python -m mnist_pipeline.plots_page .dvc/plots.html    (`make install` runs it)
"""

import argparse
from pathlib import Path

import vl_convert

from mnist_pipeline.atomic import atomic_path
from mnist_pipeline.errors import PipelineError, run_command

# What DVC's render_html replaces in the page, with plain str.replace over all of it
# (dvc_render.html.HTML.embed): the page's own text must hold each one only where meant.
SCRIPTS, PLOT_DIVS, REFRESH_TAG = "{scripts}", "{plot_divs}", "{refresh_tag}"
PLACEHOLDERS = (SCRIPTS, PLOT_DIVS, REFRESH_TAG)

# DVC's templates are Vega-Lite v5 specs; vega-embed warns about, and Vega-Lite 6 may
# draw differently, a spec written for another major version.
VEGA_LITE_MAJOR = 5

# DVC's default page (dvc_render.html.PAGE_HTML) less its {scripts}, plus a charset:
# the bundle holds non-ASCII text (d3-format's U+2212 minus sign, the prefix "micro"), which a
# page opened from a local file without one may read as another encoding.
PAGE_START = f"""<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {REFRESH_TAG}
    <title>DVC Plot</title>
    <script type="text/javascript">
"""
PAGE_END = f"""
    </script>
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {PLOT_DIVS}
</body>
</html>
"""


def newest_vega_lite_5() -> str:
    """The newest Vega-Lite 5 that vl-convert carries, as "5.21"."""
    versions = [
        version
        for version in vl_convert.get_vegalite_versions()
        if version.split(".")[0] == str(VEGA_LITE_MAJOR)
    ]
    if not versions:
        raise PipelineError(
            f"vl-convert-python {vl_convert.__version__} carries no Vega-Lite "
            f"{VEGA_LITE_MAJOR}, which DVC's plot templates are written for"
        )
    return max(versions, key=lambda version: tuple(int(part) for part in version.split(".")))


def vega_script(vega_lite_version: str) -> str:
    """vega, vega-lite and vega-embed as the body of one inline classic script.

    The bundle sets window.vega, window.vegaLite and window.vegaEmbed, which DVC's
    plot divs call as they are parsed. Its own top-level names (minified: n, t, e, ...)
    are kept in a function scope, off the global scope the page's scripts share: DVC's
    divs declare `var spec`, which a top-level `const spec` in the bundle would break.
    """
    bundle = vl_convert.javascript_bundle(vl_version=vega_lite_version)
    check_inlinable(bundle)
    return f"(function () {{\n{bundle}\n}})();"


def check_inlinable(bundle: str) -> None:
    """Refuse a bundle that the page or DVC would cut or rewrite, rather than write a broken page.

    JavaScript cannot be escaped without knowing whether the text is code, a string or
    a regular expression, so nothing is rewritten here: vl-convert is pinned in uv.lock,
    and a new version that trips this is seen at `make install`.
    """
    for placeholder in PLACEHOLDERS:
        if placeholder in bundle:
            raise PipelineError(
                f"vl-convert's Vega bundle holds {placeholder!r}, which DVC would replace "
                "in the plots page"
            )
    # The HTML parser ends a script at "</script" and treats "<!--" inside one specially.
    for markup in ("</script", "<!--"):
        if markup in bundle.lower():
            raise PipelineError(f"vl-convert's Vega bundle holds {markup!r}; it cannot be inlined")


def page_html(script: str) -> str:
    """The page template: DVC's layout, the script inlined, each placeholder DVC fills once."""
    return PAGE_START + script + PAGE_END


def write_page(path: Path) -> None:
    page = page_html(vega_script(newest_vega_lite_5()))
    with atomic_path(path) as temporary:
        temporary.write_text(page, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="the page to write, e.g. .dvc/plots.html")
    write_page(parser.parse_args(argv).path)


if __name__ == "__main__":
    run_command(main)
