"""Tables for people: Rich in a terminal, plain aligned text when piped (so `grep` and diffs stay readable)."""

from __future__ import annotations

import sys


def _shape(shape: list) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def print_table(title: str, header: list[str], rows: list[list[str]], footer: list[str] | None = None,
                right: frozenset[int] = frozenset()) -> None:
    """Print a table; columns whose index is in `right` are right-aligned (numbers)."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, show_footer=footer is not None)
        for i, name in enumerate(header):
            table.add_column(name, footer=footer[i] if footer else "", justify="right" if i in right else "left")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    lines = [header, *rows, *([footer] if footer else [])]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def fmt(line: list[str]) -> str:
        cells = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths)))
        return "  ".join(cells).rstrip()

    print(title)
    print(fmt(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(fmt(row))
    if footer:
        print("  ".join("-" * w for w in widths))
        print(fmt(footer))


def summary_table(info: dict) -> None:
    """The `nnspec summary` table of a `summarize()` result."""
    rows = [[n["id"], n["op"], _shape(n["shape"]), f"{n['params']:,}", f"{n['flops']:,}"] for n in info["nodes"]]
    non_trainable = info["params"] - info["trainable_params"]
    footer = ["total", f"{len(rows)} nodes", "", f"{info['params']:,}", f"{info['flops']:,}"]
    inputs = ", ".join(f"{k} {_shape(v['shape'])}" for k, v in info["inputs"].items())
    print_table(f"{info['name']}: inputs {inputs}", ["id", "op", "output shape", "params", "FLOPs"], rows,
                footer, right=frozenset({3, 4}))
    print(f"trainable params: {info['trainable_params']:,}   non-trainable: {non_trainable:,}   "
          "(FLOPs per example, 2 per multiply-add)")
