"""predict's step timings (kgdistill.service._Clock) against a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kgdistill import service


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_time_inside_next_is_scoring_and_the_callers_is_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeTime()
    monkeypatch.setattr(service.time, "perf_counter", fake)
    clock = service._Clock()
    fake.now += 2.0  # model loaded, graph extracted

    def blocks() -> Iterator[str]:
        for name in ("a", "b"):
            fake.now += 3.0  # scoring one block
            yield name
        fake.now += 0.5  # the generator's own end

    timed = clock.timed("score", blocks())
    fake.now += 1.0  # the writer set up before the first block
    clock.lap("prepare")
    for _ in timed:
        fake.now += 4.0  # the block handed to the writer
        clock.lap("hand_off")
    fake.now += 5.0
    clock.lap("finish")
    assert clock.seconds == {"prepare": 3.0, "score": 6.5, "hand_off": 8.0, "finish": 5.0}
    assert "scoring 2 customers/s" in clock.line(13)


def test_a_line_without_scoring_says_zero_rather_than_dividing_by_it() -> None:
    clock = service._Clock()
    clock.lap("prepare")
    assert "(scoring 0 customers/s)" in clock.line(0)
