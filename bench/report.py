"""Medians, ratios, verdicts; the table (markdown), the raw runs, a JSON copy and the chart."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from datafiles import GiB
from measure import Sample
from workloads import Check, Workload


@dataclass
class Stats:
    """The medians of one case over its successful runs."""

    label: str
    nbytes: int
    samples: list[Sample]
    wall: float | None = None
    cpu: float | None = None
    rss_mib: float | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, label: str, nbytes: int, samples: list[Sample]) -> Stats:
        good = [s for s in samples if s.ok]
        st = cls(label, nbytes, samples)
        if good:
            st.wall = statistics.median(s.wall for s in good)
            st.cpu = statistics.median(s.cpu for s in good)
            st.rss_mib = statistics.median(s.maxrss_kib for s in good) / 1024
            keys = sorted({k for s in good for k in s.extra})
            for k in keys:
                st.extra[k] = statistics.median(s.extra[k] for s in good if k in s.extra)
        return st

    @property
    def ok(self) -> int:
        return sum(s.ok for s in self.samples)

    @property
    def mbps(self) -> float | None:
        return self.nbytes / 1e6 / self.wall if self.wall else None

    @property
    def cpu_per_gib(self) -> float | None:
        if self.cpu is None or not self.nbytes:
            return None  # a run that is not about bytes (the TUI's terminal traffic)
        return self.cpu / (self.nbytes / GiB)

    @property
    def download_cpu_per_gib(self) -> float | None:
        """CPU from the first file to the whole download, per GiB: start-up excluded."""
        spent = self.extra.get("cpu_window")
        return None if spent is None or not self.nbytes else spent / (self.nbytes / GiB)

    def metric(self, name: str) -> float | None:
        return {
            "wall": self.wall,
            "cpu": self.cpu_per_gib,
            "dlcpu": self.download_cpu_per_gib,
            "rss": self.rss_mib,
            "term": self.extra.get("term_kbps"),
            "details": self.extra.get("details_kbps"),
            "mouse": self.extra.get("mouse_kbps"),
        }[name]


@dataclass
class Verdict:
    check: Check
    value: float | None

    @property
    def passed(self) -> bool | None:
        return None if self.value is None else self.value <= self.check.limit

    def text(self) -> str:
        if self.value is None:
            return "n/a"
        word = "PASS" if self.passed else "MISS"
        return f"{word} {self.check.metric} {self.value:.2f}{self.check.unit}"


@dataclass
class WorkloadResult:
    workload: Workload
    stats: dict[str, Stats]

    def verdicts(self) -> list[Verdict]:
        out = []
        for c in self.workload.checks:
            value = self.stats[c.subject].metric(c.metric)
            if value is not None and c.reference is not None:
                ref = self.stats[c.reference].metric(c.metric)
                value = value / ref if ref else None
            out.append(Verdict(c, value))
        return out


def _f(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or not b else f"{a / b:.2f}"


def _notes(st: Stats) -> str:
    parts: list[str] = []
    bad = [s for s in st.samples if not s.ok]
    if bad:
        parts.append(f"{len(bad)}/{len(st.samples)} failed: {bad[0].error}")
    if "refused" in st.extra:
        runs = [
            f"{s.extra['refused']:.0f}/{s.extra['requests']:.0f}" for s in st.samples if s.extra
        ]
        parts.append(f"503s/requests per run: {' '.join(runs)}")
    elif "conns" in st.extra:
        runs = [f"{s.extra['slow']:.0f}/{s.extra['conns']:.0f}" for s in st.samples if s.extra]
        parts.append(f"slow/all conns per run: {' '.join(runs)}")
    if "details_kbps" in st.extra:
        e = st.extra
        parts.append(
            f"to the terminal: queue {e['term_kbps']:.2f} KB/s, details {e['details_kbps']:.2f}"
            f" KB/s, paused {e['idle_kbps']:.2f} KB/s, paused with the mouse moving "
            f"{e['mouse_kbps']:.2f} KB/s"
        )
    elif "term_kbps" in st.extra:
        e = st.extra
        parts.append(
            f"term {e['term_kbps']:.1f} KB/s while downloading ({e['window_s']:.2f} s), "
            f"{e['term_bytes'] / 1000:.0f} KB in all; CPU {e['cpu_before']:.2f} s before the "
            f"download began, {e['cpu_window']:.2f} s during it"
        )
    elif "cpu_window" in st.extra:
        parts.append(f"CPU {st.extra['cpu_window']:.2f} s while downloading")
    for note in dict.fromkeys(n for s in st.samples for n in s.notes):
        parts.append(note)
    return "; ".join(parts)


HEADER = (
    "| workload | tool | ok | wall s | MB/s | CPU s/GiB | peak RSS MiB "
    "| rangetui / peer (wall · CPU · RSS) | target | verdict | notes |"
)


def table(results: Sequence[WorkloadResult]) -> str:
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for r in results:
        peers = {peer: subj for subj, peer in r.workload.pairs}
        verdicts = r.verdicts()
        for label, st in r.stats.items():
            ratio = ""
            if label in peers:
                s = r.stats[peers[label]]
                same_size = s.nbytes == st.nbytes  # else a wall ratio means nothing
                ratio = " · ".join(
                    _ratio(s.metric(m), st.metric(m)) if m != "wall" or same_size else "–"
                    for m in ("wall", "cpu", "rss")
                )
            mine = [v for v in verdicts if (v.check.reference or v.check.subject) == label]
            target = "; ".join(v.check.describe() for v in mine)
            verdict = "; ".join(v.text() for v in mine)
            cells = [
                r.workload.name,
                label,
                f"{st.ok}/{len(st.samples)}",
                _f(st.wall),
                _f(st.mbps, 0),
                _f(st.cpu_per_gib),
                _f(st.rss_mib, 1),
                ratio,
                target,
                verdict,
                _notes(st).replace("|", "/"),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def runs_table(results: Sequence[WorkloadResult]) -> str:
    lines = [
        "| workload | tool | run | wall s | user s | sys s | peak RSS MiB | ok | detail |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for label, st in r.stats.items():
            for i, s in enumerate(st.samples, 1):
                detail = s.error or ", ".join(f"{k}={v:.4g}" for k, v in sorted(s.extra.items()))
                lines.append(
                    f"| {r.workload.name} | {label} | {i} | {s.wall:.2f} | {s.user:.2f} "
                    f"| {s.sys:.2f} | {s.maxrss_kib / 1024:.1f} | {'yes' if s.ok else 'NO'} "
                    f"| {detail.replace('|', '/')} |"
                )
    return "\n".join(lines)


def misses(results: Sequence[WorkloadResult]) -> list[str]:
    out = []
    for r in results:
        for v in r.verdicts():
            if v.passed is False:
                c = v.check
                ref = f" of {c.reference}" if c.reference else ""
                out.append(
                    f"{r.workload.name}: {c.subject} {c.metric} {v.value:.2f}{c.unit}{ref}"
                    f" > {c.limit:g}{c.unit}"
                )
    return out


def to_json(results: Sequence[WorkloadResult], meta: dict[str, str]) -> str:
    workloads = [
        {
            "name": r.workload.name,
            "cases": {
                label: {
                    "nbytes": st.nbytes,
                    "wall": st.wall,
                    "mbps": st.mbps,
                    "cpu_s_per_gib": st.cpu_per_gib,
                    "rss_mib": st.rss_mib,
                    "extra": st.extra,
                    "runs": [asdict(s) for s in st.samples],
                }
                for label, st in r.stats.items()
            },
            "checks": [
                {**asdict(v.check), "value": v.value, "passed": v.passed} for v in r.verdicts()
            ],
        }
        for r in results
    ]
    return json.dumps({"meta": meta, "workloads": workloads}, indent=1)


@dataclass(frozen=True)
class CheckBar:
    """One target in the chart: its label, value / limit, and the text beside it."""

    label: str
    ratio: float
    passed: bool | None
    text: str

    @staticmethod
    def of(workload: str, check: Check, value: float, passed: bool | None) -> CheckBar:
        ref = f" / {check.reference}" if check.reference else ""
        return CheckBar(
            f"{workload}: {check.metric} {check.subject}{ref}",
            value / check.limit,
            passed,
            f" {value:.2f}{check.unit} (target ≤ {check.limit:g}{check.unit})",
        )


def chart(results: Sequence[WorkloadResult], path: Path, title: str) -> str:
    """Two panels: MB/s of every row, and each target as value / limit. '' or why not."""
    rows = [
        (f"{r.workload.name}: {lab}", st.mbps or 0.0)
        for r in results
        for lab, st in r.stats.items()
    ]
    checks = [
        CheckBar.of(r.workload.name, v.check, v.value, v.passed)
        for r in results
        for v in r.verdicts()
        if v.value is not None
    ]
    return draw_chart(rows, checks, path, title)


def chart_from_json(results_json: Path, path: Path) -> str:
    """The chart of a run already written (``latest.json``), without running it again.
    '' or why not, in one line."""
    try:
        data = json.loads(results_json.read_text(encoding="utf-8"))
        meta = data["meta"]
        rows = [
            (f"{w['name']}: {label}", case["mbps"] or 0.0)
            for w in data["workloads"]
            for label, case in w["cases"].items()
        ]
        checks = [
            CheckBar.of(
                w["name"],
                Check(c["subject"], c["metric"], c["limit"], c["reference"]),
                c["value"],
                c["passed"],
            )
            for w in data["workloads"]
            for c in w["checks"]
            if c["value"] is not None
        ]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"cannot read {results_json} as a run's results: {type(e).__name__}: {e}"
    title = f"rangetui bench, {meta['date']}, {meta['nproc']} CPUs"
    return draw_chart(rows, checks, path, title)


def draw_chart(
    rows: Sequence[tuple[str, float]], checks: Sequence[CheckBar], path: Path, title: str
) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib)"
    height = 1.5 + 0.28 * (len(rows) + len(checks))
    fig, (ax1, ax2) = plt.subplots(
        2,
        1,
        figsize=(10, height),
        gridspec_kw={"height_ratios": [len(rows) or 1, len(checks) or 1]},
    )
    ax1.barh([n for n, _ in rows][::-1], [x for _, x in rows][::-1], color="#4c78a8")
    ax1.set_xlabel("MB/s (median wall time; 1 MB = 10^6 bytes)")
    ax1.set_title(title, fontsize=10)
    for i, (_, x) in enumerate(rows[::-1]):
        ax1.text(x, i, f" {x:.0f}", va="center", fontsize=7)
    bars = list(checks)[::-1]
    colours = ["#54a24b" if b.passed else "#e45756" for b in bars]
    ax2.barh([b.label for b in bars], [b.ratio for b in bars], color=colours)
    ax2.axvline(1.0, color="black", linestyle="--", linewidth=1)
    ax2.set_xlabel("value / target (≤ 1 meets the target; green pass, red miss)")
    for i, b in enumerate(bars):
        ax2.text(b.ratio, i, b.text, va="center", fontsize=7)
    for ax in (ax1, ax2):
        ax.tick_params(axis="y", labelsize=7)
        ax.margins(x=0.35)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return ""
