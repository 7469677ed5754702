"""benchmarks/pareto.py's bookkeeping (no training here): the Pareto front and the issue's two goals."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pareto import goals, pareto_front  # noqa: E402


def row(model: str, latency_ms: float, miou: float) -> dict:
    return {"model": model, "latency_ms": latency_ms, "miou": miou}


def test_front_keeps_only_models_nobody_beats_on_both_axes():
    rows = [row("a", 100, 0.30), row("b", 200, 0.40), row("c", 250, 0.35), row("d", 100, 0.25)]
    assert pareto_front(rows) == {"a", "b"}  # c: b is faster and better; d: a is as fast and better


def test_goals():
    rows = {r["model"]: r for r in (row("swiftnet_rn18", 240, 0.30), row("deeplabv3_mnv3", 200, 0.25),
                                      row("swiftnet_mnv2", 120, 0.22), row("lraspp_mnv3", 86, 0.22))}
    result = goals(rows)
    assert not result["rn18_beats_deeplabv3_mnv3"]["met"]  # more accurate but slower
    assert result["rn18_beats_deeplabv3_mnv3"]["miou_pp"] == 5.0
    assert not result["mnv2_not_dominated_by_lraspp"]["met"]  # as accurate and faster: dominated
    rows["swiftnet_mnv2"]["miou"] = 0.23
    assert goals(rows)["mnv2_not_dominated_by_lraspp"]["met"]
