"""The state directory is private: 0700 folders, 0600 files.

`state.json` keeps every Model's `env` (where people put tokens), and the logs hold what
model code printed, so nothing under the state directory is readable by other users of the
machine. Writes are atomic (a temporary file, then a rename), so a killed emulator leaves
either the old state or the new one, never half of it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) and make the folder itself 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if path.stat().st_mode & 0o777 != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return path


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically, readable by its owner only."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def open_private_log(path: Path) -> int:
    """An append-only descriptor for a server log, created 0600 in a 0700 folder."""
    private_dir(path.parent)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
