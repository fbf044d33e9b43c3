"""The state both stdout renderers share: following, new lines, wrap, search, status row.

:class:`~.log_view.LogView` (raw) and :class:`~.readable_log.ReadableLog` (readable) show the
same pane with the same keys and status row; this mixin holds what is the same in both. A
renderer counts its own lines (file lines or rendered rows) through the hooks at the end;
reading stays in each renderer (and in its workers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from conductor.words import plural

if TYPE_CHECKING:
    from textual.widget import Widget

    _Base = Widget
else:
    _Base = object


POLL_FAST = 0.5
"""Seconds between looks at the shown file when no event may tell of a write: the console
watches by polling (``--poll``, a network file system, a watch limit) or not at all, or the
file is a run's on another host (inotify sees only this host's writes)."""
POLL_SLOW = 5.0
"""The same while inotify sees every write to it: every write raises an event that reads it at
once, and this look is only a safety net. (At 0.5 s, the three panes' looks were most of the
console's idle CPU.)"""


class PaneState(_Base):
    """Follow/paused state, new-line count, wrap flag, search query and match, status row."""

    BACKWARD_FROM_MATCH = 0
    """Added to the match line for ``N``: the raw search looks before its start line, the
    readable one from its start row on (so it starts one row up)."""
    SCROLL_IMMEDIATE = False
    """Scroll at once rather than on the next refresh (the readable view's rows)."""

    def _init_pane_state(self, follow: bool) -> None:
        self.remote = False
        """The shown file is written on another host (a placed run): polled at POLL_FAST."""
        self._poll_every = 0.0
        self._poll_timer = None
        self._following = follow
        self._new_lines = 0
        self._wrap = False
        self._query = ""
        self._match_line: int | None = None
        self._search_note = ""
        self._problem = ""
        self._last_status = ""
        self._adjusting = False
        self.status_sink: Callable[[str], None] | None = None
        """Called with each new status text before :class:`~.log_view.LogView.StatusChanged`
        is posted, so that a container draws it in the same frame as the lines (a message
        arrives a frame later)."""

    # -- looking at the file ----------------------------------------------------------------

    def _start_polling(self) -> None:
        """Look at the file every :data:`POLL_FAST` or :data:`POLL_SLOW` seconds, as
        :meth:`_poll_interval` says now; each look re-checks that and re-arms on a change."""
        every = self._poll_interval()
        if every == self._poll_every and self._poll_timer is not None:
            return
        if self._poll_timer is not None:
            self._poll_timer.stop()
        self._poll_every = every
        self._poll_timer = self.set_interval(every, self._poll_tick)

    def _poll_interval(self) -> float:
        watched = getattr(self.app, "live_mode", "") == "inotify"
        return POLL_SLOW if watched and not self.remote else POLL_FAST

    def _poll_tick(self) -> None:
        self._start_polling()
        self._poll()

    def _poll(self) -> None:
        raise NotImplementedError

    # -- public state ----------------------------------------------------------------------

    @property
    def following(self) -> bool:
        return self._following

    @following.setter
    def following(self, value: bool) -> None:
        self._set_following(value)

    @property
    def new_lines(self) -> int:
        """Lines (rendered rows) that arrived while following was paused."""
        return self._new_lines

    @property
    def wrap(self) -> bool:
        return self._wrap

    @property
    def search_query(self) -> str:
        return self._query

    @property
    def match_line(self) -> int | None:
        """The line (row) of the current search match, if any."""
        return self._match_line

    def current_line(self) -> tuple[int, str] | None:
        """The line a copy key takes, as (line, text as drawn, a cut line without its
        marker): the search match, else the last line on screen (the newest when following);
        None when there is none or it is not read yet."""
        if not self._line_total():
            return None
        line = self._match_line if self._match_line is not None else self._last_shown()
        return self._shown_text(line)

    @property
    def status_text(self) -> str:
        """One line for the status bar: follow state, new lines, position, search, wrap."""
        parts = ["FOLLOWING" if self._following else "PAUSED"]
        if not self._following and self._new_lines:
            parts.append(f"{self._new_lines:,} new {plural(self._new_lines, 'line')} \u2014 G/End to follow")
        if self._problem:
            parts.append(self._problem)
        parts.extend(self._position_parts())
        if self._search_note:
            parts.append(self._search_note)
        if self._wrap:
            parts.append("wrap")
        return " \u00b7 ".join(parts)

    def _post_status(self) -> None:
        text = self.status_text
        if text != self._last_status and self.is_mounted:
            self._last_status = text
            if self.status_sink is not None:
                self.status_sink(text)
            from .log_view import LogView
            self.post_message(LogView.StatusChanged(self, text))

    # -- following -------------------------------------------------------------------------

    def _set_following(self, following: bool) -> None:
        if following == self._following:
            return
        self._following = following
        if following:
            self._new_lines = 0
        if self.is_mounted:
            from .log_view import LogView
            self.post_message(LogView.FollowChanged(self, following))
            self._post_status()

    def _follow_scroll(self, old: float, new: float) -> None:
        """After a scroll: scrolling up pauses, reaching the end follows (not while the view
        moves itself)."""
        if not self._adjusting:
            max_y = self.max_scroll_y
            if new < old and new < max_y:
                self._set_following(False)
            elif new > old and new >= max_y:
                self._set_following(True)
        self._post_status()

    def action_end(self) -> None:
        """Jump to the last line and follow from now on."""
        self._scroll_end()
        self._set_following(True)

    def action_toggle_wrap(self) -> None:
        self.set_wrap(not self._wrap)

    def set_wrap(self, wrap: bool) -> None:
        """Fold long lines to the width (or not), keeping the top line (or following)."""
        top = self.top_line
        self._wrap = wrap
        self._rewrap()
        self._adjusting = True
        try:
            if self._following:
                self._scroll_end()
            else:
                self.scroll_to(x=0, y=self._first_line_of(top), animate=False,
                               immediate=self.SCROLL_IMMEDIATE)
        finally:
            self._adjusting = False
        self.refresh()
        self._post_status()

    def on_resize(self) -> None:
        self._relayout()
        if self._following:
            self._scroll_end()
        self._post_status()

    # -- moving (one keymap scope, ``log``, for both renderers) ----------------------------

    def action_line_down(self) -> None:
        self._scroll_lines(1)

    def action_line_up(self) -> None:
        self._scroll_lines(-1)

    def action_page_down(self) -> None:
        self._scroll_lines(max(self._view_height() - 1, 1))

    def action_page_up(self) -> None:
        self._scroll_lines(-max(self._view_height() - 1, 1))

    def action_column_left(self) -> None:
        x = self.scroll_offset.x
        self.scroll_to(x=max(x - 4, 0), animate=False,
                       immediate=self.SCROLL_IMMEDIATE)

    def action_column_right(self) -> None:
        x = self.scroll_offset.x
        self.scroll_to(x=x + 4, animate=False,
                       immediate=self.SCROLL_IMMEDIATE)

    def _jump(self, y: int) -> None:
        """Scroll to virtual line ``y``."""
        self.scroll_to(y=y, animate=False,
                       immediate=self.SCROLL_IMMEDIATE)

    def _view_height(self) -> int:
        return self.scrollable_content_region.height

    # -- search ----------------------------------------------------------------------------

    def action_search(self) -> None:
        from .log_view import LogView
        self.post_message(LogView.SearchRequested(self))

    def search(self, query: str) -> None:
        """Find ``query`` from the top line on (wrapping around); lower-case queries ignore
        case. The view jumps to the match when found."""
        self._query = query
        self._match_line = None
        self._drop_drawn()
        self.refresh()
        if query:
            self._search_from(self.top_line, True)
        else:
            self._search_note = ""
            self._post_status()

    def action_search_next(self) -> None:
        if self._query:
            match = self._match_line
            self._search_from(match + 1 if match is not None else self.top_line, True)

    def action_search_previous(self) -> None:
        if self._query:
            match = self._match_line
            self._search_from(match + self.BACKWARD_FROM_MATCH if match is not None
                              else self.top_line, False)

    def _show_match(self, query: str, line: int | None, wrapped: bool) -> None:
        """A search ended: note it in the status row and, when found, pause on the match."""
        if line is None:
            self._search_note = f"\u201c{query}\u201d not found"
            self._post_status()
            return
        self._match_line = line
        self._search_note = f"\u201c{query}\u201d line {line + 1:,}"
        if wrapped:
            self._search_note += " (wrapped)"
        self._drop_drawn()
        self._set_following(False)
        self._adjusting = True
        try:
            context = 0 if self._wrap else self._view_height() // 3
            self._jump(max(self._first_line_of(line) - context, 0))
        finally:
            self._adjusting = False
        self.refresh()
        self._post_status()

    # -- what each renderer supplies -------------------------------------------------------

    @property
    def top_line(self) -> int:
        raise NotImplementedError

    def _rewrap(self) -> None:
        """The wrap flag changed: forget the drawn rows and size the view again."""
        raise NotImplementedError

    def _relayout(self) -> None:
        """The view's size changed: size its content again."""
        raise NotImplementedError

    def _line_total(self) -> int:
        """Lines (rows) known."""
        raise NotImplementedError

    def _last_shown(self) -> int:
        """The last line (row) on screen."""
        raise NotImplementedError

    def _shown_text(self, line: int) -> tuple[int, str] | None:
        """``line`` and its text for a copy, None when not read yet."""
        raise NotImplementedError

    def _position_parts(self) -> list[str]:
        """The status row's parts saying where the view is (and the indexing progress)."""
        raise NotImplementedError

    def _scroll_end(self) -> None:
        raise NotImplementedError

    def _first_line_of(self, line: int) -> int:
        """The scroll position that puts ``line`` on the top row."""
        return line

    def _scroll_lines(self, delta: int) -> None:
        """Scroll ``delta`` lines (rows) down (up when negative)."""
        raise NotImplementedError

    def _drop_drawn(self) -> None:
        """Forget the drawn lines (the match highlight changed)."""
        raise NotImplementedError

    def _search_from(self, line: int, forward: bool) -> None:
        raise NotImplementedError
