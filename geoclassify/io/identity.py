"""What identifies an input file between two runs: its path, size and modification time."""

from __future__ import annotations

import os


def file_identity(path: str | os.PathLike) -> dict:
    """Absolute path, size and modification time: enough to tell a changed input from the same one."""
    path = str(path)
    if path.startswith("/vsi") or "://" in path:
        return {"path": path}
    st = os.stat(path)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
