"""Progress lines of long steps: one per 10% with rate and ETA in logs, a summary at the end."""

from __future__ import annotations

import re

from lsevos.progress import Meter, clock


def test_a_line_per_tenth_with_rate_and_eta_then_a_summary():
    lines = []
    meter = Meter(20, "fine-tune", "step", lines.append)
    for step in range(20):
        meter.update(1, f"loss {1.0 / (step + 1):.3f}")
    meter.close()
    # 2/20, 4/20, ..., 18/20 (nine lines), nothing at 20/20, then the summary
    assert len(lines) == 10
    assert [int(re.match(r"fine-tune: (\d+)/20", line).group(1)) for line in lines[:9]] == list(
        range(2, 20, 2)
    )
    assert re.fullmatch(r"fine-tune: 2/20 \(10%\), [\d.]+ step/s, ETA \d+:\d\d, loss 0.500", lines[0])
    assert re.fullmatch(r"fine-tune: 20 steps in \d+:\d\d \([\d.]+ step/s\), loss 0.050", lines[-1])


def test_a_large_update_prints_one_line_and_a_short_total_prints_each_step():
    lines = []
    meter = Meter(100, "scan", "frame", lines.append)
    meter.update(35)
    assert len(lines) == 1 and lines[0].startswith("scan: 35/100 (35%)")
    meter.update(1)  # 36%: the 40% line is not due yet
    assert len(lines) == 1
    meter.update(4)
    assert len(lines) == 2 and lines[1].startswith("scan: 40/100 (40%)")


def test_clock():
    assert clock(5) == "0:05" and clock(125) == "2:05" and clock(3725) == "1:02:05"


def test_the_summary_counts_one_step_in_the_singular():
    lines = []
    meter = Meter(1, "retrain", "step", lines.append)
    meter.update(1)
    meter.close()
    assert len(lines) == 1
    assert re.fullmatch(r"retrain: 1 step in \d+:\d\d \([\d.]+ step/s\)", lines[0])
