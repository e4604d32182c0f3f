"""The service as a recovery probe sees it, sample by sample: pure, fed by the probe's thread.

Each sample is one request of the probe: sent at a moment, answered in time (good), answered
slower than the probe's `maxLatency` (slow), or not answered as expected (failed). From them:

- impact: none, degraded (slow samples only) or down (a failed one);
- detected: the moment the first bad sample was judged bad (its answer, or its giving up);
- recovered: the answer of the first sample of the good run that follows the last bad one (a
  sample sent while the service was still out may be answered once it is back: its answer, not
  its sending, is when the service was seen back);
- degraded seconds: each bad run lasts from its first sample's sending to the answer of the good
  sample after it (to the last bad sample's judgement while still bad);
- settled: no bad sample yet, or the last `settle` samples good.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from chaosmonkey.model import ServiceImpact, ServiceObservation

SETTLE_SAMPLES = 3  # good samples in a row after a bad one before the service counts as back


class Verdict(enum.StrEnum):
    GOOD = "good"
    SLOW = "slow"
    FAILED = "failed"


@dataclass(frozen=True)
class Sample:
    sent_at: float
    judged_at: float  # when its answer came, or the probe gave up
    verdict: Verdict

    @property
    def latency_s(self) -> float:
        return self.judged_at - self.sent_at


class ServiceTracker:
    """What the samples so far say about the service."""

    def __init__(self, settle: int = SETTLE_SAMPLES) -> None:
        self._settle = settle
        self._samples: list[Sample] = []

    def add(self, sample: Sample) -> None:
        self._samples.append(sample)

    @property
    def settled(self) -> bool:
        """Never hurt, or good for the last `settle` samples since it was."""
        if not self._bad():
            return True
        tail = self._samples[-self._settle :]
        return len(tail) == self._settle and all(s.verdict is Verdict.GOOD for s in tail)

    def observation(self) -> ServiceObservation:
        bad = self._bad()
        answered = [s.latency_s for s in self._samples if s.verdict is not Verdict.FAILED]
        worst = max(answered, default=None)
        if not bad:
            return ServiceObservation(ServiceImpact.NONE, worst_latency_s=worst)
        down = any(s.verdict is Verdict.FAILED for s in bad)
        return ServiceObservation(
            ServiceImpact.DOWN if down else ServiceImpact.DEGRADED,
            detected_at=bad[0].judged_at,
            recovered_at=self._recovered_at(),
            degraded_seconds=self._degraded_seconds(),
            worst_latency_s=worst,
        )

    def _bad(self) -> list[Sample]:
        return [s for s in self._samples if s.verdict is not Verdict.GOOD]

    def _recovered_at(self) -> float | None:
        """The answer of the first good sample after the last bad one, once settled."""
        if not self.settled:
            return None
        last_bad = max(i for i, s in enumerate(self._samples) if s.verdict is not Verdict.GOOD)
        return self._samples[last_bad + 1].judged_at

    def _degraded_seconds(self) -> float:
        total, run_start = 0.0, None
        for sample in self._samples:
            if sample.verdict is Verdict.GOOD:
                if run_start is not None:
                    total += sample.judged_at - run_start
                run_start = None
            elif run_start is None:
                run_start = sample.sent_at
        if run_start is not None:  # still bad at the last sample
            total += self._samples[-1].judged_at - run_start
        return total
