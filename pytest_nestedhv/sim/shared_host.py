"""Several ``serve --stdio`` processes on one ``--state`` file are one host.

On Windows every ``powershell.exe -s`` on a machine sees the same Hyper-V: a VM one of them
removes is gone for all. Each emulator process keeps its model in memory, so each pipeline runs
under an exclusive lock on the state file, on the model as the last process left it (reloaded
when the file changed since this process wrote it), and is saved before the lock is released.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class SharedHost:
    """Wraps an Engine so that its pipelines run one at a time across processes."""

    def __init__(self, engine: Any, state_path: Path) -> None:
        self.engine = engine
        self.path = state_path
        self._lock_path = state_path.with_name(state_path.name + ".lock")
        self._local = threading.Lock()  # the file lock is per process: threads queue here first
        self._stamp: tuple[int, int] | None = None
        with self._exclusive():  # the first process writes the file; the others read it at their first run
            if self._file_stamp() is None:
                self._save()

    def __getattr__(self, name: str) -> Any:  # everything but run() is the engine's
        return getattr(self.engine, name)

    def run(self, request: Any, sink: Any, cancel: threading.Event) -> None:
        with self._exclusive():
            self._reload_if_changed()
            try:
                self.engine.run(request, sink, cancel)
            finally:
                self._save()

    def _save(self) -> None:
        world = self.engine.world
        world.on_change = None  # saved here, under the lock, not on every change
        world.save(self.path)
        self._stamp = self._file_stamp()

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._local, open(self._lock_path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _reload_if_changed(self) -> None:
        if self._file_stamp() == self._stamp:
            return
        from .model.world import World

        world = self.engine.world
        loaded = World.load(self.path)
        # modelled time never runs backwards here: keep this process's clock when it is ahead
        if world.now() > loaded.now():
            loaded.clock = world.clock
        self.engine.world = loaded

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size
