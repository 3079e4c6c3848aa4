"""Files written whole or not at all: under a temporary name beside the file, renamed over it once complete.

A process killed mid-write, or a full disk, leaves the file as it was before (or absent); a full disk or a stop
(Ctrl-C, SIGTERM) leaves no temporary behind either (a SIGKILL can, under a hidden name of its own).
A full disk (ENOSPC) is an ``OSError`` that names the file it could not write and, where known, the space it needed,
so a user reads one line saying what to free (``dse.cli.main`` prints it).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from training.memory import gigabytes


def no_space(path: Path | str, size: int | None = None) -> OSError:
    """The error of a full disk at ``path``, with the ``size`` in bytes the write needed where it is known."""
    needed = f" ({gigabytes(size)} needed)" if size else ""
    return OSError(errno.ENOSPC, f"no space left on the device{needed}", str(path))


def write_whole(path: Path, data: bytes | str, sync: bool = False) -> Path:
    """``data`` (text as UTF-8) in ``path``, whole or not at all: written under a temporary name beside it, then
    renamed over it; the temporary removed if anything fails, a stop mid-write included.

    ``sync``: the bytes and then the rename reach the disk before this returns (a save a training resumes from);
    reports and records a rerun rewrites skip the cost.
    """
    if isinstance(data, str):
        data = data.encode()
    incoming = path.with_name(f".{path.name}.{os.getpid()}.incoming")
    try:
        with open(incoming, "wb") as file:
            file.write(data)
            if sync:
                file.flush()
                os.fsync(file.fileno())
        os.replace(incoming, path)
    except BaseException as error:  # a stop (Ctrl-C, SIGTERM) mid-write too: nothing is left behind
        incoming.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            raise no_space(path, len(data)) from None
        raise
    if sync:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself survives a crash of the machine
        finally:
            os.close(folder)
    return path
