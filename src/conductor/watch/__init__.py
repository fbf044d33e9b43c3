"""Live change events for a runs root (no Textual here).

``RootWatcher(root).batches()`` yields lists of :class:`WatchEvent`: ``run_changed``,
``log_grew``, ``bus_grew``, ``task_changed``, ``project_changed`` and ``rescan``. It uses inotify
through watchfiles and falls back to a cheap stat poll (:class:`TreePoller`) when notifications
are unavailable or ``force_polling`` is set. :func:`classify` is the pure path-to-event mapping.
"""

from .events import (BUS_GREW, KINDS, LOG_GREW, PROJECT_CHANGED, RESCAN, RUN_CHANGED,
                     TASK_CHANGED, Classifier, WatchEvent, classify, dedupe, rescan_event)
from .followed import FastBatch, FollowWatcher
from .followed import available as follow_available
from .poller import TreePoller
from .watcher import INOTIFY, NETWORK_FS, POLLING, RootWatcher, filesystem_type

__all__ = [
    "BUS_GREW", "KINDS", "LOG_GREW", "PROJECT_CHANGED", "RESCAN", "RUN_CHANGED", "TASK_CHANGED",
    "Classifier", "WatchEvent", "classify", "dedupe", "rescan_event", "TreePoller",
    "INOTIFY", "NETWORK_FS", "POLLING", "RootWatcher", "filesystem_type",
    "FastBatch", "FollowWatcher", "follow_available",
]
