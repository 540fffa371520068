"""Writing files whole or not at all: work on a temporary file beside the target, then rename it into place.

A reader (or a later command) sees the previous file or the new one, never half of one, and a failed step leaves
the previous file untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def temp_beside(out: Path, suffix: str = "") -> Iterator[Path]:
    """A temporary file name in `out`'s folder (so the final rename is atomic), removed unless renamed away.

    `suffix` lets libraries that insist on an extension (Keras wants `.keras`) write to it.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=f".partial{suffix}", dir=out.parent)
    os.close(fd)
    try:
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def publish(tmp: Path, out: Path) -> None:
    """Give the finished file the usual permissions (mkstemp made it 0600) and rename it over `out`."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, out)
