"""Modal screens of the console: dialogs, confirmations, help, a whole bus message."""

from .confirm import ConfirmScreen
from .help import HelpScreen
from .message import MessageScreen
from .new_task import NewTaskRequest, NewTaskScreen
from .post import PostMessageScreen, PostRequest
from .review import ReviewCommentScreen
from .type_filter import TypeFilterScreen

__all__ = ["ConfirmScreen", "HelpScreen", "MessageScreen", "NewTaskRequest", "NewTaskScreen",
           "PostMessageScreen", "PostRequest", "ReviewCommentScreen", "TypeFilterScreen"]
