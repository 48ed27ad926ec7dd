"""The scaled clock: modelled time runs ``time_scale`` times faster than real time."""
from __future__ import annotations

import dataclasses
import datetime as dt
import time


@dataclasses.dataclass
class Clock:
    origin: dt.datetime  # modelled time at the anchor
    time_scale: float = 1.0
    skew_seconds: float = 0.0  # modelled seconds added by advance() (tests, fast-forward)
    _anchor: float = dataclasses.field(default_factory=time.monotonic, repr=False)

    def now(self) -> dt.datetime:
        elapsed = (time.monotonic() - self._anchor) * self.time_scale + self.skew_seconds
        return self.origin + dt.timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> None:
        """Jump modelled time forward without waiting."""
        self.skew_seconds += seconds

    def real_seconds(self, modelled: float) -> float:
        return max(0.0, modelled) / self.time_scale


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
