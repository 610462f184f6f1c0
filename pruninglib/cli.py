"""Command line: run one chapter, publish chapters into the book, build the book.

    pruninglib run mlp_mnist --profile quick -p epochs 5 -p seeds "[0, 1]" --out runs/try
    pruninglib publish theory relevance_lenet5 --profile paper   # execute, then write into book/chapters
    pruninglib publish mlp_mnist --prose-only                     # a prose edit: nothing is executed
    pruninglib book --profile quick            # execute every chapter, then build the HTML book
    pruninglib book --no-execute               # build from the executed notebooks committed in book/chapters
    pruninglib sweep grid.yaml --workers 2     # a grid of experiment runs into the run store (pruninglib.sweeps)

Exit status: 0 done; 2 an input was refused before any work (the message names the parameter, the value and what
is allowed); 1 a chapter or the book build failed (the message names the chapter and the cell).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Sequence

import nbformat

from pruninglib.config import PROFILES, ConfigError
from pruninglib.data import command as data_command
from pruninglib.experiments import CHAPTERS
from pruninglib.notebook import ROOT, ChapterFailed, check_no_errors, publish, run_chapter, update_prose, write_clean
from pruninglib.sweeps import command as sweep_command
from pruninglib.sweeps import run_chapters
from pruninglib.tracking import git_commit

BOOK = ROOT / "book"


def parse_value(text: str) -> Any:
    """'5' -> 5, '[0, 1]' -> [0, 1], 'true' -> True, 'l2' -> 'l2' (JSON first, else the plain string)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def build(profile: str = "quick", execute: bool = True, build_dir: str | Path | None = None) -> Path:
    """Execute every chapter at ``profile`` (unless ``execute`` is False) and build the HTML book.

    The book source is staged in ``<build_dir>/source`` (the committed book/ is not touched), with each chapter
    freshly executed into ``runs/<profile>/<chapter>`` and cleaned as a published chapter is. Raises ChapterFailed,
    before building, when a staged chapter holds an error output.
    """
    from pruninglib.book import build_book

    build_dir = Path(build_dir) if build_dir is not None else ROOT / "_build" / profile
    source = build_dir / "source"
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(BOOK, source, ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints"))
    # chapters run concurrently, one torch thread each, as many at once as there are cores
    run_dirs = run_chapters(run_chapter, list(CHAPTERS), profile, ROOT / "runs" / profile) if execute else {}
    for name in CHAPTERS:
        staged = source / "chapters" / f"{name}.ipynb"
        if execute:  # staged as `pruninglib publish` would write it
            write_clean(nbformat.read(run_dirs[name] / f"{name}.ipynb", as_version=4), staged, name)
        check_no_errors(nbformat.read(staged, as_version=4), name)
    return build_book(source, build_dir)


def book_profiles() -> list[str]:
    """The profiles the whole book can execute at: those every chapter has (``medium`` is only where needed)."""
    return [p for p in PROFILES if all(p in CHAPTERS.get(name).profiles for name in CHAPTERS)]


def _check_profile(profile: str) -> None:
    allowed = book_profiles()
    if profile not in allowed:
        raise ConfigError(f"parameter 'profile' = {profile!r} is not allowed: one of {', '.join(allowed)} "
                          "(the profiles every chapter has)")


def _overrides(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for name, value in pairs:
        if name in overrides:
            raise ConfigError(f"parameter {name!r} is given twice with -p")
        overrides[name] = parse_value(value)
    return overrides


def _name_value(token: str) -> tuple[str, str]:
    """The argparse type of -p: ``NAME=VALUE``, as :func:`_attach_param_values` passes ``-p NAME VALUE`` on."""
    name, sep, value = token.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("expected 2 arguments: NAME VALUE")
    return name, value


def _attach_param_values(argv: Sequence[str]) -> list[str]:
    """``-p NAME VALUE`` -> ``--param=NAME=VALUE``, one token.

    argparse reads a token that starts with '-' as an option unless it looks like a plain negative number, so the
    values of ``-p lr -1e-2``, ``-p scalar_w0 -1e-2`` or ``-p lr -inf`` would be refused ("expected 2 arguments");
    a value attached to its option with '=' is never read as an option.
    """
    args, out, i = list(argv), [], 0
    while i < len(args):
        if args[i] == "--":
            return out + args[i:]
        if args[i] in ("-p", "--param") and i + 2 < len(args) and not _is_option(args[i + 2]):
            out.append(f"--param={args[i + 1]}={args[i + 2]}")
            i += 3
        else:
            out.append(args[i])
            i += 1
    return out


def _is_option(token: str) -> bool:
    """An option of this command line rather than a value: ``-p NAME --out x`` lacks its VALUE."""
    return token.startswith("--") or token in ("-p", "-h")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pruninglib", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest="command", required=True)
    param = dict(type=_name_value, action="append", default=[], metavar="NAME VALUE",
                 help="override one parameter; VALUE is JSON (5, -1e-2, \"[0, 1]\") or a plain string")
    p_run = sub.add_parser("run", help="execute one chapter notebook with papermill")
    p_run.add_argument("chapter", help=f"one of: {', '.join(CHAPTERS)}")
    p_run.add_argument("--profile", default="quick", help=f"one of {', '.join(PROFILES)} (default quick)")
    p_run.add_argument("-p", "--param", **param)
    p_run.add_argument("--out", default=None, help="run folder (default runs/<profile>/<chapter>)")
    p_pub = sub.add_parser("publish", help="execute chapters and write them, cleaned, into book/chapters")
    p_pub.add_argument("chapters", nargs="+", metavar="chapter", help=f"one or more of: {', '.join(CHAPTERS)}")
    how = p_pub.add_mutually_exclusive_group(required=True)
    how.add_argument("--profile", help=f"execute at this profile, one of {', '.join(PROFILES)}, in "
                                       "runs/<profile>/<chapter>")
    how.add_argument("--prose-only", action="store_true",
                     help="execute nothing: copy the source's prose into the published chapter (its code cells must "
                          "be unchanged)")
    p_pub.add_argument("-p", "--param", **param)
    p_book = sub.add_parser("book", help="execute all chapters and build the HTML book")
    p_book.add_argument("--profile", default="quick", help=f"one of {', '.join(book_profiles())} (default quick)")
    p_book.add_argument("--no-execute", action="store_true", help="build from the committed executed notebooks")
    p_book.add_argument("--build-dir", default=None, help="default _build/<profile>")
    data_command.add_parser(sub)
    sweep_command.add_parser(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(_attach_param_values(sys.argv[1:] if argv is None else argv))
    if args.command == "data":
        return data_command.handle(args)
    try:
        if args.command == "sweep":
            return args.handler(args)
        if args.command == "run":
            out = run_chapter(args.chapter, args.profile, _overrides(args.param), args.out)
            print(f"done: {out / (args.chapter + '.ipynb')} and {out / 'results.json'}")
        elif args.command == "publish":
            overrides = _overrides(args.param)
            if args.prose_only and overrides:
                raise ConfigError(f"parameter {next(iter(overrides))!r} is not allowed with --prose-only, which "
                                  f"executes nothing")
            for name in args.chapters:  # every chapter and parameter is checked before the first one runs
                chapter = CHAPTERS.get(name)
                if args.profile is not None:
                    chapter.parameters(args.profile, overrides)
            if not args.prose_only and git_commit()["dirty"]:
                print("pruninglib: warning: the working tree has uncommitted changes; the run cards will say so "
                      "(commit first)", file=sys.stderr)
            paths = ([update_prose(name) for name in args.chapters] if args.prose_only
                     else publish(args.chapters, args.profile, overrides))
            print("published: " + ", ".join(map(str, paths)))
        else:
            _check_profile(args.profile)
            print(f"book built: {build(args.profile, execute=not args.no_execute, build_dir=args.build_dir)}")
    except (ConfigError, ValueError, FileNotFoundError) as exc:  # bad input: nothing was run
        print(f"pruninglib: error: {exc}", file=sys.stderr)
        return 2
    except (ChapterFailed, RuntimeError, ImportError, OSError) as exc:  # a chapter, the build or the disk failed
        print(f"pruninglib: failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
