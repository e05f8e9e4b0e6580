from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATUS_UNSPECIFIED: _ClassVar[Status]
    STATUS_OPTIMAL: _ClassVar[Status]
    STATUS_FEASIBLE: _ClassVar[Status]
    STATUS_INFEASIBLE: _ClassVar[Status]
    STATUS_TIME_LIMIT: _ClassVar[Status]
STATUS_UNSPECIFIED: Status
STATUS_OPTIMAL: Status
STATUS_FEASIBLE: Status
STATUS_INFEASIBLE: Status
STATUS_TIME_LIMIT: Status

class Values(_message.Message):
    __slots__ = ("values", "f64le")
    VALUES_FIELD_NUMBER: _ClassVar[int]
    F64LE_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    f64le: bytes
    def __init__(self, values: _Optional[_Iterable[float]] = ..., f64le: _Optional[bytes] = ...) -> None: ...

class Matrix(_message.Message):
    __slots__ = ("rows", "cols", "values")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    rows: int
    cols: int
    values: Values
    def __init__(self, rows: _Optional[int] = ..., cols: _Optional[int] = ..., values: _Optional[_Union[Values, _Mapping]] = ...) -> None: ...

class BitMask(_message.Message):
    __slots__ = ("bits", "length", "shape")
    BITS_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    bits: bytes
    length: int
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, bits: _Optional[bytes] = ..., length: _Optional[int] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...

class Certificate(_message.Message):
    __slots__ = ("status", "objective", "lower_bound", "gap", "usage", "limit", "method", "solve_time_s", "message")
    class UsageEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class LimitEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    LOWER_BOUND_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    SOLVE_TIME_S_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    status: Status
    objective: float
    lower_bound: float
    gap: float
    usage: _containers.ScalarMap[str, float]
    limit: _containers.ScalarMap[str, float]
    method: str
    solve_time_s: float
    message: str
    def __init__(self, status: _Optional[_Union[Status, str]] = ..., objective: _Optional[float] = ..., lower_bound: _Optional[float] = ..., gap: _Optional[float] = ..., usage: _Optional[_Mapping[str, float]] = ..., limit: _Optional[_Mapping[str, float]] = ..., method: _Optional[str] = ..., solve_time_s: _Optional[float] = ..., message: _Optional[str] = ...) -> None: ...
