"""Fuzzing helpers shared by `test_abuse.py` and ``benchmarks/abuse.py``.

`mutations` walks a valid request through its message descriptors, so every field of every
problem family (each a branch of the ``problem`` oneof) is covered as soon as it is in the proto:
edge values for each scalar, cleared and grown repeated fields and maps, cleared messages and
oneofs. `garbage` makes random, truncated and bit-flipped byte strings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

Step = str | int
"""A field name, or an index into a repeated field / a key of a map."""
Edit = Callable[[Message], None]

LONG = 3000
"""Characters of the long strings (past the 200 an error may echo)."""

_FLOAT_EDGES = (math.nan, math.inf, -math.inf, -1.0, 0.0, 5e-324, 1e308, -1e308)
_INT_EDGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), -1, 0, 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), -1, 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), -1, 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), -1, 0, 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), -1, 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), -1, 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 1, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 1, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 1, 2**53 + 1, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 1, 2**64 - 1),
}
_STRINGS = ("", "x" * LONG, "é\u2603\U0001f600", "a\x00b", "../../etc/passwd", " ", "progress")
_BYTES = (b"", b"\x00" * 7, b"\xff" * 13, bytes(range(256)) * 8)


@dataclass(frozen=True)
class _Grow:
    counts: tuple[int, ...]
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Mutation:
    """One edit of a valid request: where, what, and the function that applies it."""

    path: str
    label: str
    edit: Edit

    def apply(self, base: Message) -> Message:
        """A mutated copy of ``base``."""
        copy = type(base)()
        copy.CopyFrom(base)
        self.edit(copy)
        return copy


def _navigate(root: Message, path: tuple[Step, ...]) -> object:
    target: object = root
    for step in path:
        if isinstance(target, Message):
            assert isinstance(step, str)
            target = getattr(target, step)
        else:
            target = target[step]  # type: ignore[index]
    return target


def _name(path: tuple[Step, ...]) -> str:
    return ".".join(str(step)[:24] for step in path)


def _scalar_values(field: FieldDescriptor) -> tuple[object, ...]:
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return _FLOAT_EDGES
    if field.type in _INT_EDGES:
        return _INT_EDGES[field.type]
    if field.type == FieldDescriptor.TYPE_BOOL:
        return (True, False)
    if field.type == FieldDescriptor.TYPE_STRING:
        return _STRINGS
    if field.type == FieldDescriptor.TYPE_BYTES:
        return _BYTES
    if field.type == FieldDescriptor.TYPE_ENUM:
        return (0, *(v.number for v in field.enum_type.values), 999, -1)
    return ()


def _set(path: tuple[Step, ...], name: str, value: object) -> Edit:
    def edit(root: Message) -> None:
        setattr(_navigate(root, path), name, value)

    return edit


def _clear(path: tuple[Step, ...], name: str) -> Edit:
    def edit(root: Message) -> None:
        parent = _navigate(root, path)
        assert isinstance(parent, Message)
        parent.ClearField(name)

    return edit


def _grow(path: tuple[Step, ...], count: int) -> Edit:
    """Repeat the first element of a repeated field until it has ``count`` elements."""

    def edit(root: Message) -> None:
        container: object = _navigate(root, path)
        items = list(container)  # type: ignore[call-overload]
        if not items:
            return
        first = items[0]
        if isinstance(first, Message):
            for _ in range(count - len(items)):
                container.add().CopyFrom(first)  # type: ignore[attr-defined]
        else:
            container.extend([first] * (count - len(items)))  # type: ignore[attr-defined]

    return edit


def _append(path: tuple[Step, ...], value: object) -> Edit:
    def edit(root: Message) -> None:
        container: object = _navigate(root, path)
        if value is None:
            container.add()  # type: ignore[attr-defined]
        else:
            container.append(value)  # type: ignore[attr-defined]

    return edit


def _map_put(path: tuple[Step, ...], key: object, value: object) -> Edit:
    def edit(root: Message) -> None:
        container: object = _navigate(root, path)
        if value is None:
            container[key]  # type: ignore[index]  # a default message value
        else:
            container[key] = value  # type: ignore[index]

    return edit


def _scalar(path: tuple[Step, ...], field: FieldDescriptor) -> Iterator[Mutation]:
    for value in _scalar_values(field):
        label = repr(value) if not isinstance(value, str | bytes) or len(value) < 20 else "long"
        yield Mutation(_name((*path, field.name)), label, _set(path, field.name, value))


def _repeated(
    path: tuple[Step, ...], field: FieldDescriptor, counts: tuple[int, ...]
) -> Iterator[Mutation]:
    where = (*path, field.name)
    name = _name(where)
    yield Mutation(name, "cleared", _clear(path, field.name))
    for count in counts:
        yield Mutation(name, f"x{count}", _grow(where, count))
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        yield Mutation(name, "append empty", _append(where, None))
        return
    for value in _scalar_values(field):
        if not isinstance(value, str | bytes) or len(value) < 20:
            yield Mutation(name, f"append {value!r}", _append(where, value))


def _map(
    message: Message, path: tuple[Step, ...], field: FieldDescriptor, grow: _Grow
) -> Iterator[Mutation]:
    where = (*path, field.name)
    name = _name(where)
    yield Mutation(name, "cleared", _clear(path, field.name))
    value_field = field.message_type.fields_by_name["value"]
    container = getattr(message, field.name)
    for key in ("", "x" * LONG, "é\u2603", *grow.keys):
        if value_field.type == FieldDescriptor.TYPE_MESSAGE:
            yield Mutation(name, f"key {key[:8]!r} empty", _map_put(where, key, None))
        else:
            for value in _scalar_values(value_field)[:3]:
                yield Mutation(name, f"key {key[:8]!r}={value!r}", _map_put(where, key, value))
    for key in list(container)[:1]:
        if value_field.type == FieldDescriptor.TYPE_MESSAGE:
            yield from _message(container[key], (*where, key), grow)
        else:
            for value in _scalar_values(value_field):
                yield Mutation(f"{name}[{key!r}]", repr(value), _map_put(where, key, value))


def _message(
    message: Message, path: tuple[Step, ...], grow: _Grow, depth: int = 0
) -> Iterator[Mutation]:
    """Every mutation of ``message`` (found at ``path`` in the root) and its sub-messages."""
    descriptor: Descriptor = message.DESCRIPTOR
    if depth > 6:
        return
    for oneof in descriptor.oneofs:
        chosen = message.WhichOneof(oneof.name)
        if chosen is not None and not oneof.name.startswith("_"):  # "_x": proto3 optional
            yield Mutation(_name((*path, oneof.name)), "cleared", _clear(path, chosen))
    for field in descriptor.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            yield from _map(message, path, field, grow)
        elif field.is_repeated:
            yield from _repeated(path, field, grow.counts)
            if field.type == FieldDescriptor.TYPE_MESSAGE and len(getattr(message, field.name)):
                element = getattr(message, field.name)[0]
                yield from _message(element, (*path, field.name, 0), grow, depth + 1)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            yield Mutation(_name((*path, field.name)), "cleared", _clear(path, field.name))
            yield from _message(getattr(message, field.name), (*path, field.name), grow, depth + 1)
        else:
            yield from _scalar(path, field)


def mutations(
    base: Message, counts: tuple[int, ...] = (3, 300), keys: tuple[str, ...] = ()
) -> list[Mutation]:
    """Mutations of every field reachable from ``base``: repeated fields grown to ``counts``
    elements, maps given ``keys`` besides the built-in odd ones."""
    return list(_message(base, (), _Grow(counts, keys)))


def garbage(valid: bytes, n: int, seed: int = 0) -> Iterator[tuple[str, bytes]]:
    """``n`` byte strings: random of random length, ``valid`` truncated, ``valid`` bit-flipped."""
    rng = np.random.default_rng(seed)
    kinds = ("random", "truncated", "flipped")
    for i in range(n):
        kind = kinds[i % 3]
        if kind == "random":
            data = rng.bytes(int(rng.integers(1, 2048)))
        elif kind == "truncated":
            data = valid[: int(rng.integers(1, max(2, len(valid))))]
        else:
            flipped = bytearray(valid)
            for _ in range(int(rng.integers(1, 8))):
                flipped[int(rng.integers(len(flipped)))] ^= 1 << int(rng.integers(8))
            data = bytes(flipped)
        yield kind, data
