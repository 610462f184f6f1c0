"""``pruninglib data``: fetch, verify and locate the data sets.

    pruninglib data fetch                  # every data set (what is not on disk is downloaded into the cache)
    pruninglib data fetch mnist covid      # some of them
    pruninglib data verify                 # every file against its SHA-256: present, missing or corrupt
    pruninglib data where                  # the data root, the cache and the download folder
"""
from __future__ import annotations

import argparse
import os
import sys

from pruninglib.data.fetch import ENV_MIRROR
from pruninglib.data.registry import DATASETS, require
from pruninglib.data.root import GUIDE, ChecksumError, DataNotFoundError, cache_dir, downloads_dir, resolve_data_root


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``data`` and its three actions on the command line's subparsers."""
    p = subparsers.add_parser("data", help="fetch, verify and locate the data sets", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", required=True)
    fetch = actions.add_parser("fetch", help="download what is missing into the cache, then verify")
    fetch.add_argument("names", nargs="*", metavar="NAME", help=f"data sets (default all): {', '.join(DATASETS)}")
    verify = actions.add_parser("verify", help="check every file against its SHA-256 (exit 1 if any is corrupt)")
    verify.add_argument("names", nargs="*", metavar="NAME", help="data sets (default all)")
    actions.add_parser("where", help="print the data root, the cache and the download folder")
    for action in (fetch, verify):
        action.add_argument("--data-root", default=None, help="data root (default $PRUNINGLIB_DATA, then data/)")


def handle(args: argparse.Namespace) -> int:
    """Run the action of ``args``; return the exit status (0 done, 1 corrupt files, 2 missing data or bad input)."""
    try:
        if args.action == "where":
            return _where()
        names = args.names or list(DATASETS)
        for name in names:
            DATASETS.get(name)  # unknown names fail before any work
        return _fetch(names, args.data_root) if args.action == "fetch" else _verify(names, args.data_root)
    except (DataNotFoundError, ChecksumError, ValueError) as exc:
        print(f"pruninglib: error: {exc}", file=sys.stderr)
        return 2


def _where() -> int:
    origin, root = resolve_data_root(None)
    print(f"data root:       {root if root is not None else '(none)'}  ({origin})")
    print(f"cache:           {cache_dir()}")
    print(f"downloads:       {downloads_dir()}")
    if os.environ.get(ENV_MIRROR):
        print(f"mirror:          {os.environ[ENV_MIRROR]}  (${ENV_MIRROR} replaces every upstream URL)")
    print(f"sources, layouts and licenses: {GUIDE}")
    return 0


def _fetch(names: list[str], data_root: str | None) -> int:
    for name, record in zip(names, require(names, data_root)):
        print(f"{name}: {len(record['verified_files'])} file(s) verified; {record['obtained']}")
    return 0


def _verify(names: list[str], data_root: str | None) -> int:
    corrupt = 0
    for name in names:
        states = DATASETS.get(name).check(data_root)
        count = {s: sum(1 for state, _ in states if state == s) for s in ("ok", "corrupt", "missing")}
        print(f"{name}: {count['ok']} verified, {count['corrupt']} corrupt, {count['missing']} missing")
        for state, path in states:
            if state == "corrupt":
                print(f"  corrupt: {path}")
        missing = [path for state, path in states if state == "missing"]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            print(f"  missing: {', '.join(missing[:5])}{more} (`pruninglib data fetch {name}` downloads them)")
        corrupt += count["corrupt"]
    return 1 if corrupt else 0
