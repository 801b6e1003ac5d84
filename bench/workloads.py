"""The workloads of issue 4, and `capped` for the adaptive connection count: their
cases, their data files and their targets."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from cases import (
    Case,
    CommandCase,
    aria2c,
    aria2c_list,
    curl,
    floor_http,
    rangetui_get,
    rangetui_list,
    rangetui_mirrored,
)
from datafiles import DataFile, GiB, MiB, small_files
from tuirun import TuiCase
from tuitraffic import TuiTraffic

FILE_1G = DataFile("file-1g.bin", GiB)
FILE_100M = DataFile("file-100m.bin", 100 * MiB)
FILE_200M = DataFile("file-200m.bin", 200 * MiB)
FILE_4G = DataFile("file-4g.bin", 4 * GiB)
SMALL = small_files()
SMALL_LIST = "many-small.list"
ARIA2_SPLIT = ("-k1M",)  # aria2c's default 20M min split would cap -s8 at 5 pieces of 100 MiB


@dataclass(frozen=True)
class Check:
    """``subject``'s metric (over ``reference``'s, when given) must be at most ``limit``."""

    subject: str
    metric: str  # "wall", "cpu", "dlcpu" (CPU while downloading), "rss", "term" (median
    # KB/s to the terminal), "details", "mouse"
    limit: float
    reference: str | None = None

    @property
    def unit(self) -> str:
        if self.reference is not None:
            return "×"
        units = {"wall": " s", "cpu": " s/GiB", "dlcpu": " s/GiB", "rss": " MiB"}
        return units.get(self.metric, " KB/s")

    def describe(self) -> str:
        names = {"wall": "wall", "cpu": "CPU", "rss": "RSS", "term": "term"}
        names.update(dlcpu="CPU while downloading")
        names.update(details="details", mouse="mouse")
        return f"{names[self.metric]} ≤ {self.limit:g}{self.unit}"


@dataclass
class Workload:
    name: str
    summary: str
    cases: list[Case]
    files: list[DataFile]
    pairs: list[tuple[str, str]]  # (subject, peer): ratio subject / peer on the peer's row
    checks: list[Check] = field(default_factory=list)
    setup_lists: dict[str, list[str]] = field(default_factory=dict)  # list file -> data names


def _get(label: str, slug: str, f: DataFile, location: str, *flags: str) -> CommandCase:
    argv = rangetui_get(location, f.name, *flags)
    return CommandCase(label, slug, f.size, argv, [(f.name, f.name)])


def _aria(label: str, slug: str, f: DataFile, location: str, *flags: str) -> CommandCase:
    return CommandCase(label, slug, f.size, aria2c(location, f.name, *flags), [(f.name, f.name)])


FIXED_LABEL = "rangetui -t{n} --fixed"


def _fixed_case(slug: str, f: DataFile, location: str, n: int) -> CommandCase:
    """Today's count against the count as it was: exactly -t, from the first request."""
    return _get(FIXED_LABEL.format(n=n), slug, f, location, "-t", str(n), "--fixed")


def unthrottled(fixed: bool = False) -> Workload:
    """With ``fixed`` (a rangetui that has --fixed), also the adaptive count against it."""
    rt, ar, cu = "rangetui -t8", "aria2c -x8 -s8 -k1M", "curl"
    cases: list[Case] = [
        _get(rt, "u-rangetui", FILE_1G, "data", "-t", "8"),
        _aria(ar, "u-aria2c", FILE_1G, "data", "-x8", "-s8", *ARIA2_SPLIT),
        CommandCase(cu, "u-curl", GiB, curl("data", FILE_1G.name), [(FILE_1G.name, FILE_1G.name)]),
    ]
    pairs = [(rt, ar), (rt, cu)]
    checks = [Check(rt, "wall", 0.5, ar), Check(rt, "cpu", 1.0, ar), Check(rt, "wall", 1.0, cu)]
    if fixed:
        cases.append(_fixed_case("u-fixed", FILE_1G, "data", 8))
        pairs.append((rt, FIXED_LABEL.format(n=8)))
        checks.append(Check(rt, "wall", 1.05, FIXED_LABEL.format(n=8)))
    return Workload(
        "unthrottled-1g", "1 GiB over loopback with no rate limit.", cases, [FILE_1G], pairs, checks
    )


def throttled(fixed: bool = False) -> Workload:
    cases: list[Case] = []
    pairs: list[tuple[str, str]] = []
    checks: list[Check] = []
    for n in (8, 16):
        rt, ar = f"rangetui -t{n}", f"aria2c -x{n} -s{n} -k1M"
        cases.append(_get(rt, f"t{n}-rangetui", FILE_100M, "throttled", "-t", str(n)))
        cases.append(
            _aria(ar, f"t{n}-aria2c", FILE_100M, "throttled", f"-x{n}", f"-s{n}", *ARIA2_SPLIT)
        )
        pairs.append((rt, ar))
        checks.append(Check(rt, "wall", 1.02, ar))
        if fixed:
            cases.append(_fixed_case(f"t{n}-fixed", FILE_100M, "throttled", n))
            pairs.append((rt, FIXED_LABEL.format(n=n)))
            checks.append(Check(rt, "wall", 1.05, FIXED_LABEL.format(n=n)))
    return Workload(
        "throttled-100m",
        "100 MiB, nginx limit_rate 4m per connection, at 8 and at 16 connections.",
        cases,
        [FILE_100M],
        pairs,
        checks,
    )


def capped(fixed: bool) -> Workload:
    """nginx refuses a client's 4th request at once (limit_conn 3, 503) and throttles each:
    the adaptive count must find 3 with few refusals and lose little against -t3."""
    rt, ref = "rangetui -t8", FIXED_LABEL.format(n=3) if fixed else "rangetui -t3"
    adaptive = _get(rt, "c-rangetui", FILE_100M, "capped", "-t", "8")
    three = _get(ref, "c-fixed3", FILE_100M, "capped", "-t", "3", *(("--fixed",) if fixed else ()))
    adaptive.capped = three.capped = True
    return Workload(
        "capped",
        "100 MiB, at most 3 requests at once per client (nginx limit_conn, 503 beyond), 4m each.",
        [adaptive, three],
        [FILE_100M],
        [(rt, ref)],
        [Check(rt, "wall", 1.1, ref)],
    )


def straggler() -> Workload:
    rt, ar = "rangetui -t8", "aria2c -x8 -s8 -k1M"
    rt_case = _get(rt, "s-rangetui", FILE_200M, "straggler", "-t", "8")
    ar_case = _aria(ar, "s-aria2c", FILE_200M, "straggler", "-x8", "-s8", *ARIA2_SPLIT)
    rt_case.straggler = ar_case.straggler = True
    return Workload(
        "straggler",
        "200 MiB at 4m per connection, but about one connection in eight gets 400k.",
        [rt_case, ar_case],
        [FILE_200M],
        [(rt, ar)],
        [Check(rt, "wall", 0.7, ar)],
    )


def many_small(get_jobs: bool) -> Workload:
    """With `get -j` (when this rangetui has it) both tools fetch 8 files at once. The
    floor is rangetui's HTTP layer alone (floor_http.py): what requests and our body
    reads cost, without anything else a download does."""
    jobs = ("-j", "8") if get_jobs else ()
    rt, ar = f"rangetui -i LIST -t8{' -j8' if get_jobs else ''}", "aria2c -i LIST -j8"
    floor = "floor: rangetui's HTTP layer alone, 8 threads"
    expected = [(f.name.rsplit("/", 1)[-1], f.name) for f in SMALL]
    nbytes = sum(f.size for f in SMALL)
    return Workload(
        "many-small",
        f"{len(SMALL)} files of 1 MiB from a URL list.",
        [
            CommandCase(
                rt, "m-rangetui", nbytes, rangetui_list(SMALL_LIST, "-t", "8", *jobs), expected
            ),
            CommandCase(ar, "m-aria2c", nbytes, aria2c_list(SMALL_LIST, "-j8"), expected),
            CommandCase(floor, "m-floor", nbytes, floor_http(SMALL_LIST, 8), expected),
        ],
        SMALL,
        [(rt, ar), (rt, floor)],
        [Check(rt, "wall", 1.0, ar)],
        {SMALL_LIST: [f.name for f in SMALL]},
    )


def mirrors() -> Workload:
    """A fast server (/throttled/, 4m per connection) with a slow mirror (/slowmirror/,
    128k) against the fast one alone, and the other way round (the slow one as the URL)."""
    fast_slow, alone = "rangetui fast + slow mirror", "rangetui fast alone"
    slow_fast = "rangetui slow + fast mirror"
    f = FILE_100M
    expected = [(f.name, f.name)]

    def mirrored(label: str, slug: str, url: str, mirror: str) -> CommandCase:
        argv = rangetui_mirrored(url, mirror, f.name, "-t", "8")
        return CommandCase(label, slug, f.size, argv, expected)

    return Workload(
        "mirrors",
        "100 MiB from /throttled/ (4m per connection) with a mirror at 128k, against alone.",
        [
            mirrored(fast_slow, "mi-fast-slow", "throttled", "slowmirror"),
            _get(alone, "mi-alone", f, "throttled", "-t", "8"),
            mirrored(slow_fast, "mi-slow-fast", "slowmirror", "throttled"),
        ],
        [f],
        [(fast_slow, alone)],
        [Check(fast_slow, "wall", 1.1, alone)],
    )


def big() -> Workload:
    big_, ref = "rangetui 4 GiB", "rangetui 100 MiB"
    return Workload(
        "big-4g",
        "4 GiB: peak RSS must not grow with the file (against the same command on 100 MiB).",
        [
            _get(big_, "b-4g", FILE_4G, "data", "-t", "8"),
            _get(ref, "b-100m", FILE_100M, "data", "-t", "8"),
        ],
        [FILE_4G, FILE_100M],
        [(big_, ref)],
        [Check(big_, "rss", 60), Check(big_, "rss", 1.10, ref)],
    )


def fine_blocks() -> Workload:
    fine, coarse = "rangetui -s 64K", "rangetui -s 1M"
    return Workload(
        "fine-blocks",
        "The 1 GiB file with 64 KiB blocks against 1 MiB blocks (both -t8).",
        [
            _get(fine, "f-64k", FILE_1G, "data", "-t", "8", "-s", "64K"),
            _get(coarse, "f-1m", FILE_1G, "data", "-t", "8", "-s", "1M"),
        ],
        [FILE_1G],
        [(fine, coarse)],
        [Check(fine, "wall", 1.1, coarse)],
    )


def tui(exit_flag: bool) -> Workload:
    """CPU against `get` on the 1 GiB file; then terminal bytes in steady state with three
    slow downloads, at 80x24 and 200x50 (queue, details, paused with the mouse moving).

    The CPU target is checked twice: on the whole processes (the TUI and its engine
    against `get`), and on what the download itself costs, measured the same way for
    both from the first file to the whole one. The second leaves out start-up (the
    TUI's Textual, about 0.2 s of CPU, is paid once per start, not per GiB)."""
    tu, ge = "rangetui TUI (pty 80x24)", "rangetui get"
    tui_case = TuiCase(tu, "tui", GiB, "data", FILE_1G.name, ("-t", "8"), exit_flag)
    three = (FILE_1G.name, FILE_100M.name, FILE_200M.name)
    small, large = "TUI traffic 80x24, 3 downloads", "TUI traffic 200x50, 3 downloads"
    return Workload(
        "tui",
        "The 1 GiB file through the TUI in an 80x24 pty against `rangetui get`; "
        "bytes to the terminal with three slow downloads at 80x24 and 200x50.",
        [
            tui_case,
            replace(_get(ge, "tui-get", FILE_1G, "data", "-t", "8"), window=True),
            TuiTraffic(small, "tui-80x24", three, (80, 24)),
            TuiTraffic(large, "tui-200x50", three, (200, 50)),
        ],
        [FILE_1G, FILE_100M, FILE_200M],
        [(tu, ge)],
        [
            Check(tu, "cpu", 1.15, ge),
            Check(tu, "dlcpu", 1.15, ge),
            Check(small, "term", 2),
            Check(small, "details", 3),
            Check(small, "mouse", 0.05),
            Check(large, "term", 4),
            Check(large, "details", 3),
        ],
    )


NAMES = (
    "unthrottled-1g",
    "throttled-100m",
    "straggler",
    "many-small",
    "big-4g",
    "fine-blocks",
    "tui",
    "capped",
    "mirrors",
)


@dataclass(frozen=True)
class Features:
    """Flags of the rangetui under test that change how a workload runs it."""

    tui_exit_when_done: bool = False  # `rangetui URL --exit-when-done`
    get_jobs: bool = False  # `rangetui get -j N`
    fixed: bool = False  # `rangetui get --fixed`: the count is adaptive without it


def build(name: str, features: Features) -> Workload:
    if name == "capped":
        return capped(features.fixed)
    if name == "unthrottled-1g":
        return unthrottled(features.fixed)
    if name == "throttled-100m":
        return throttled(features.fixed)
    table = {
        "straggler": straggler,
        "big-4g": big,
        "fine-blocks": fine_blocks,
        "mirrors": mirrors,
    }
    if name == "tui":
        return tui(features.tui_exit_when_done)
    if name == "many-small":
        return many_small(features.get_jobs)
    return table[name]()
