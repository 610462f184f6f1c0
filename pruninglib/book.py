"""Build the companion book offline: a local MathJax copy and a strict jupyter-book build.

This module is also a Sphinx extension (``sphinx: extra_extensions`` in ``book/_config.yml``). jupyter-book adds
every ``*.js`` file under ``_static/`` to each page's scripts, which for MathJax would mean one ``<script>`` tag per
MathJax component; the extension removes those again, so MathJax loads once, through ``mathjax_path``. It also
offers the repository's address to pages as the substitution ``{{ repository_url }}``.
"""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.config import Config

MATHJAX_PIP = "django-static-mathjax==3.2.2.1"
# tex-chtml.js bundles the TeX input, CHTML output and menu; at run time it loads, relative to itself, the TeX
# extensions autoloaded by macros such as \boldsymbol or \color, the woff-v2 fonts, and what the right-click
# menu offers (SVG renderer, accessibility explorer, speech rules in sre/).
MATHJAX_PARTS = ("tex-chtml.js", "input/tex/extensions", "output", "ui", "a11y", "sre")
_STAMP = ".installed-from"


def mathjax_source() -> Path:
    """The ``static/mathjax`` folder of the installed ``mathjax`` package (from django-static-mathjax)."""
    spec = importlib.util.find_spec("mathjax")
    if spec is not None and spec.submodule_search_locations:
        root = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"
        if (root / "es5" / "tex-chtml.js").is_file():
            return root
    raise ModuleNotFoundError(
        f"the book loads MathJax from a local copy, but no package 'mathjax' with static/mathjax/es5/tex-chtml.js "
        f"is installed; install it with `pip install {MATHJAX_PIP}`")


def install_mathjax(book_dir: Path) -> Path:
    """Copy MathJax 3 (the :data:`MATHJAX_PARTS` of ``es5/`` and its LICENSE) into ``book_dir/_static/mathjax``.

    Idempotent: a stamp file records the source folder and MathJax version, and a matching copy is left alone;
    otherwise the destination folder is replaced. Returns the destination folder.
    """
    src = mathjax_source()
    dest = Path(book_dir) / "_static" / "mathjax"
    version = json.loads((src / "package.json").read_text())["version"]
    stamp = f"{src}\nmathjax {version}\n{' '.join(MATHJAX_PARTS)}\n"
    if (dest / _STAMP).is_file() and (dest / _STAMP).read_text() == stamp:
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    for part in MATHJAX_PARTS:
        s, d = src / "es5" / part, dest / "es5" / part
        d.parent.mkdir(parents=True, exist_ok=True)
        if s.is_dir():
            shutil.copytree(s, d)
        else:
            shutil.copy2(s, d)
    shutil.copy2(src / "LICENSE", dest / "LICENSE")
    (dest / _STAMP).write_text(stamp)  # written last: a stamp means a complete copy
    return dest


def _jupyter_book() -> list[str]:
    """The jupyter-book command of this interpreter's environment (not whichever is first on PATH)."""
    script = Path(sys.executable).parent / "jupyter-book"
    if script.is_file():
        return [str(script)]
    found = shutil.which("jupyter-book")
    if found is None:
        raise FileNotFoundError(f"no jupyter-book next to {sys.executable} or on PATH; pip install 'jupyter-book<2'")
    return [found]


def build_book(book_dir: Path, build_dir: Path | None = None, strict: bool = True) -> Path:
    """Install MathJax into ``book_dir``, build the HTML book, return the path of its ``index.html``.

    The HTML goes to ``<build_dir>/_build/html`` (``build_dir`` defaults to ``book_dir``). ``strict`` rebuilds
    every page with warnings as errors and nit-picky references (``--all -W -n --keep-going``), so a warning
    on an unchanged page is not hidden by an incremental build. Raises RuntimeError with the end of the log
    when jupyter-book fails.
    """
    book_dir = Path(book_dir).resolve()
    build_dir = Path(build_dir).resolve() if build_dir is not None else book_dir
    install_mathjax(book_dir)
    cmd = [*_jupyter_book(), "build", str(book_dir), "--path-output", str(build_dir)]
    if strict:
        cmd += ["--all", "-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    index = build_dir / "_build" / "html" / "index.html"
    if proc.returncode != 0 or not index.is_file():
        lines = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout).splitlines()  # without terminal colours
        problems = [line for line in lines if re.search(r"WARNING|ERROR|CRITICAL|Error:", line)][:30]
        raise RuntimeError(f"jupyter-book build failed (exit {proc.returncode}): {' '.join(cmd)}\n"
                           + "\n".join(["problems:", *problems, "end of the log:", *lines[-30:]]))
    return index


def _load_mathjax_once(app: Sphinx, config: Config) -> None:
    """Sphinx ``config-inited``: ensure the MathJax copy is served, and drop its files from ``html_js_files``."""
    install_mathjax(Path(app.srcdir))
    if "_static" not in config.html_static_path:  # jupyter-book adds it only if _static existed beforehand
        config.html_static_path = [*config.html_static_path, "_static"]

    def name(entry: str | tuple[str, dict[str, Any]]) -> str:
        return entry[0] if isinstance(entry, (tuple, list)) else entry

    config.html_js_files = [e for e in config.html_js_files if not name(e).startswith("mathjax/")]


def _offer_repository_url(app: Sphinx, config: Config) -> None:
    """Sphinx ``config-inited``: pages may write ``{{ repository_url }}`` for ``repository.url`` of ``_config.yml``.

    So the address is written once (jupyter-book hands it to the theme as ``html_theme_options["repository_url"]``,
    where the repository, issues, Binder and Colab buttons read it).
    """
    url = config.html_theme_options.get("repository_url", "")
    config.myst_substitutions = {"repository_url": url, **config.myst_substitutions}


def _drop_duplicate_scripts(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
                            doctree: Any) -> None:
    """Sphinx ``html-page-context``: keep one copy of each script.

    sphinx-thebe (loaded by jupyter-book even with Thebe off) adds its inline configuration script once per
    ``env-before-read-docs``, which fires twice in a jupyter-book build; the second copy re-declares
    ``const THEBE_JS_URL`` and raises a script error on every page.
    """
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    unique = []
    for js in context.get("script_files", []):
        # an inline script's filename is None in one copy and "" in the other: compare them as ""
        key = (str(getattr(js, "filename", js) or ""),
               tuple(sorted((k, str(v)) for k, v in getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict[str, Any]:
    """Sphinx extension entry point."""
    app.connect("config-inited", _load_mathjax_once)
    app.connect("config-inited", _offer_repository_url)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
