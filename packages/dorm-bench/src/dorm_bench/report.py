"""Turning results into the console table, the docs' Markdown table, JSON and a bar chart."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dorm_bench.core import SCENARIO_HELP, Cell, OrmResult

TIMES = "\u00d7"  # the multiplication sign

#: dorm's targets on SQLite (the bench issue): at most this many times the raw driver.
TARGETS = {
    "insert_one": 1.5,
    "bulk_insert": 1.3,
    "get_by_pk": 2.5,
    "filter_count": 1.2,
    "list_first_n": 3.0,
}


@dataclass
class Report:
    meta: dict[str, Any]
    results: list[OrmResult]  # "raw" first
    notes: list[str] = field(default_factory=list)

    @property
    def raw(self) -> OrmResult:
        return self.results[0]

    @property
    def scenarios(self) -> list[str]:
        return list(self.meta["scenarios"])

    def cell(self, orm: OrmResult, scenario: str) -> Cell:
        return orm.cells.get(scenario) or Cell(status=orm.status if orm.status != "ok" else "")

    def ratio(self, orm: OrmResult, scenario: str) -> float | None:
        mine = self.cell(orm, scenario).median
        raw = self.cell(self.raw, scenario).median
        if mine is None or not raw:
            return None
        return mine / raw

    def fastest_orm(self, scenario: str) -> str | None:
        timed = [
            (self.cell(r, scenario).median, r.name)
            for r in self.results[1:]
            if self.cell(r, scenario).median is not None
        ]
        return min(timed)[1] if timed else None

    def targets(self) -> list[dict[str, Any]]:
        """dorm vs its targets (SQLite): ratio to raw, and whether it was the fastest ORM."""
        dorm = next((r for r in self.results if r.name == "dorm"), None)
        if dorm is None or dorm.status != "ok":
            return []
        checks = []
        for scenario in self.scenarios:
            ratio = self.ratio(dorm, scenario)
            if ratio is None:
                continue
            limit = TARGETS.get(scenario) if self.meta["backend"] == "sqlite" else None
            fastest = self.fastest_orm(scenario)
            compared = sum(1 for r in self.results[1:] if self.cell(r, scenario).ok)
            checks.append(
                {
                    "scenario": scenario,
                    "ratio_to_raw": round(ratio, 3),
                    "target_ratio": limit,
                    "ratio_met": None if limit is None else ratio <= limit,
                    "fastest_orm": fastest,
                    "orms_compared": compared,
                    "fastest_met": fastest == "dorm",
                }
            )
        return checks

    # Output ---------------------------------------------------------------------------

    def as_json(self) -> dict[str, Any]:
        results = {}
        for orm in self.results:
            cells = {}
            for scenario in self.scenarios:
                cell = self.cell(orm, scenario)
                ratio = self.ratio(orm, scenario)
                cells[scenario] = {
                    "status": cell.status or "skipped",
                    "median_us": _round(cell.median),
                    "best_us": _round(cell.best),
                    "runs_us": [round(x, 4) for x in cell.runs_us],
                    "ratio_to_raw": None if ratio is None else round(ratio, 4),
                }
            results[orm.name] = {
                "label": orm.label,
                "status": orm.status,
                "settings": orm.settings,
                "notes": orm.notes,
                "scenarios": cells,
            }
        return {
            "meta": self.meta,
            "results": results,
            "targets": self.targets(),
            "notes": self.notes,
        }

    def write_json(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(json.dumps(self.as_json(), indent=2) + "\n", encoding="utf-8")

    def _title(self) -> str:
        m = self.meta
        api = "async API" if m["async"] else "sync API"
        return (
            f"dorm-bench: {m['database']}; {api}; N={m['ops']} ops x {m['runs']} runs "
            f"(median µs/op, {TIMES}raw = ratio to the raw driver in the same run)"
        )

    def _cell_text(self, orm: OrmResult, scenario: str, markdown: bool) -> str:
        cell = self.cell(orm, scenario)
        if orm.status != "ok":
            return "skipped" if orm.status.startswith("skipped") else "error"
        if not cell.ok:
            status = cell.status or "skipped"
            return "error" if status.startswith("error") else status
        text = _fmt(cell.median)
        ratio = self.ratio(orm, scenario)
        if orm is not self.raw and ratio is not None:
            text += f" ({ratio:.2f}{TIMES})"
        if markdown and self.fastest_orm(scenario) == orm.name:
            text = f"**{text}**"
        return text

    def text(self) -> str:
        header = ["scenario", *[r.label for r in self.results]]
        rows = [header]
        for scenario in self.scenarios:
            rows.append([scenario, *[self._cell_text(r, scenario, False) for r in self.results]])
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = [self._title(), ""]
        for j, row in enumerate(rows):
            cells = [row[0].ljust(widths[0])] + [
                c.rjust(widths[i]) for i, c in enumerate(row[1:], 1)
            ]
            lines.append("  ".join(cells).rstrip())
            if j == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines.append("")
        lines.append("per op: " + "; ".join(f"{s}: {SCENARIO_HELP[s]}" for s in self.scenarios))
        repeated = self._repeats_text()
        if repeated:
            lines += ["", repeated]
        lines += ["", *self._settings_lines(), *self._target_lines(), *self._note_lines()]
        return "\n".join(lines).rstrip() + "\n"

    def markdown(self) -> str:
        labels = [r.label for r in self.results]
        lines = [
            "| scenario | " + " | ".join(labels) + " |",
            "|---|" + "---:|" * len(labels),
        ]
        for scenario in self.scenarios:
            cells = [self._cell_text(r, scenario, True) for r in self.results]
            lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(
            f"{self._title()}. Bold: the fastest ORM. "
            + " ".join(f"`{s}`: {SCENARIO_HELP[s]}." for s in self.scenarios)
            + (f" {self._repeats_text()}" if self._repeats_text() else "")
        )
        return "\n".join(lines) + "\n"

    def _repeats_text(self) -> str:
        repeats = {s: n for s, n in (self.meta.get("repeats") or {}).items() if n > 1}
        if not repeats:
            return ""
        listed = ", ".join(f"{s} x{n}" for s, n in repeats.items())
        return (
            f"Short scenarios repeat their work within a run, the same number of times for "
            f"every ORM (so that a run is not decided by one hiccup of the machine): {listed}."
        )

    def _settings_lines(self) -> list[str]:
        if self.meta["backend"] == "sqlite":
            lines = [
                "Every ORM ran with the same PRAGMAs as the raw driver (journal_mode=WAL, "
                "synchronous=NORMAL, foreign_keys=ON, busy_timeout=5000), so the comparison is "
                "fair; read back from each ORM's own connection:"
            ]
        else:
            lines = ["Session settings read back from each ORM's own connection:"]
        width = max(len(r.name) for r in self.results)
        for r in self.results:
            settings = " ".join(f"{k}={v}" for k, v in r.settings.items()) or "-"
            lines.append(f"  {r.name.ljust(width)}  {settings}")
        return [*lines, ""]

    def _target_lines(self) -> list[str]:
        checks = self.targets()
        if not checks:
            return []
        lines = ["dorm against its targets:"]
        for c in checks:
            parts = [f"  {c['scenario'].ljust(16)} {c['ratio_to_raw']:.2f}{TIMES} raw"]
            if c["target_ratio"] is not None:
                verdict = "met" if c["ratio_met"] else "MISSED"
                parts.append(f"(target ≤ {c['target_ratio']}{TIMES}: {verdict})")
            if c["orms_compared"] > 1:
                verdict = "yes" if c["fastest_met"] else f"no, {c['fastest_orm']} is"
                parts.append(f"fastest of {c['orms_compared']} ORMs: {verdict}")
            lines.append(" ".join(parts))
        return [*lines, ""]

    def _note_lines(self) -> list[str]:
        lines = []
        for r in self.results:
            if r.status != "ok":
                lines.append(f"{r.name}: {r.status}")
            lines += [f"{r.name}: {n}" for n in r.notes]
            for scenario in self.scenarios:
                status = self.cell(r, scenario).status
                if status.startswith("error"):
                    lines.append(f"{r.name} {scenario}: {status}")
        lines += self.notes
        return lines

    def plot(self, path: str | os.PathLike[str]) -> str | None:
        """A grouped bar chart (log scale) to ``path``; the reason when it cannot."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return "matplotlib is not installed (pip install matplotlib)"
        series = [r for r in self.results if any(self.cell(r, s).ok for s in self.scenarios)]
        fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(self.scenarios) + 2), 5))
        width = 0.8 / max(len(series), 1)
        for i, r in enumerate(series):
            xs, ys = [], []
            for j, scenario in enumerate(self.scenarios):
                median = self.cell(r, scenario).median
                if median is not None:
                    xs.append(j + (i - (len(series) - 1) / 2) * width)
                    ys.append(median)
            ax.bar(xs, ys, width, label=r.label)
        ax.set_yscale("log")
        ax.set_xticks(range(len(self.scenarios)), self.scenarios)
        ax.set_ylabel("median µs per op (log scale; lower is better)")
        m = self.meta
        ax.set_title(
            f"dorm-bench — {m['backend']}, {'async' if m['async'] else 'sync'}, "
            f"N={m['ops']}, {m['runs']} runs"
        )
        ax.legend(fontsize="small")
        ax.grid(axis="y", which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _fmt(us: float | None) -> str:
    if us is None:
        return "-"
    if us >= 100:
        return f"{us:,.0f}"
    if us >= 10:
        return f"{us:.1f}"
    return f"{us:.2f}"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
    }
