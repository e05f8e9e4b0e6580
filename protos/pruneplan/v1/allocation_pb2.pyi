from pruneplan.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LayerProfile(_message.Message):
    __slots__ = ("name", "levels", "loss", "size", "costs", "shape", "min_sparsity", "max_sparsity", "group", "magnitudes")
    class CostsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.Values
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Values, _Mapping]] = ...) -> None: ...
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
    levels: _common_pb2.Values
    loss: _common_pb2.Values
    size: int
    costs: _containers.MessageMap[str, _common_pb2.Values]
    shape: _containers.RepeatedScalarFieldContainer[int]
    min_sparsity: float
    max_sparsity: float
    group: str
    magnitudes: _common_pb2.Values
    def __init__(self, name: _Optional[str] = ..., levels: _Optional[_Union[_common_pb2.Values, _Mapping]] = ..., loss: _Optional[_Union[_common_pb2.Values, _Mapping]] = ..., size: _Optional[int] = ..., costs: _Optional[_Mapping[str, _common_pb2.Values]] = ..., shape: _Optional[_Iterable[int]] = ..., min_sparsity: _Optional[float] = ..., max_sparsity: _Optional[float] = ..., group: _Optional[str] = ..., magnitudes: _Optional[_Union[_common_pb2.Values, _Mapping]] = ...) -> None: ...

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
    budget: _common_pb2.Values
    objective: _common_pb2.Values
    def __init__(self, resource: _Optional[str] = ..., budget: _Optional[_Union[_common_pb2.Values, _Mapping]] = ..., objective: _Optional[_Union[_common_pb2.Values, _Mapping]] = ...) -> None: ...

class AllocationSolution(_message.Message):
    __slots__ = ("layers", "frontier")
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    FRONTIER_FIELD_NUMBER: _ClassVar[int]
    layers: _containers.RepeatedCompositeFieldContainer[LayerResult]
    frontier: Frontier
    def __init__(self, layers: _Optional[_Iterable[_Union[LayerResult, _Mapping]]] = ..., frontier: _Optional[_Union[Frontier, _Mapping]] = ...) -> None: ...
