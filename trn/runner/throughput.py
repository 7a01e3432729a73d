"""A job whose training speed falls far below its own first minutes: the warning it gets.

Oversubscription (another job's threads spinning on the same cores), a throttled device or a
data source that slowed down all look the same from inside: the samples per second of the step
events drop and stay down. The watch compares the median rate of the last ``window_s`` seconds
with the median of the job's first minutes (after a warm-up: the first steps compile, fill
caches and start loaders) and says so once when it falls below ``ratio`` of it; once it has
recovered (above the midpoint between ``ratio`` and 1) a later fall is said again.

Pure arithmetic on (time, rate) pairs: the step-event callback feeds it, tests drive it with
their own clock.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Drop:
    """What the warning says: the rate now, the first minutes' rate, and their ratio."""

    samples_per_s: float
    baseline: float

    @property
    def ratio(self) -> float:
        return self.samples_per_s / self.baseline

    def message(self) -> str:
        return (
            f"training slowed to {self.samples_per_s:.4g} samples/s, {self.ratio:.2f}x its first "
            f"minutes' {self.baseline:.4g}: another process may be using this job's cores "
            "(check `trn list --state running` and top), or the device is throttled"
        )


@dataclass
class ThroughputWatch:
    ratio: float = 0.5  # warn below this fraction of the baseline; 0: never
    warmup_s: float = 10.0  # the first seconds of training are not the job's pace
    baseline_s: float = 120.0  # the baseline: the median over this long after the warm-up
    window_s: float = 60.0  # the rate now: the median over the last this many seconds
    start: float | None = None
    baseline_rates: list[float] = field(default_factory=list)
    baseline: float | None = None
    recent: deque[tuple[float, float]] = field(default_factory=deque)
    warned: bool = False

    def feed(self, now: float, rate: float) -> Drop | None:
        """One step event's rate at ``now`` (monotonic seconds); a Drop when it is time to say
        the job slowed down."""
        if self.ratio <= 0 or rate <= 0:
            return None
        if self.start is None:
            self.start = now
        age = now - self.start
        if age < self.warmup_s:
            return None
        self.recent.append((now, rate))
        while self.recent and self.recent[0][0] < now - self.window_s:
            self.recent.popleft()
        if self.baseline is None:
            if age < self.warmup_s + self.baseline_s or len(self.baseline_rates) < 5:
                self.baseline_rates.append(rate)
                return None
            self.baseline = statistics.median(self.baseline_rates)
        if now - self.recent[0][0] < self.window_s / 2 or len(self.recent) < 3:
            return None  # too short a stretch to call it a trend
        current = statistics.median(r for _, r in self.recent)
        if current < self.ratio * self.baseline:
            if not self.warned:
                self.warned = True
                return Drop(round(current, 3), round(self.baseline, 3))
        elif current > (1 + self.ratio) / 2 * self.baseline:
            self.warned = False  # recovered: a later fall is news again
        return None
