"""The book builds strictly (warnings are errors), renders without the network, and its parts stay consistent:
every chapter is in the table of contents, every chapter page has its launch buttons, and the published copy of a
chapter has the same text as its source notebook."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from pruninglib.experiments import CHAPTERS

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
TAG = re.compile(r"<(script|link)\b[^>]*>", re.IGNORECASE)
ATTR = re.compile(r"""\b(src|href|rel)\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)
REMOTE = re.compile(r"^(https?:)?//", re.IGNORECASE)
NOTEBOOKS = [CHAPTERS.get(name).notebook for name in CHAPTERS]


def remote_assets(html: str) -> list[str]:
    """``<script src>`` and ``<link href>`` (other than canonical/alternate links) that point off the site."""
    found = []
    for tag in TAG.finditer(html):
        attrs = {k.lower(): v for k, v in ATTR.findall(tag.group(0))}
        url = attrs.get("src" if tag.group(1).lower() == "script" else "href", "")
        if REMOTE.match(url) and attrs.get("rel", "").lower() not in ("canonical", "alternate"):
            found.append(tag.group(0))
    return found


def toc_files(node: object) -> list[str]:
    """Every ``file:`` entry of a parsed _toc.yml, depth first."""
    if isinstance(node, dict):
        return ([node["file"]] if "file" in node else []) + [f for v in node.values() for f in toc_files(v)]
    if isinstance(node, list):
        return [f for v in node for f in toc_files(v)]
    return []


def test_remote_assets_finds_cdn_scripts_and_stylesheets() -> None:
    page = ('<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>'
            '<link rel="stylesheet" href="//fonts.googleapis.com/css">'
            '<script src="_static/mathjax/es5/tex-chtml.js"></script><script>const u = "https://x";</script>'
            '<link rel="canonical" href="https://example.org/intro.html">')
    assert len(remote_assets(page)) == 2


def test_book_builds_with_local_mathjax(built_book: Path) -> None:
    html = built_book
    assert (html / "index.html").is_file() and (html / "glossary.html").is_file()
    for page in ("chapters/mlp_mnist.html", "chapters/covid_cnn.html", "chapters/theory.html", "covid_data_card.html"):
        assert (html / page).is_file(), page
    assert (html / "_static" / "mathjax" / "es5" / "tex-chtml.js").is_file()
    assert (html / "_static" / "mathjax" / "es5" / "output" / "chtml" / "fonts" / "woff-v2"
            / "MathJax_Main-Regular.woff").is_file()
    pages = {p.relative_to(html).as_posix(): p.read_text(encoding="utf-8") for p in html.rglob("*.html")}
    offenders = {name: found for name, text in pages.items() if (found := remote_assets(text))}
    assert offenders == {}
    # MathJax is loaded once per page with maths, from the local copy, not once per file under _static/mathjax.
    for name in ("intro.html", "chapters/mlp_mnist.html", "chapters/covid_cnn.html", "chapters/theory.html"):
        scripts = re.findall(r"<script[^>]*\bsrc=\"([^\"]*mathjax[^\"]*)\"", pages[name], re.IGNORECASE)
        assert len(scripts) == 1 and "_static/mathjax/es5/tex-chtml.js" in scripts[0], (name, scripts)


def test_every_chapter_is_in_the_toc_and_every_toc_entry_exists() -> None:
    files = toc_files(yaml.safe_load((BOOK / "_toc.yml").read_text()))
    assert {f"chapters/{Path(nb).stem}" for nb in NOTEBOOKS} <= set(files)
    for f in files:
        assert any((BOOK / f).with_suffix(ext).is_file() for ext in (".md", ".ipynb")), f


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_chapter_has_binder_and_colab_buttons_from_the_one_repository_url(built_book: Path, notebook: str) -> None:
    repo = yaml.safe_load((BOOK / "_config.yml").read_text())["repository"]
    owner_name = repo["url"].removeprefix("https://github.com/")
    path = f"{repo['path_to_book']}/chapters/{notebook}"
    page = (built_book / "chapters" / notebook).with_suffix(".html").read_text(encoding="utf-8")
    assert f'href="https://mybinder.org/v2/gh/{owner_name}/{repo["branch"]}?urlpath=tree/{path}"' in page
    assert f'href="https://colab.research.google.com/github/{owner_name}/blob/{repo["branch"]}/{path}"' in page


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_published_chapter_has_the_text_of_its_source_notebook(notebook: str) -> None:
    def markdown(path: Path) -> list[str]:
        return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]

    assert markdown(BOOK / "chapters" / notebook) == markdown(REPO / "notebooks" / notebook)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_chapter_follows_the_skeleton(notebook: str) -> None:
    """What every chapter has: citations, a reproduce box, and exercises whose solutions are toggled."""
    text = "\n".join(c.source for c in nbformat.read(REPO / "notebooks" / notebook, as_version=4).cells
                     if c.cell_type == "markdown")
    assert "{cite}`" in text
    assert re.search(r"```\{admonition\} Reproduce this chapter\n:class: tip\n", text)
    exercises = text.split("## Exercises", 1)
    assert len(exercises) == 2, "no '## Exercises' section"
    assert re.search(r"```\{admonition\} Solution\n\s*:class: dropdown\n", exercises[1])
