"""Children of a benchmark exit with it, even when it is killed outright.

The parent starts each child with ``stdin=subprocess.PIPE`` and keeps the pipe open;
when the parent ends, however it ends, the kernel closes that pipe and the child's
watcher sees end-of-file and exits. No polling, no orphans serving forever.
"""

from __future__ import annotations

import os
import sys
import threading


def exit_with_parent() -> None:
    """Exit this process (status 0) as soon as stdin reaches end-of-file."""

    def watch() -> None:
        sys.stdin.buffer.read()
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
