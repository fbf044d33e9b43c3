"""Completion propagation's look for an earlier FACT on the project bus (issue 11, 50 tasks)."""

import os


def test_the_propagation_prefilter_finds_a_key_across_chunk_boundaries(tmp_path):
    """Completion propagation looks for an earlier FACT only when the project bus holds its key
    at all (raw bytes, read in chunks): a key cut by a chunk boundary is still found."""
    from conductor.runner.propagation import _mentions
    key = b"ab" * 32
    path = tmp_path / "bus.md"
    for at in (0, 5, 63, 64, 100):
        path.write_bytes(b"x" * at + key + b"y" * 7)
        assert all(_mentions(str(path), key, chunk) for chunk in (16, 64, 65, 1 << 20))
    path.write_bytes(b"x" * 100 + key[:-1] + b"y" * 100)
    assert not _mentions(str(path), key, 16)
    assert not _mentions(str(tmp_path / "missing.md"), key)
    os.symlink(path, tmp_path / "link.md")
    assert _mentions(str(tmp_path / "link.md"), key)  # unreadable safely: the full scan decides
