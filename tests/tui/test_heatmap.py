"""The block heatmap: glyphs per state, fitting any size, and no repaint without change."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.app import App, ComposeResult

from rangetui.core.intervals import MapSnapshot
from rangetui.core.snapshots import JobSnapshot
from rangetui.core.types import Phase
from rangetui.tui.app import heatmap_title
from rangetui.tui.heatmap import (
    ACTIVE,
    DONE,
    EMPTY_MESSAGE,
    MOST,
    NONE,
    SOME,
    BlockHeatmap,
    cell_glyph,
)

SIZE = 1 << 20
EMPTY = MapSnapshot(SIZE, (), (), 0)
COMPLETE = MapSnapshot(SIZE, ((0, SIZE),), (), SIZE)
HALF = MapSnapshot(SIZE, ((0, SIZE // 2),), (), SIZE // 2)
HALF_ACTIVE = MapSnapshot(
    SIZE,
    ((0, SIZE // 2), (SIZE * 3 // 4, SIZE * 13 // 16)),
    ((SIZE // 2, SIZE * 3 // 4), (SIZE * 13 // 16, SIZE)),
    SIZE // 2 + SIZE // 16,
)


class CountingHeatmap(BlockHeatmap):
    """Counts repaint requests, so a test can tell that an unchanged snapshot cost nothing."""

    refreshes = 0
    update_seconds = 0.0

    def refresh(self, *args: Any, **kwargs: Any) -> Any:
        self.refreshes += 1
        return super().refresh(*args, **kwargs)


class HeatmapApp(App[None]):
    CSS = "#map.boxed { border: round $accent; }"

    def __init__(self, blocks: MapSnapshot | None = None, *, boxed: bool = False) -> None:
        super().__init__()
        self.blocks, self.boxed = blocks, boxed

    def compose(self) -> ComposeResult:
        yield CountingHeatmap(id="map", classes="boxed" if self.boxed else None)

    def on_mount(self) -> None:
        self.heatmap.show(self.blocks, title="file.iso · 1 MiB" if self.boxed else "")

    @property
    def heatmap(self) -> CountingHeatmap:
        return self.query_one(CountingHeatmap)


def sync(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test body: no async pytest plugin is installed, and none is needed."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))  # type: ignore[arg-type]

    return run


def lines(widget: BlockHeatmap) -> list[str]:
    return [widget.render_line(y).text for y in range(widget.size.height)]


def cells(widget: BlockHeatmap) -> str:
    """All cell glyphs in reading order (the legend row, when present, is the last line)."""
    rows = lines(widget)
    return "".join(rows[:-1] if "done" in rows[-1] else rows)


async def shown(blocks: MapSnapshot | None, size: tuple[int, int] = (40, 10)) -> list[str]:
    app = HeatmapApp(blocks)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        return lines(app.heatmap)


@sync
async def test_empty_map_is_all_none() -> None:
    rows = await shown(EMPTY)
    assert set("".join(rows[:-1])) == {NONE}
    assert len("".join(rows[:-1])) == 40 * 9


@sync
async def test_complete_map_is_all_done() -> None:
    rows = await shown(COMPLETE)
    assert set("".join(rows[:-1])) == {DONE}


@sync
async def test_half_done_map_is_done_then_none() -> None:
    grid = "".join((await shown(HALF))[:-1])
    half = len(grid) // 2
    assert grid == DONE * half + NONE * half


@sync
async def test_active_ranges_mark_the_cell_being_written() -> None:
    grid = "".join((await shown(HALF_ACTIVE))[:-1])
    quarter = len(grid) // 4
    assert grid.count(ACTIVE) == 2
    assert grid[2 * quarter] == ACTIVE
    assert grid[2 * quarter + 1] == NONE  # the rest of a connection's range is still pending
    assert grid[len(grid) * 13 // 16] == ACTIVE
    assert grid[len(grid) * 13 // 16 - 1] == DONE


@sync
async def test_resizing_changes_the_number_of_cells() -> None:
    app = HeatmapApp(HALF)
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        assert app.heatmap.cell_count == 40 * 9
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        assert app.heatmap.cell_count == 200 * 49
        assert len(cells(app.heatmap)) == 200 * 49
        assert cells(app.heatmap) == DONE * (100 * 49) + NONE * (100 * 49)


@sync
async def test_no_map_yet() -> None:
    rows = await shown(None)
    assert rows[0].strip() == EMPTY_MESSAGE
    assert all(not row.strip() for row in rows[1:])


def writing(head: int) -> MapSnapshot:
    return MapSnapshot(SIZE, ((0, head),), ((head, SIZE),), head)


@sync
async def test_identical_snapshot_does_not_repaint() -> None:
    app = HeatmapApp(HALF)
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        heatmap = app.heatmap
        heatmap.show(writing(SIZE // 2))
        await pilot.pause()
        before = heatmap.refreshes
        heatmap.show(writing(SIZE // 2))  # equal, not the same object
        heatmap.show(writing(SIZE // 2 + 100))  # the head moved within its cell
        assert heatmap.refreshes == before
        heatmap.show(HALF_ACTIVE)
        assert heatmap.refreshes > before
        await pilot.pause()
        assert cells(heatmap).count(ACTIVE) == 2


@sync
async def test_legend_when_tall_enough() -> None:
    rows = await shown(HALF, size=(60, 4))
    assert rows[-1].rstrip() == "█ done  ▓ most  ▒ some  ░ none  ▌ fetching"


@sync
async def test_legend_keeps_only_whole_entries_when_narrow() -> None:
    rows = await shown(HALF, size=(40, 4))
    assert rows[-1].rstrip() == "█ done  ▓ most  ▒ some  ░ none"


@pytest.mark.parametrize("height", [1, 2])
@sync
async def test_no_legend_when_tiny(height: int) -> None:
    rows = await shown(HALF, size=(60, height))
    assert len(rows) == height
    assert all(set(row) == {DONE} for row in rows[: height // 2])
    assert "done" not in "".join(rows)


@sync
async def test_border_title_shows_the_title() -> None:
    app = HeatmapApp(HALF, boxed=True)
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        assert str(app.heatmap.border_title) == "file.iso · 1 MiB"
        assert app.heatmap.cell_count == 38 * 7


def test_each_state_has_its_own_glyph() -> None:
    glyphs = [cell_glyph(f, False) for f in (1.0, 0.8, 0.4, 0.01, 0.0)] + [cell_glyph(0.5, True)]
    assert glyphs == [DONE, MOST, SOME, SOME, NONE, ACTIVE]
    assert len({DONE, MOST, SOME, NONE, ACTIVE}) == 5


@sync
async def test_states_stay_distinct_without_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    cell = SIZE // 16
    done = ((0, 8 * cell + cell * 2 // 5), (9 * cell, 9 * cell + cell * 4 // 5))
    partial = MapSnapshot(SIZE, done, (), 0)
    app = HeatmapApp(partial)
    async with app.run_test(size=(8, 3)) as pilot:
        await pilot.pause()
        assert app.no_color
        assert app.heatmap.render_line(0).text == DONE * 8
        assert app.heatmap.render_line(1).text[:3] == SOME + MOST + NONE


def test_snapshot_half_done_with_two_connections(snap_compare: Any) -> None:
    assert snap_compare(HeatmapApp(HALF_ACTIVE, boxed=True), terminal_size=(60, 12))


@sync
async def test_theme_change_recolours_the_cells() -> None:
    app = HeatmapApp(COMPLETE)
    async with app.run_test(size=(20, 4)) as pilot:
        await pilot.pause()
        before = next(iter(app.heatmap.render_line(0))).style
        app.theme = "nord" if app.theme != "nord" else "gruvbox"
        await pilot.pause()
        assert next(iter(app.heatmap.render_line(0))).style != before


@pytest.mark.parametrize(
    ("size", "title"),
    [
        (SIZE, "f.bin · 1.0 MiB · 1 block"),
        (SIZE + 1, "f.bin · 1.0 MiB · 2 blocks of 1.0 MiB"),
        (3 * SIZE, "f.bin · 3.0 MiB · 3 blocks of 1.0 MiB"),
    ],
)
def test_the_heatmap_title_counts_blocks_in_words(size: int, title: str) -> None:
    job = JobSnapshot(
        "j", "f.bin", "http://x/f.bin", Phase.DONE, "/tmp", size=size, block_size=SIZE
    )
    assert heatmap_title(job) == title
