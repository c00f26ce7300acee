"""Chart axes tick at round numbers (D13: 12.5 / 37.5 and a 2.5 % tick shown as 2 %)."""

from __future__ import annotations

import re

import pytest

from campaigns.reports.charts import Column, Segment, axis_ticks, column_chart


@pytest.mark.parametrize(("top", "whole", "ticks"), [
    (50, True, [0, 10, 20, 30, 40, 50]),
    (20, True, [0, 5, 10, 15, 20]),
    (5, True, [0, 1, 2, 3, 4, 5]),
    (1, True, [0, 1]),
    (0.1, False, [0, 0.02, 0.04, 0.06, 0.08, 0.1]),
    (1.0, False, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (0.3, False, [0, 0.1, 0.2, 0.3]),
])
def test_ticks_are_round_steps(top: float, whole: bool, ticks: list[float]) -> None:
    assert axis_ticks(top, whole=whole) == pytest.approx(ticks)


def test_the_drawn_labels_are_the_round_ticks() -> None:
    counts = str(column_chart([Column("12", [Segment(37, "#000")], "37")], title="t"))
    percent = str(column_chart([Column("08", [Segment(0, "#000")], "0")], title="t", y_max=0.1, y_format="percent"))
    labels = re.findall(r'text-anchor="end" fill="currentColor">([^<]+)<', counts)
    assert labels == ["0", "10", "20", "30", "40", "50"]
    assert re.findall(r'text-anchor="end" fill="currentColor">([^<]+)<', percent) == [
        "0%", "2%", "4%", "6%", "8%", "10%"]
