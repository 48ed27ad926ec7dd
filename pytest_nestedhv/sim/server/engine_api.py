"""What the server needs from an engine: ``run(request, sink, cancel)`` (see powershell/request.py)."""
from __future__ import annotations

import threading
from typing import Protocol

from ..powershell.request import PipelineRequest, PipelineSink


class EngineLike(Protocol):
    def run(self, request: PipelineRequest, sink: PipelineSink, cancel: threading.Event) -> None: ...
