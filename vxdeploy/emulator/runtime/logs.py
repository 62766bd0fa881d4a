"""Reading the end of a server log without loading all of it."""

from __future__ import annotations

import os
from pathlib import Path

_CHUNK = 8192


def tail(path: Path, lines: int = 50) -> str:
    """The last `lines` lines of `path` ("" when it does not exist yet)."""
    if lines <= 0:
        return ""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            end = handle.tell()
            data = b""
            # Read backwards in chunks: logs of long-lived servers grow large.
            while end > 0 and data.count(b"\n") <= lines:
                start = max(0, end - _CHUNK)
                handle.seek(start)
                data = handle.read(end - start) + data
                end = start
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])
