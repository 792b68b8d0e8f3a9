"""Terminal output shared by every command: one console, tables, and the `--json` switch."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

out = Console()
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def print_table(rows: list[dict[str, Any]], *, title: str) -> None:
    """Rows of equal keys as a table titled `title`; 'none' when there are no rows."""
    if not rows:
        out.print(f"{title}: none")
        return
    view = Table(title=title)
    for column in rows[0]:
        view.add_column(column, overflow="fold")
    for row in rows:
        view.add_row(*("" if v is None else str(v) for v in row.values()))
    out.print(view)
