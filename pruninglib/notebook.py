"""Chapter notebooks: the MyST Markdown source, its execution into a run folder, and the published copy.

A chapter is written in one place, ``notebooks/<chapter>.md`` (jupytext's MyST Markdown: prose as Markdown, code
in ``{code-cell}`` blocks, exactly one cell tagged ``parameters``). :func:`run_chapter` converts it with jupytext
and executes it with papermill into a run folder (:mod:`pruninglib.rundir`); :func:`publish` writes the executed
notebook into ``book/chapters/`` without stderr or progress-bar output. Every executed notebook records, under
``metadata["pruninglib"]``, the SHA-256 of the source text it was executed from, so a stale chapter is detectable.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import nbformat

from pruninglib._io import atomic_path
from pruninglib.config import ConfigError
from pruninglib.data.registry import require
from pruninglib.data.root import ENV_CACHE, ENV_DATA, repo_root
from pruninglib.experiments import CHAPTERS
from pruninglib.rundir import RESULTS, RunFolder, check_out

ROOT = repo_root() or Path.cwd()
SOURCES = ROOT / "notebooks"
PUBLISHED = ROOT / "book" / "chapters"
STAMP = "pruninglib"  # notebook metadata key: chapter, source path, source_sha256
WIDGET = "application/vnd.jupyter.widget-view+json"
INSTALL = "install-if-missing"  # the tag of the install cell that published chapters start with
INSTALL_SOURCE = """\
# Opened on Colab (or any Jupyter without pruninglib)? This installs it from the repository first; wherever
# pruninglib is installed (our runs, CI, Binder) it does nothing. The data sets are fetched on first use.
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("pruninglib") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "pruninglib @ git+{url}"], check=True)
    importlib.invalidate_caches()"""


class ChapterFailed(RuntimeError):
    """A chapter's cell raised, or a notebook holds an error output. The message names the chapter and the cell."""


def source_path(chapter: str) -> Path:
    return SOURCES / f"{chapter}.md"


def read_source(chapter: str) -> tuple[nbformat.NotebookNode, str]:
    """The chapter's notebook converted from ``notebooks/<chapter>.md``, and the SHA-256 of that text.

    Cells get the ids cell-00, cell-01, ..., so the same text always gives the same notebook. Line endings are
    normalised before hashing, so a checkout with CRLF endings has the same hash.
    """
    import jupytext

    text = source_path(chapter).read_text(encoding="utf-8").replace("\r\n", "\n")
    nb = jupytext.reads(text, fmt="md:myst")
    nb.nbformat, nb.nbformat_minor = 4, 5
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"
    return nb, hashlib.sha256(text.encode()).hexdigest()


def tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def run_chapter(chapter: str, profile: str = "quick", overrides: dict[str, Any] | None = None,
                out: str | os.PathLike[str] | None = None, progress: bool = True) -> Path:
    """Check every input, execute the chapter's notebook in its run folder, return the folder.

    Before any work, each failing with ConfigError (or DataNotFoundError) that names the parameter: the chapter,
    the parameters (``out_dir`` is not one: the run folder is ``out``), ``out`` (default ``runs/<profile>/<chapter>``;
    see :func:`pruninglib.rundir.check_out`), the data root. The folder then receives ``<chapter>.ipynb`` and,
    last, ``results.json`` (the experiment's, plus ``notebook`` and ``total_wall_time_s``) only when every cell
    succeeded; a failing cell raises ChapterFailed and leaves ``<chapter>.failed.ipynb`` and no results.json.
    """
    ch = CHAPTERS.get(chapter)
    overrides = dict(overrides or {})
    if "out_dir" in overrides:
        raise ConfigError(f"parameter 'out_dir' = {overrides['out_dir']!r} is not allowed: the run folder is "
                          f"--out (default runs/<profile>/<chapter>)")
    params = ch.parameters(profile, overrides, out_dir=".")  # the kernel runs in the run folder's work/
    root = params.get("data_root")
    if isinstance(root, str) and root and not Path(root).expanduser().is_absolute():
        params["data_root"] = str(Path(root).resolve())  # relative to where the command was typed, not work/
    folder = check_out(out if out is not None else ROOT / "runs" / profile / chapter)
    require(ch.datasets, params.get("data_root") or None)  # fetched, or failed before the kernel
    t0 = time.perf_counter()
    with RunFolder(folder, chapter) as run, _absolute_env():
        execute(chapter, params, run.notebook, cwd=run.work, progress=progress,
                final=folder / f"{chapter}.ipynb")
        if not (run.work / RESULTS).is_file():
            raise ChapterFailed(f"chapter {chapter} ran every cell but wrote no {RESULTS}")
        record = json.loads((run.work / RESULTS).read_text())
        record.update({"notebook": _portable(folder / f"{chapter}.ipynb"),
                       "total_wall_time_s": round(time.perf_counter() - t0, 1)})
        run.complete(record)
    return folder


def execute(chapter: str, parameters: dict[str, Any], output: Path, cwd: Path, progress: bool = True,
            final: Path | None = None) -> None:
    """Convert the chapter's source and execute it with papermill into ``output`` (saved after every cell), in a
    kernel whose working folder is ``cwd``; then hide the injected parameters' input and stamp the source's hash.

    Raises ChapterFailed naming the chapter and the cell when a cell raises (``output`` then holds the notebook up
    to that cell). ``final`` is the path the notebook will have, recorded in its papermill metadata.
    """
    import papermill as pm

    nb, sha = read_source(chapter)
    nbformat.write(nb, output)
    try:
        pm.execute_notebook(str(output), str(output), parameters=parameters, cwd=str(cwd), progress_bar=progress,
                            kernel_name="python3")
    except pm.PapermillExecutionError as exc:
        first = (exc.source or "").strip().splitlines()[:1]
        raise ChapterFailed(f"chapter {chapter} failed in cell {exc.cell_index} ({first[0] if first else 'empty'}"
                            f"): {exc.ename}: {exc.evalue}") from None
    nb = nbformat.read(output, as_version=4)
    for cell in nb.cells:
        if "injected-parameters" in tags(cell) and "hide-input" not in tags(cell):
            cell.metadata["tags"] = [*tags(cell), "hide-input"]  # the run card lists the values
    nb.metadata[STAMP] = {"chapter": chapter, "source": _portable(source_path(chapter)), "source_sha256": sha}
    nb.metadata["papermill"].update({"input_path": _portable(source_path(chapter)),
                                     "output_path": _portable(final or output)})
    with atomic_path(output) as tmp:
        nbformat.write(nb, tmp)


def publish(chapters: Sequence[str], profile: str, overrides: dict[str, Any] | None = None,
            progress: bool = True) -> list[Path]:
    """Execute each chapter at ``profile`` into ``runs/<profile>/<chapter>`` (resuming its checkpoints), then write
    them, without stderr and progress-bar output, to ``book/chapters/<chapter>.ipynb``; return those paths.

    The chapters are written after the last run (those that succeeded, also when a later one fails), so no run sees
    a modified ``book/chapters/``: a run card records the commit and whether the working tree was clean.
    """
    executed: dict[str, nbformat.NotebookNode] = {}
    try:
        for name in chapters:
            folder = run_chapter(name, profile, overrides, progress=progress)
            executed[name] = nbformat.read(folder / f"{name}.ipynb", as_version=4)
    finally:
        written = [write_clean(nb, PUBLISHED / f"{name}.ipynb", name) for name, nb in executed.items()]
    return written


def update_prose(chapter: str) -> Path:
    """Bring the published chapter's Markdown cells up to date with its source, without executing anything.

    Allowed only when every code cell of the source equals (source and tags) the published one, in order: the
    outputs then are what executing the current text gives. Raises ChapterFailed naming the first differing code
    cell otherwise. Rewrites ``book/chapters/<chapter>.ipynb`` (cleaned, re-stamped); returns its path.
    """
    dest = PUBLISHED / f"{chapter}.ipynb"
    published = nbformat.read(dest, as_version=4)
    source, sha = read_source(chapter)
    injected = [c for c in published.cells if "injected-parameters" in tags(c)]
    executed = [c for c in published.cells if c.cell_type == "code" and "injected-parameters" not in tags(c)]
    wanted = [c for c in source.cells if c.cell_type == "code"]
    for i, (new, old) in enumerate(zip(wanted, executed)):
        if (new.source, tags(new)) != (old.source, tags(old)):
            break
    else:
        i = min(len(wanted), len(executed))
    if i < max(len(wanted), len(executed)):
        profile = published.metadata.get("papermill", {}).get("parameters", {}).get("profile", "<profile>")
        first = (wanted[i].source.splitlines() or [""])[0] if i < len(wanted) else "(none: a cell was removed)"
        raise ChapterFailed(f"code cell {i} of {source_path(chapter).name} ({first}) differs from the published "
                            f"chapter {dest.name}, so it must be executed again: pruninglib publish {chapter} "
                            f"--profile {profile}")
    runs = iter(executed)
    cells = []
    for cell in source.cells:
        if cell.cell_type == "code":
            executed_cell = next(runs)
            executed_cell.id = cell.id
            cells.append(executed_cell)
            if "parameters" in tags(cell):
                cells += injected
        else:
            cells.append(cell)
    published.cells = cells
    published.metadata[STAMP] = {"chapter": chapter, "source": _portable(source_path(chapter)), "source_sha256": sha}
    return write_clean(published, dest, chapter)


def install_cell() -> nbformat.NotebookNode:
    """The cell a published chapter starts with: it installs pruninglib from ``repository.url`` of
    ``book/_config.yml`` when it cannot be imported, and does nothing otherwise; hidden in the book."""
    import yaml

    url = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())["repository"]["url"]
    cell = nbformat.v4.new_code_cell(INSTALL_SOURCE.format(url=url), metadata={"tags": [INSTALL, "remove-cell"]})
    cell.id = INSTALL
    return cell


def write_clean(nb: nbformat.NotebookNode, dest: Path, chapter: str) -> Path:
    """Write ``nb`` to ``dest`` atomically without its stderr, progress-bar and widget outputs (the book's download
    and Colab buttons hand readers this file), starting with :func:`install_cell` (MUTATES ``nb``). Raises
    ChapterFailed if a cell holds an error output."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in map(without_progress, cell.outputs) if o is not None]
    nb.cells = [install_cell(), *(c for c in nb.cells if INSTALL not in tags(c))]
    check_no_errors(nb, chapter)
    with atomic_path(dest) as tmp:
        nbformat.write(nb, tmp)
    return dest


def without_progress(output: nbformat.NotebookNode) -> nbformat.NotebookNode | None:
    """``output`` without progress bars, or None when nothing is left: a stderr stream and a widget go whole; a
    stdout stream loses the lines that redraw themselves (carriage return or cursor move), keeping printed results
    that the kernel merged into the same stream."""
    if output.output_type == "stream" and output.name == "stdout":
        lines = re.split(r"(?<=\n)", output.text)
        output.text = "".join(line for line in lines if "\r" not in line and "\x1b[" not in line)
        return output if output.text else None
    if output.output_type == "stream" or WIDGET in output.get("data", {}):
        return None
    return output


def check_no_errors(nb: nbformat.NotebookNode, chapter: str) -> None:
    """Raise ChapterFailed naming the chapter and the first cell that holds an error output."""
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                raise ChapterFailed(f"chapter {chapter} holds an error output in cell {i} (id {cell.get('id')}): "
                                    f"{out.ename}: {out.evalue}")


def _portable(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it, else absolute: a notebook records these, and a
    published chapter opened elsewhere (Binder, Colab) must not point at the folders of the machine that ran it."""
    resolved, root = Path(path).resolve(), ROOT.resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(resolved)


@contextmanager
def _absolute_env() -> Iterator[None]:
    """While a chapter runs: $PRUNINGLIB_DATA and $PRUNINGLIB_CACHE as absolute paths, since the kernel (which
    inherits this process's environment) works in the run's work/ folder, not where the command was typed."""
    saved = {k: os.environ[k] for k in (ENV_DATA, ENV_CACHE) if os.environ.get(k)}
    os.environ.update({k: str(Path(v).expanduser().resolve()) for k, v in saved.items()})
    try:
        yield
    finally:
        os.environ.update(saved)
