from pruneplan.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ItemGroup(_message.Message):
    __slots__ = ("name", "values", "costs", "cost_by_count", "min_keep", "max_keep", "round_to")
    class CostsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.Values
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Values, _Mapping]] = ...) -> None: ...
    class CostByCountEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.Values
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Values, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    COSTS_FIELD_NUMBER: _ClassVar[int]
    COST_BY_COUNT_FIELD_NUMBER: _ClassVar[int]
    MIN_KEEP_FIELD_NUMBER: _ClassVar[int]
    MAX_KEEP_FIELD_NUMBER: _ClassVar[int]
    ROUND_TO_FIELD_NUMBER: _ClassVar[int]
    name: str
    values: _common_pb2.Values
    costs: _containers.MessageMap[str, _common_pb2.Values]
    cost_by_count: _containers.MessageMap[str, _common_pb2.Values]
    min_keep: int
    max_keep: int
    round_to: int
    def __init__(self, name: _Optional[str] = ..., values: _Optional[_Union[_common_pb2.Values, _Mapping]] = ..., costs: _Optional[_Mapping[str, _common_pb2.Values]] = ..., cost_by_count: _Optional[_Mapping[str, _common_pb2.Values]] = ..., min_keep: _Optional[int] = ..., max_keep: _Optional[int] = ..., round_to: _Optional[int] = ...) -> None: ...

class SelectionProblem(_message.Message):
    __slots__ = ("groups", "budget", "fingerprint")
    class BudgetEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[ItemGroup]
    budget: _containers.ScalarMap[str, float]
    fingerprint: str
    def __init__(self, groups: _Optional[_Iterable[_Union[ItemGroup, _Mapping]]] = ..., budget: _Optional[_Mapping[str, float]] = ..., fingerprint: _Optional[str] = ...) -> None: ...

class GroupSelection(_message.Message):
    __slots__ = ("name", "kept", "count", "mask")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEPT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    name: str
    kept: _containers.RepeatedScalarFieldContainer[int]
    count: int
    mask: _common_pb2.BitMask
    def __init__(self, name: _Optional[str] = ..., kept: _Optional[_Iterable[int]] = ..., count: _Optional[int] = ..., mask: _Optional[_Union[_common_pb2.BitMask, _Mapping]] = ...) -> None: ...

class SelectionSolution(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[GroupSelection]
    def __init__(self, groups: _Optional[_Iterable[_Union[GroupSelection, _Mapping]]] = ...) -> None: ...
