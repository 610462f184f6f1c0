"""The book builds strictly (warnings are errors) and every page renders without the network."""
from __future__ import annotations

import re
from pathlib import Path

from pruninglib.book import build_book

BOOK = Path(__file__).resolve().parents[1] / "book"
TAG = re.compile(r"<(script|link)\b[^>]*>", re.IGNORECASE)
ATTR = re.compile(r"""\b(src|href|rel)\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)
REMOTE = re.compile(r"^(https?:)?//", re.IGNORECASE)


def remote_assets(html: str) -> list[str]:
    """``<script src>`` and ``<link href>`` (other than canonical/alternate links) that point off the site."""
    found = []
    for tag in TAG.finditer(html):
        attrs = {k.lower(): v for k, v in ATTR.findall(tag.group(0))}
        url = attrs.get("src" if tag.group(1).lower() == "script" else "href", "")
        if REMOTE.match(url) and attrs.get("rel", "").lower() not in ("canonical", "alternate"):
            found.append(tag.group(0))
    return found


def test_remote_assets_finds_cdn_scripts_and_stylesheets() -> None:
    page = ('<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>'
            '<link rel="stylesheet" href="//fonts.googleapis.com/css">'
            '<script src="_static/mathjax/es5/tex-chtml.js"></script><script>const u = "https://x";</script>'
            '<link rel="canonical" href="https://example.org/intro.html">')
    assert len(remote_assets(page)) == 2


def test_book_builds_with_local_mathjax(tmp_path: Path) -> None:
    index = build_book(BOOK, tmp_path)
    html = index.parent
    assert index.is_file()
    for page in ("chapters/mlp_mnist.html", "chapters/covid_cnn.html", "covid_data_card.html"):
        assert (html / page).is_file(), page
    assert (html / "_static" / "mathjax" / "es5" / "tex-chtml.js").is_file()
    assert (html / "_static" / "mathjax" / "es5" / "output" / "chtml" / "fonts" / "woff-v2"
            / "MathJax_Main-Regular.woff").is_file()
    pages = {p.relative_to(html).as_posix(): p.read_text(encoding="utf-8") for p in html.rglob("*.html")}
    offenders = {name: found for name, text in pages.items() if (found := remote_assets(text))}
    assert offenders == {}
    # MathJax is loaded once per page with maths, from the local copy, not once per file under _static/mathjax.
    for name in ("intro.html", "chapters/mlp_mnist.html", "chapters/covid_cnn.html"):
        scripts = re.findall(r"<script[^>]*\bsrc=\"([^\"]*mathjax[^\"]*)\"", pages[name], re.IGNORECASE)
        assert len(scripts) == 1 and "_static/mathjax/es5/tex-chtml.js" in scripts[0], (name, scripts)
