"""The one-line header: task counts, the runs root, how changes are seen, the filter."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import var
from textual.widgets import Static

from ...store.usage import Usage, format_cost, format_tokens
from ..status import look
from ..text import neutralise

# How a state reads in the header: the store's word, spaced where it is two words.
LABELS = {"needs-you": "needs you", "loop-dead": "loop dead"}


class StatusHeader(Static):
    """``conductor  ● 2 running  ? 1 needs you  ✘ 1 failed  ✔ 5 completed   watch: inotify  <root>``

    Every state of the store's vocabulary that some task is in, in its order; none when there
    are no tasks (``no tasks``).

    What it shows is state (``var`` reactives): setting one redraws the line. ``reading`` is
    true until the first counts arrive (not Textual's ``loading``, which would hide the header
    behind a spinner)."""

    counts: var[dict[str, int]] = var(dict)
    spend: var[Usage] = var(Usage)
    mode: var[str] = var("starting")
    filter_text: var[str] = var("")
    read_only: var[bool] = var(False)
    reading: var[bool] = var(True)

    def __init__(self, root: str, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.root = root
        self._drawn: tuple | None = None

    def on_mount(self) -> None:
        self._draw()

    def _redraw(self) -> None:
        if self.is_mounted:
            self._draw()

    watch_counts = watch_spend = watch_mode = watch_filter_text = watch_read_only = \
        watch_reading = _redraw

    def set_counts(self, counts: dict[str, int], spend: Usage | None = None) -> None:
        self.counts = counts
        if spend is not None:
            self.spend = spend
        self.reading = False

    @property
    def spend_text(self) -> str:
        """``spent $1.23`` when any run reported a cost, else ``used 18.5k tok``, or ""."""
        spend = self.spend
        if spend.cost_usd is not None:
            return f"spent {format_cost(spend.cost_usd)}"
        if spend.tokens:
            return f"used {format_tokens(spend.tokens)} tok"
        return ""

    def set_mode(self, mode: str) -> None:
        self.mode = mode

    def set_filter(self, text: str) -> None:
        self.filter_text = text

    def on_resize(self) -> None:
        self._draw()  # the counts' long or short form depends on the width

    def _draw(self) -> None:
        line = self._line(short=False)
        width = self.size.width if self.is_mounted else 0
        # the root may be cut at the right edge; the counts and the watch mode should show
        root_cells = Text(f"   {neutralise(self.root)}").cell_len
        if width and line.cell_len - root_cells > width and not self.reading and self.counts:
            line = self._line(short=True)  # `●2 ?1 ✔5`: the tree's project-row form
        drawn = (line.plain, tuple(line.spans))
        if drawn == self._drawn:
            return  # counts are re-sent after every task re-read; most change nothing
        self._drawn = drawn
        # One fixed-height row (#header): new text never changes its size, so no layout.
        self.update(line, layout=False)

    def _line(self, *, short: bool) -> Text:
        text = Text("conductor", style="bold")
        if self.read_only:
            text.append(" [read-only]", style="yellow")
        if self.reading:
            text.append("  reading the runs root…", style="italic")
        else:
            if not any(self.counts.values()):
                text.append("  no tasks", style="bright_black")
            if short and self.counts:
                text.append(" ")
            for state, n in self.counts.items():
                if n:
                    st = look(state)
                    if short:
                        text.append(f" {st.glyph}{n}", style=st.style)
                    else:
                        text.append(f"  {st.glyph} {n} {LABELS.get(state, state)}",
                                    style=st.style)
            if self.spend_text:
                text.append(f"   {self.spend_text}", style="bold magenta")
        if self.filter_text:
            text.append(f"   filter: {neutralise(self.filter_text)}", style="bold yellow")
        text.append(f"   watch: {self.mode}", style="bright_black")
        text.append(f"   {neutralise(self.root)}", style="bright_black")
        return text
