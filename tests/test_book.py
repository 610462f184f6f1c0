"""The book builds strictly (warnings are errors), renders without the network, and its parts stay consistent:
every chapter is in the table of contents, every chapter page has its launch buttons, and each published chapter
was executed from the current text of its source, holds no stderr, progress bar or error, and is refreshed by
`pruninglib publish --prose-only` after a prose edit (and only then)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell

from pruninglib import notebook
from pruninglib.experiments import CHAPTERS
from pruninglib.notebook import INSTALL, ChapterFailed, publish, read_source, tags, update_prose

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
TAG = re.compile(r"<(script|link)\b[^>]*>", re.IGNORECASE)
ATTR = re.compile(r"""\b(src|href|rel)\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)
REMOTE = re.compile(r"^(https?:)?//", re.IGNORECASE)
NOTEBOOKS = [f"{name}.ipynb" for name in CHAPTERS]  # book/chapters/<chapter>.ipynb


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


def published(chapter: str, folder: Path = BOOK / "chapters") -> nbformat.NotebookNode:
    return nbformat.read(folder / f"{chapter}.ipynb", as_version=4)


def cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, list[str]]]:
    """Type, source and tags of every cell but papermill's injected parameters and the install cell."""
    return [(c.cell_type, c.source, tags(c)) for c in nb.cells if not {"injected-parameters", INSTALL} & set(tags(c))]


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_published_chapter_was_executed_from_the_current_text_of_its_source(chapter: str) -> None:
    nb, (source, sha) = published(chapter), read_source(chapter)
    hint = (f"notebooks/{chapter}.md changed since book/chapters/{chapter}.ipynb was published: run `pruninglib "
            f"publish {chapter} --prose-only` (prose only) or `pruninglib publish {chapter} --profile ...`")
    assert nb.metadata["pruninglib"]["source_sha256"] == sha, hint
    assert cells(nb) == cells(source), hint


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_published_chapter_starts_with_the_install_cell_which_is_a_no_op_here(chapter: str, monkeypatch) -> None:
    first = published(chapter).cells[0]
    url = yaml.safe_load((BOOK / "_config.yml").read_text())["repository"]["url"]
    assert INSTALL in tags(first) and "remove-cell" in tags(first) and f"git+{url}" in first.source
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("the install cell ran pip"))
    exec(first.source, {})  # pruninglib is importable here: nothing happens


def progress_or_stderr(output: nbformat.NotebookNode) -> bool:
    """tqdm draws on stderr, or on stdout with carriage returns and cursor moves; ipywidgets as a widget view."""
    if output.output_type == "stream":
        return output.name == "stderr" or bool(re.search(r"\r|\x1b\[|it/s\]|\d%\|", output.text))
    return any("widget" in mime for mime in output.get("data", {}))


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_published_chapter_holds_no_stderr_progress_bar_or_error(chapter: str) -> None:
    nb = published(chapter)
    found = [(i, o.output_type, o.get("name", "")) for i, c in enumerate(nb.cells) for o in c.get("outputs", [])
             if o.output_type == "error" or progress_or_stderr(o)]
    assert found == []
    injected = [c for c in nb.cells if "injected-parameters" in tags(c)]
    assert len(injected) == 1 and "hide-input" in tags(injected[0]), "the injected parameters are hidden"


@pytest.fixture
def copies(tmp_path, monkeypatch):
    """Copies of the chapter sources and of the published chapters, which pruninglib.notebook then uses."""
    for name, folder in (("SOURCES", REPO / "notebooks"), ("PUBLISHED", BOOK / "chapters")):
        copy = tmp_path / name
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("*.json"))
        monkeypatch.setattr(notebook, name, copy)
    return tmp_path / "SOURCES", tmp_path / "PUBLISHED"


def test_prose_only_publishing_takes_the_new_prose_and_keeps_every_output(copies) -> None:
    sources, chapters = copies
    md = sources / "mlp_mnist.md"
    md.write_text(md.read_text().replace("# Stochastic pruning of an MLP on MNIST",
                                         "# Stochastic pruning of an MLP on MNIST\n\nA new paragraph.", 1))
    before = published("mlp_mnist", chapters)
    update_prose("mlp_mnist")
    after = published("mlp_mnist", chapters)
    assert cells(after) == cells(read_source("mlp_mnist")[0]) != cells(before)
    assert after.metadata["pruninglib"]["source_sha256"] == read_source("mlp_mnist")[1]
    outputs = [c.outputs for c in before.cells if c.cell_type == "code"]
    assert [c.outputs for c in after.cells if c.cell_type == "code"] == outputs


def test_prose_only_publishing_refuses_a_code_change(copies) -> None:
    sources, chapters = copies
    md = sources / "mlp_mnist.md"
    md.write_text(md.read_text().replace("result = mlp_mnist.run(cfg)", "result = mlp_mnist.run(cfg)  # changed", 1))
    before = (chapters / "mlp_mnist.ipynb").read_bytes()
    with pytest.raises(ChapterFailed, match=r"code cell 1 of mlp_mnist.md \(from IPython.display import Markdown, "
                                            r"display\) differs .* pruninglib publish mlp_mnist --profile \w+"):
        update_prose("mlp_mnist")
    assert (chapters / "mlp_mnist.ipynb").read_bytes() == before


def test_publish_executes_then_writes_the_chapter_without_stderr_or_progress_bars(tmp_path, monkeypatch,
                                                                                  mnist_root) -> None:
    """A two-cell mlp_mnist (its parameters, then a cell that writes results.json and prints a result, a warning on
    stderr and a progress bar on stdout), published at the smoke profile into a temporary repository."""
    nb, _ = read_source("mlp_mnist")
    nb.cells = [new_markdown_cell("# A chapter"), next(c for c in nb.cells if "parameters" in tags(c)),
                new_code_cell("import sys\nfrom pathlib import Path\nfrom pruninglib._io import write_json\n"
                              "write_json(Path(out_dir) / 'results.json', {'chapter': 'mlp_mnist'})\n"
                              "print('a result')\nprint('a warning', file=sys.stderr)\n"
                              "print('\\r 50%|#####     | 1/2 [00:01<00:01, 1.00it/s]', flush=True)")]
    for name in ("notebooks", "book/chapters"):
        (tmp_path / name).mkdir(parents=True)
    shutil.copy(BOOK / "_config.yml", tmp_path / "book")  # the install cell names the repository's address
    (tmp_path / "notebooks" / "mlp_mnist.md").write_text(jupytext.writes(nb, fmt="md:myst"))
    for name, value in (("ROOT", tmp_path), ("SOURCES", tmp_path / "notebooks"),
                        ("PUBLISHED", tmp_path / "book" / "chapters")):
        monkeypatch.setattr(notebook, name, value)
    (path,) = publish(["mlp_mnist"], "smoke", {"data_root": str(mnist_root)}, progress=False)  # checked before the kernel
    assert path == tmp_path / "book" / "chapters" / "mlp_mnist.ipynb"
    out = published("mlp_mnist", path.parent)
    assert cells(out) == cells(read_source("mlp_mnist")[0])
    assert out.metadata["pruninglib"]["source_sha256"] == read_source("mlp_mnist")[1]
    assert [o.text for o in out.cells[-1].outputs] == ["a result\n"]
    assert (tmp_path / "runs" / "smoke" / "mlp_mnist" / "results.json").is_file()
