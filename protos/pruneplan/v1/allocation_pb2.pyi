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

class BitMask(_message.Message):
    __slots__ = ("bits", "length", "shape")
    BITS_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    bits: bytes
    length: int
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, bits: _Optional[bytes] = ..., length: _Optional[int] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...

class LayerProfile(_message.Message):
    __slots__ = ("name", "levels", "loss", "size", "costs", "shape", "min_sparsity", "max_sparsity", "group", "magnitudes")
    class CostsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Values
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Values, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    COSTS_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    MIN_SPARSITY_FIELD_NUMBER: _ClassVar[int]
    MAX_SPARSITY_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    MAGNITUDES_FIELD_NUMBER: _ClassVar[int]
    name: str
    levels: Values
    loss: Values
    size: int
    costs: _containers.MessageMap[str, Values]
    shape: _containers.RepeatedScalarFieldContainer[int]
    min_sparsity: float
    max_sparsity: float
    group: str
    magnitudes: Values
    def __init__(self, name: _Optional[str] = ..., levels: _Optional[_Union[Values, _Mapping]] = ..., loss: _Optional[_Union[Values, _Mapping]] = ..., size: _Optional[int] = ..., costs: _Optional[_Mapping[str, Values]] = ..., shape: _Optional[_Iterable[int]] = ..., min_sparsity: _Optional[float] = ..., max_sparsity: _Optional[float] = ..., group: _Optional[str] = ..., magnitudes: _Optional[_Union[Values, _Mapping]] = ...) -> None: ...

class AllocationProblem(_message.Message):
    __slots__ = ("layers", "budget", "fingerprint")
    class BudgetEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    layers: _containers.RepeatedCompositeFieldContainer[LayerProfile]
    budget: _containers.ScalarMap[str, float]
    fingerprint: str
    def __init__(self, layers: _Optional[_Iterable[_Union[LayerProfile, _Mapping]]] = ..., budget: _Optional[_Mapping[str, float]] = ..., fingerprint: _Optional[str] = ...) -> None: ...

class LayerResult(_message.Message):
    __slots__ = ("name", "level_index", "sparsity", "kept")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LEVEL_INDEX_FIELD_NUMBER: _ClassVar[int]
    SPARSITY_FIELD_NUMBER: _ClassVar[int]
    KEPT_FIELD_NUMBER: _ClassVar[int]
    name: str
    level_index: int
    sparsity: float
    kept: int
    def __init__(self, name: _Optional[str] = ..., level_index: _Optional[int] = ..., sparsity: _Optional[float] = ..., kept: _Optional[int] = ...) -> None: ...

class Frontier(_message.Message):
    __slots__ = ("resource", "budget", "objective")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    resource: str
    budget: Values
    objective: Values
    def __init__(self, resource: _Optional[str] = ..., budget: _Optional[_Union[Values, _Mapping]] = ..., objective: _Optional[_Union[Values, _Mapping]] = ...) -> None: ...
