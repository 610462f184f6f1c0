"""Cells shared by the scripts that write chapter notebooks with nbformat. The parameters cell is generated from
the chapter's config class (names, defaults = the smoke profile, help text), so it cannot drift from the library."""
from __future__ import annotations

import dataclasses

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def md(text: str, tags: list[str] | None = None):
    return new_markdown_cell(text.strip("\n"), metadata={"tags": tags} if tags else {})


def code(text: str, tags: list[str] | None = None):
    return new_code_cell(text.strip("\n"), metadata={"tags": tags} if tags else {})


def parameters_cell(config_cls: type):
    """One ``name: type = value  # help`` line per field of ``config_cls``, tagged ``parameters``."""
    cfg, helps = config_cls(), config_cls.help()
    lines = []
    for f in dataclasses.fields(config_cls):
        value = getattr(cfg, f.name)
        if isinstance(value, tuple):
            value, kind = list(value), "list"
        else:
            kind = type(value).__name__
        lines.append(f"{f.name}: {kind} = {value!r}  # {helps[f.name]}")
    return code("\n".join(lines), ["parameters", "hide-input"])


def notebook(cells: list):
    """A Python 3 notebook of ``cells`` with ids cell-00, cell-01, ... (stable, so regenerating a notebook whose
    text did not change gives the same file)."""
    for i, cell in enumerate(cells):
        cell.id = f"cell-{i:02d}"
    return new_notebook(cells=cells, metadata={"kernelspec": {"display_name": "Python 3", "language": "python",
                                                              "name": "python3"},
                                               "language_info": {"name": "python"}})
