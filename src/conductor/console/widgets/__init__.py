"""The console's widgets, each in its own module, re-exported here."""

from .bus_feed import BusFeed, FeedList, message_row
from .detail import DetailTabs, Selection, info_rows
from .header import StatusHeader
from .line_list import LineList
from .log_view import LogPane, LogView
from .readable_log import ReadableLog
from .run_tree import NodeRef, RunTree, project_label, run_label, task_label

__all__ = ["BusFeed", "DetailTabs", "FeedList", "LineList", "LogPane", "LogView", "NodeRef",
           "ReadableLog", "RunTree", "Selection", "StatusHeader", "info_rows", "message_row",
           "project_label", "run_label", "task_label"]
