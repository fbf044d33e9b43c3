"""The readable view's reads: a tail read that starts inside a line shows that line cut (never
drops it), and a line longer than a whole read is shown in pieces instead of stalling the view."""

from __future__ import annotations

from conductor.console.widgets import readable_log
from conductor.console.widgets.readable_log import CUT, read_chunk


def test_a_tail_read_inside_a_line_shows_it_cut(tmp_path, monkeypatch):
    monkeypatch.setattr(readable_log, "TAIL_BYTES", 10)
    path = tmp_path / "out"
    path.write_bytes(b"first line\n" + b"y" * 20 + b"\nlast\n")
    start, end, _ident, data, reset = read_chunk(str(path), 0, None)
    assert reset and start == len(b"first line\n") + 16 and end == path.stat().st_size
    assert data == CUT + b"yyyy\nlast\n"


def test_a_tail_read_on_a_line_start_has_no_mark(tmp_path, monkeypatch):
    monkeypatch.setattr(readable_log, "TAIL_BYTES", 5)
    path = tmp_path / "out"
    path.write_bytes(b"first line\nlast\n")
    start, end, _ident, data, _reset = read_chunk(str(path), 0, None)
    assert (start, end, data) == (11, 16, b"last\n")


def test_a_line_longer_than_a_read_comes_in_marked_pieces(tmp_path, monkeypatch):
    monkeypatch.setattr(readable_log, "MAX_READ", 8)
    path = tmp_path / "out"
    path.write_bytes(b"a" * 20 + b"\nafter\n")
    ident, offset, rows = None, 0, b""
    for _ in range(10):
        start, offset, ident, data, _reset = read_chunk(str(path), offset, ident)
        rows += data
        if offset == path.stat().st_size:
            break
    assert rows == (b"a" * 8 + CUT + b"\n" + CUT + b"a" * 8 + CUT + b"\n" + CUT + b"aaaa\nafter\n")
