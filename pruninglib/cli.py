"""Command line: ``pruninglib run <chapter>`` executes one chapter notebook; ``pruninglib book`` builds the book.

    pruninglib run mlp_mnist --profile quick -p epochs 5 -p seeds "[0, 1]" --out runs/try
    pruninglib book --profile quick            # execute every chapter, then build the HTML book
    pruninglib book --no-execute               # build from the executed notebooks committed in book/chapters
    pruninglib sweep grid.yaml --workers 2     # a grid of experiment runs into the run store (pruninglib.sweeps)
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from pruninglib._io import atomic_path, write_json
from pruninglib.config import PROFILES, ConfigError
from pruninglib.data.root import repo_root, resolve_data_root
from pruninglib.experiments import CHAPTERS
from pruninglib.sweeps import command as sweep_command
from pruninglib.sweeps import run_chapters

ROOT = repo_root() or Path.cwd()
NOTEBOOKS = ROOT / "notebooks"
BOOK = ROOT / "book"


def parse_value(text: str) -> Any:
    """'5' -> 5, '[0, 1]' -> [0, 1], 'true' -> True, 'l2' -> 'l2' (JSON first, else the plain string)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def run_chapter(chapter: str, profile: str = "quick", overrides: dict[str, Any] | None = None,
                out: str | Path | None = None, progress: bool = True) -> Path:
    """Validate the parameters, execute the chapter's notebook with papermill, return the run folder.

    The run folder receives ``<chapter>.ipynb`` (executed) and ``results.json`` (written by the notebook, then
    completed here with the notebook's path and total wall time). A failed execution leaves
    ``<chapter>.failed.ipynb`` for inspection and no results.json from this run.
    """
    import papermill as pm

    ch = CHAPTERS.get(chapter)
    out_dir = Path(out) if out is not None else ROOT / "runs" / profile / chapter
    params = ch.parameters(profile, overrides, out_dir=_portable(out_dir))  # raises before any work
    resolve_data_root(params.get("data_root") or None)  # a missing data root fails here, not in the kernel
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / "results.json"
    if results.exists():
        results.unlink()  # a stale result must not pass for this run's
    notebook = out_dir / f"{chapter}.ipynb"
    t0 = time.perf_counter()
    with atomic_path(notebook) as tmp:
        tmp_nb = tmp.with_suffix(".ipynb")
        try:
            pm.execute_notebook(str(NOTEBOOKS / ch.notebook), str(tmp_nb), parameters=params, cwd=str(ROOT),
                                progress_bar=progress, kernel_name="python3")
        except BaseException:
            if tmp_nb.exists():
                shutil.move(str(tmp_nb), out_dir / f"{chapter}.failed.ipynb")
            raise
        _hide_injected_parameters(tmp_nb)
        shutil.move(str(tmp_nb), tmp)
    record = json.loads(results.read_text())
    record.update({"notebook": str(notebook), "total_wall_time_s": round(time.perf_counter() - t0, 1)})
    write_json(results, record)
    return out_dir


def _portable(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (the kernel runs there), else absolute.

    The executed notebook records this value, so a published chapter opened elsewhere (Binder, Colab) does not
    point at the folders of the machine that ran it.
    """
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT.resolve())) if resolved.is_relative_to(ROOT.resolve()) else str(resolved)


def _hide_injected_parameters(path: Path) -> None:
    """Collapse the input of papermill's injected-parameters cell in the book (the run card lists the values)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            tags.append("hide-input")
    nbformat.write(nb, path)


def build(profile: str = "quick", execute: bool = True, publish: bool = False,
          build_dir: str | Path | None = None) -> Path:
    """Execute every chapter at ``profile`` (unless ``execute`` is False) and build the HTML book.

    The book source is staged in ``<build_dir>/source`` with the freshly executed chapters, so the committed
    book/ is not touched unless ``publish`` copies the executed notebooks into book/chapters/.
    """
    from pruninglib.book import build_book

    build_dir = Path(build_dir) if build_dir is not None else ROOT / "_build" / profile
    source = build_dir / "source"
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(BOOK, source, ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints"))
    if execute:  # chapters run concurrently, one torch thread each, as many as there are cores
        for name, run_dir in run_chapters(run_chapter, list(CHAPTERS), profile, ROOT / "runs" / profile).items():
            shutil.copyfile(run_dir / f"{name}.ipynb", source / "chapters" / f"{name}.ipynb")
            if publish:
                with atomic_path(BOOK / "chapters" / f"{name}.ipynb") as tmp:
                    shutil.copyfile(run_dir / f"{name}.ipynb", tmp)
    return build_book(source, build_dir)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pruninglib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute one chapter notebook with papermill")
    p_run.add_argument("chapter", help=f"one of: {', '.join(CHAPTERS)}")
    p_run.add_argument("--profile", default="quick", help=f"one of {', '.join(PROFILES)} (default quick)")
    p_run.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                       help="override one parameter; VALUE is JSON (5, 0.1, \"[0, 1]\") or a plain string")
    p_run.add_argument("--out", default=None, help="run folder (default runs/<profile>/<chapter>)")
    p_book = sub.add_parser("book", help="execute all chapters and build the HTML book")
    p_book.add_argument("--profile", default="quick", help=f"one of {', '.join(PROFILES)} (default quick)")
    p_book.add_argument("--no-execute", action="store_true", help="build from the committed executed notebooks")
    p_book.add_argument("--publish", action="store_true",
                        help="copy the executed notebooks into book/chapters (to commit them)")
    p_book.add_argument("--build-dir", default=None, help="default _build/<profile>")
    sweep_command.add_parser(sub)
    args = parser.parse_args(argv)
    try:
        if args.command == "sweep":
            return args.handler(args)
        if args.command == "run":
            overrides: dict[str, Any] = {}
            for name, value in args.param:
                if name in overrides:
                    raise ConfigError(f"parameter {name!r} is given twice with -p")
                overrides[name] = parse_value(value)
            out = run_chapter(args.chapter, args.profile, overrides, args.out)
            print(f"done: {out / (args.chapter + '.ipynb')} and {out / 'results.json'}")
        else:
            if args.profile not in PROFILES:
                raise ConfigError(f"parameter 'profile' = {args.profile!r} is not allowed: one of "
                                  f"{', '.join(PROFILES)}")
            html = build(args.profile, execute=not args.no_execute, publish=args.publish,
                         build_dir=args.build_dir)
            print(f"book built: {html}")
    except (ConfigError, ValueError, FileNotFoundError) as exc:  # bad input: nothing was run
        print(f"pruninglib: error: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, ImportError) as exc:  # a failed book build or a missing optional package
        print(f"pruninglib: failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
