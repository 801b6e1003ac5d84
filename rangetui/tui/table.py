"""The queue: one row per job, a header, a cursor; filtered and sorted for the eye only.

Drawn line by line and compared cell by cell with what is on screen, so that a tick
which changes one speed sends the terminal that speed and nothing else: not the
row, not the header. There is no hover effect, so moving the mouse over it sends
nothing either. The engine's order is the queue's; sorting and filtering change only
what this table shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from rangetui.core.snapshots import JobSnapshot
from rangetui.core.types import ACTIVE, Phase
from rangetui.tui.columns import Col, cell_values, fit, header, layout
from rangetui.tui.smoothing import Smoother
from rangetui.tui.spans import changed_regions, text_strip

STATUS_STYLE = {
    Phase.QUEUED: "",
    Phase.PROBING: "cyan",
    Phase.DOWNLOADING: "bold cyan",
    Phase.PAUSED: "yellow",
    Phase.VERIFYING: "cyan",
    Phase.DONE: "green",
    Phase.FAILED: "bold red",
}
PLAIN_STATUS_STYLE = {Phase.DOWNLOADING: "bold", Phase.FAILED: "bold reverse"}
"""Without colour (NO_COLOR): only what must stand out does."""
SORTS: dict[str, Callable[[JobSnapshot], Any]] = {
    "queue": lambda j: 0,
    "name": lambda j: j.name.casefold(),
    "size": lambda j: -(j.size or 0),
    "progress": lambda j: -(j.fraction or 0.0),
    "speed": lambda j: -j.speed,
    "status": lambda j: list(Phase).index(j.status),
}
"""Sort keys in the order ``s`` cycles through them (biggest, fastest, furthest first)."""


class QueueTable(Widget, can_focus=True):
    """The job list. Tell it the jobs with :meth:`show_jobs`; it says which is selected."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"queuetable--header", "queuetable--cursor"}
    DEFAULT_CSS = """
    QueueTable { height: auto; }
    QueueTable > .queuetable--header { text-style: bold; }
    QueueTable > .queuetable--cursor { background: $primary 40%; text-style: bold; }
    QueueTable:blur > .queuetable--cursor { background: $primary 20%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "move(-1000000)", "Top", show=False),
        Binding("end,G", "move(1000000)", "Bottom", show=False),
    ]

    class Highlighted(Message):
        """The cursor is on another job (or on none)."""

        def __init__(self, job_id: str | None) -> None:
            super().__init__()
            self.job_id = job_id

    class Chosen(Message):
        """The highlighted row was clicked: the mouse way to open its details."""

        def __init__(self, job_id: str) -> None:
            super().__init__()
            self.job_id = job_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.smoother = Smoother()
        self._jobs: tuple[JobSnapshot, ...] = ()
        self.rows: list[JobSnapshot] = []
        """The jobs shown, filtered and sorted, top to bottom."""
        self.sort_key = "queue"
        self.filter = ""
        self._cursor = 0
        self._top = 0
        self._selected: str | None = None
        self._lines: list[Strip] = []
        self._cols, self._bar = layout(80)

    # -- what the app reads and calls ------------------------------------------------

    @property
    def selected_id(self) -> str | None:
        return self.rows[self._cursor].id if self.rows else None

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def columns(self) -> tuple[Col, ...]:
        return self._cols

    def row_text(self, job_id: str) -> str:
        """A row as shown (tests, and what a screen reader would get)."""
        index = next(i for i, j in enumerate(self.rows) if j.id == job_id)
        return self._row_text(self.rows[index], False).plain

    def show_jobs(self, jobs: tuple[JobSnapshot, ...]) -> None:
        first_look = not self._jobs
        self._jobs = jobs
        self.smoother.keep_only({j.id for j in jobs})
        self._arrange()
        if first_look:
            self._start_where_things_happen()

    def _start_where_things_happen(self) -> None:
        """The first look goes to the first job downloading (else waiting), not to the
        finished ones that head a long-lived queue."""
        for wanted in (ACTIVE, (Phase.QUEUED,)):
            index = next((i for i, j in enumerate(self.rows) if j.status in wanted), None)
            if index is not None:
                self._move_to(index)
                return

    def set_view(self, *, sort_key: str | None = None, filter: str | None = None) -> None:
        if sort_key is not None:
            self.sort_key = sort_key
        if filter is not None:
            self.filter = filter
        self._arrange()

    def select(self, job_id: str) -> None:
        for index, job in enumerate(self.rows):
            if job.id == job_id:
                self._move_to(index)

    # -- keeping the view current ----------------------------------------------------

    def _arrange(self) -> None:
        """Filter, sort, keep the cursor on its job, and repaint what changed."""
        needle = self.filter.casefold()
        rows = [j for j in self._jobs if needle in j.name.casefold()]
        rows.sort(key=SORTS[self.sort_key])
        count_changed = len(rows) != len(self.rows)
        self.rows = rows
        ids = [j.id for j in rows]
        if self._selected in ids:
            self._cursor = ids.index(self._selected)
        self._cursor = max(0, min(self._cursor, len(rows) - 1))
        if count_changed:
            self.refresh(layout=True)
        self._scroll_to_cursor()
        self._repaint()
        self._announce()

    def _announce(self) -> None:
        if self.selected_id != self._selected:
            self._selected = self.selected_id
            self.post_message(self.Highlighted(self._selected))

    def _visible_rows(self) -> int:
        return max(1, self.size.height - 1)

    def _scroll_to_cursor(self) -> None:
        visible = self._visible_rows()
        self._top = max(0, min(self._top, max(0, len(self.rows) - visible)))
        if self._cursor < self._top:
            self._top = self._cursor
        elif self._cursor >= self._top + visible:
            self._top = self._cursor - visible + 1

    def _repaint(self) -> None:
        if not self.is_mounted:
            return
        lines = self._render_lines()
        regions = changed_regions(self._lines, lines)
        self._lines = lines
        if regions is None:
            self.refresh()
        elif regions:
            self.refresh(*regions)

    def on_resize(self, event: events.Resize) -> None:
        self._cols, self._bar = layout(event.size.width)
        self._lines = []
        self._scroll_to_cursor()
        self._repaint()
        self.refresh()

    def notify_style_update(self) -> None:
        """A theme or focus change restyles every line."""
        super().notify_style_update()
        self._lines = []
        if self.is_mounted:
            self._repaint()
            self.refresh()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return 1 + max(1, len(self.rows))

    # -- drawing ---------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        if y < len(self._lines):
            return self._lines[y]
        return Strip.blank(self.size.width, self.rich_style)

    def _render_lines(self) -> list[Strip]:
        width, base, console = self.size.width, self.rich_style, self.app.console
        head = Text("".join(header(self._cols, self.sort_key)))
        head.stylize(self.get_component_rich_style("queuetable--header"))
        lines = [text_strip(head, width, base, console)]
        shown = self.rows[self._top : self._top + self._visible_rows()]
        for index, job in enumerate(shown, self._top):
            text = self._row_text(job, index == self._cursor)
            lines.append(text_strip(text, width, base, console))
        blank = Strip.blank(width, base)
        lines += [blank] * (self.size.height - len(lines))
        return lines

    def _row_text(self, job: JobSnapshot, cursor: bool) -> Text:
        values = cell_values(job, self.smoother, self._bar)
        text = Text()
        for col in self._cols:
            cell = fit(values[col.key], col.width, col.right)
            style = self._cell_style(col, job)
            text.append(cell, style)
        if cursor:  # without colour, a background would vanish: reverse video instead
            plain = self.app.no_color
            text.stylize(
                "reverse" if plain else self.get_component_rich_style("queuetable--cursor")
            )
        return text

    def _cell_style(self, col: Col, job: JobSnapshot) -> Style | str:
        plain = self.app.no_color
        if col.key == "status":
            return (PLAIN_STATUS_STYLE if plain else STATUS_STYLE).get(job.status, "")
        if col.key == "progress" and not plain:
            return "green" if job.status is Phase.DONE else "cyan"
        return ""

    # -- keys and mouse --------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        self._move_to(self._cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self._cursor + direction * self._visible_rows())

    def _move_to(self, index: int) -> None:
        if not self.rows:
            return
        self._cursor = max(0, min(index, len(self.rows) - 1))
        self._scroll_to_cursor()
        self._repaint()
        self._announce()

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            self._sort_by_column(event.x)
            return
        index = self._top + event.y - 1
        if index >= len(self.rows):
            return
        if index == self._cursor:
            self.post_message(self.Chosen(self.rows[index].id))
        self._move_to(index)

    def _sort_by_column(self, x: int) -> None:
        """A click on a label sorts by it; a second click goes back to queue order."""
        for col in self._cols:
            if x < col.width:
                key = col.key if col.key in SORTS else "queue"
                self.set_view(sort_key="queue" if key == self.sort_key else key)
                return
            x -= col.width

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self.action_move(1)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.action_move(-1)
