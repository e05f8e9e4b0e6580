from pruneplan.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REG_TYPE_UNSPECIFIED: _ClassVar[RegType]
    REG_TYPE_ENTROPY: _ClassVar[RegType]
    REG_TYPE_L2: _ClassVar[RegType]
REG_TYPE_UNSPECIFIED: RegType
REG_TYPE_ENTROPY: RegType
REG_TYPE_L2: RegType

class TransportGroup(_message.Message):
    __slots__ = ("name", "scores", "weights", "budget", "min_keep", "max_keep")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    MIN_KEEP_FIELD_NUMBER: _ClassVar[int]
    MAX_KEEP_FIELD_NUMBER: _ClassVar[int]
    name: str
    scores: _common_pb2.Values
    weights: _common_pb2.Values
    budget: float
    min_keep: float
    max_keep: float
    def __init__(self, name: _Optional[str] = ..., scores: _Optional[_Union[_common_pb2.Values, _Mapping]] = ..., weights: _Optional[_Union[_common_pb2.Values, _Mapping]] = ..., budget: _Optional[float] = ..., min_keep: _Optional[float] = ..., max_keep: _Optional[float] = ...) -> None: ...

class TransportProblem(_message.Message):
    __slots__ = ("groups", "budget", "reg", "reg_type")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    REG_FIELD_NUMBER: _ClassVar[int]
    REG_TYPE_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[TransportGroup]
    budget: float
    reg: float
    reg_type: RegType
    def __init__(self, groups: _Optional[_Iterable[_Union[TransportGroup, _Mapping]]] = ..., budget: _Optional[float] = ..., reg: _Optional[float] = ..., reg_type: _Optional[_Union[RegType, str]] = ...) -> None: ...

class TransportGroupResult(_message.Message):
    __slots__ = ("name", "soft_mask", "hard_mask", "threshold", "kept")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOFT_MASK_FIELD_NUMBER: _ClassVar[int]
    HARD_MASK_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    KEPT_FIELD_NUMBER: _ClassVar[int]
    name: str
    soft_mask: _common_pb2.Values
    hard_mask: _common_pb2.BitMask
    threshold: float
    kept: float
    def __init__(self, name: _Optional[str] = ..., soft_mask: _Optional[_Union[_common_pb2.Values, _Mapping]] = ..., hard_mask: _Optional[_Union[_common_pb2.BitMask, _Mapping]] = ..., threshold: _Optional[float] = ..., kept: _Optional[float] = ...) -> None: ...

class TransportSolution(_message.Message):
    __slots__ = ("groups", "budget_error", "iterations")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_ERROR_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[TransportGroupResult]
    budget_error: float
    iterations: int
    def __init__(self, groups: _Optional[_Iterable[_Union[TransportGroupResult, _Mapping]]] = ..., budget_error: _Optional[float] = ..., iterations: _Optional[int] = ...) -> None: ...
