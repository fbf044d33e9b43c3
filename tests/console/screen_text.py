"""The text on an app's screen, for assertions and debugging (no colours)."""

from __future__ import annotations


def screen_text(app) -> str:
    # Private Textual API, on purpose: Textual exports a screen only as SVG; the compositor's
    # strips are exactly the cells the terminal gets. Every test that reads the screen pins
    # it (a Textual that renames it fails them all with an AttributeError, not silently).
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text.rstrip() for strip in strips)
