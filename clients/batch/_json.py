"""Protobuf JSON lines parsed fast, with ``json_format.Parse`` behind every doubt.

``json_format.Parse`` converts every number of a request in Python (about 1 ms for a request of
300 numbers), which is most of a small batch line's cost. Here the line is read by the C
``json`` module and each repeated number field is filled by one ``extend``. Anything this path
does not handle the way ``json_format`` does (unknown or duplicate keys, ``null``, strings for
numbers, ``NaN``/``Infinity``, bytes, maps, well-known types, two members of one oneof) makes it
give up, and ``json_format.Parse`` then parses the line, with its own result or error. So the
message, or the error, is always ``json_format``'s.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

__all__ = ["parse_json"]

M = TypeVar("M", bound=Message)

_INT = re.compile(r"-?[0-9]+\Z")
_FLOATS = (FieldDescriptor.TYPE_DOUBLE,)
_INTS = (
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_SFIXED64,
)


class _Slow(Exception):
    """This line is for ``json_format``."""


def parse_json(text: str, message: M) -> M:
    """Parse protobuf JSON ``text`` into ``message`` (cleared first), as ``json_format.Parse``."""
    try:
        data = json.loads(text, object_pairs_hook=_unique)
        message.Clear()
        _fill(message, data)
        return message
    except (_Slow, ValueError, TypeError, AttributeError, OverflowError):
        message.Clear()
        return json_format.Parse(text, message)


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Slow
    return out


@cache
def _fields(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    if descriptor.full_name.startswith("google.protobuf."):
        return {}  # well-known types have their own JSON forms
    out: dict[str, FieldDescriptor] = {}
    for f in descriptor.fields:
        out[f.name] = f
        out[f.json_name] = f
    return out


def _fill(message: Message, data: Any) -> None:
    if not isinstance(data, dict):
        raise _Slow
    fields = _fields(message.DESCRIPTOR)
    if data and not fields:
        raise _Slow
    oneofs: set[str] = set()
    seen: set[int] = set()
    for key, value in data.items():
        field = fields.get(key)
        if field is None or value is None or field.number in seen:
            raise _Slow  # unknown, null, or given by both its names
        seen.add(field.number)
        if field.containing_oneof is not None:
            if field.containing_oneof.name in oneofs:
                raise _Slow
            oneofs.add(field.containing_oneof.name)
        if field.message_type is not None:
            _message_field(message, field, value)
        elif field.is_repeated:
            if not isinstance(value, list):
                raise _Slow
            getattr(message, field.name).extend([_scalar(field, v) for v in value])
        else:
            setattr(message, field.name, _scalar(field, value))


def _message_field(message: Message, field: FieldDescriptor, value: Any) -> None:
    if field.message_type is None:
        raise _Slow
    if field.message_type.GetOptions().map_entry:
        _map_field(message, field, value)
        return
    if field.is_repeated:
        if not isinstance(value, list):
            raise _Slow
        container = getattr(message, field.name)
        for item in value:
            _fill(container.add(), item)
        return
    child = getattr(message, field.name)
    child.SetInParent()
    _fill(child, value)


def _map_field(message: Message, field: FieldDescriptor, value: Any) -> None:
    """A map with string keys (JSON object keys); other key types are for ``json_format``."""
    if field.message_type is None:
        raise _Slow
    entry = field.message_type.fields_by_name
    key, item = entry["key"], entry["value"]
    if key.type != FieldDescriptor.TYPE_STRING or not isinstance(value, dict):
        raise _Slow
    container = getattr(message, field.name)
    for k, v in value.items():
        if v is None:
            raise _Slow
        if item.message_type is not None:
            _fill(container[k], v)
        else:
            container[k] = _scalar(item, v)


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    kind = type(value)
    if field.type in _FLOATS:
        if kind is float and math.isfinite(value):
            return value
        if kind is int:
            return float(value)
        raise _Slow
    if field.type in _INTS:
        if kind is int:
            return value
        if kind is str and _INT.match(value):
            return int(value)
        raise _Slow
    if field.type == FieldDescriptor.TYPE_STRING and kind is str:
        return value
    if field.type == FieldDescriptor.TYPE_BOOL and kind is bool:
        return value
    if field.type == FieldDescriptor.TYPE_ENUM and kind is str and field.enum_type is not None:
        number = field.enum_type.values_by_name.get(value)
        if number is not None:
            return number.number
    raise _Slow
