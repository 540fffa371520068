"""Drawing `.svg` and `.png` by piping DOT text through Graphviz's `dot`, when it is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from nnspec.errors import NnspecError
from nnspec.runtime.atomic import publish, temp_beside

MISSING = (
    "drawing .svg/.png needs Graphviz's `dot`, which is not installed. Install it (Debian/Ubuntu: "
    "apt-get install graphviz; macOS: brew install graphviz), or write .dot, .mmd or .html, "
    "which need nothing."
)


def run_dot(dot_text: str, fmt: str, out: Path) -> None:
    """Render `dot_text` as `fmt` (`svg` or `png`) into `out`, atomically.

    Raises:
        NnspecError: when `dot` is not installed, or fails.
    """
    exe = shutil.which("dot")
    if exe is None:
        raise NnspecError(MISSING)
    with temp_beside(out, suffix=f".{fmt}") as tmp:
        proc = subprocess.run(
            [exe, f"-T{fmt}", "-o", str(tmp)],
            input=dot_text.encode(),
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            detail = proc.stderr.decode(errors="replace").strip()
            raise NnspecError(
                f"Graphviz's dot failed (exit {proc.returncode}) drawing {out}: {detail}"
            )
        publish(tmp, out)
