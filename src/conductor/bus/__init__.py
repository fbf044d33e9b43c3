"""The message bus: append-only files of YAML-headed entries shared by agents and operators."""

from .busfile import BusReader, MessageBus, check_bus_path
from .codec import decode_header, encode_entry, guard_body, normalise_body, parse
from .message import AGENT_TYPES, OPERATOR_TYPES, Link, Message, Parent

__all__ = [
    "AGENT_TYPES", "OPERATOR_TYPES", "BusReader", "Link", "Message", "MessageBus", "Parent",
    "check_bus_path", "decode_header", "encode_entry", "guard_body", "normalise_body", "parse",
]
