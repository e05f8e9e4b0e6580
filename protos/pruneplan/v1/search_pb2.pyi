from pruneplan.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_STATE_UNSPECIFIED: _ClassVar[SearchState]
    SEARCH_STATE_RUNNING: _ClassVar[SearchState]
    SEARCH_STATE_DONE: _ClassVar[SearchState]
    SEARCH_STATE_CANCELLED: _ClassVar[SearchState]
SEARCH_STATE_UNSPECIFIED: SearchState
SEARCH_STATE_RUNNING: SearchState
SEARCH_STATE_DONE: SearchState
SEARCH_STATE_CANCELLED: SearchState

class SearchOptions(_message.Message):
    __slots__ = ("evaluations", "modes", "candidates", "samples", "max_swaps", "perturbation", "resolve_method", "seed")
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    MODES_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MAX_SWAPS_FIELD_NUMBER: _ClassVar[int]
    PERTURBATION_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_METHOD_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    evaluations: int
    modes: _containers.RepeatedScalarFieldContainer[str]
    candidates: _containers.RepeatedScalarFieldContainer[int]
    samples: _containers.RepeatedScalarFieldContainer[int]
    max_swaps: int
    perturbation: float
    resolve_method: str
    seed: int
    def __init__(self, evaluations: _Optional[int] = ..., modes: _Optional[_Iterable[str]] = ..., candidates: _Optional[_Iterable[int]] = ..., samples: _Optional[_Iterable[int]] = ..., max_swaps: _Optional[int] = ..., perturbation: _Optional[float] = ..., resolve_method: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class SearchCandidate(_message.Message):
    __slots__ = ("candidate_id", "level_index", "usage", "predicted", "samples", "sample_set", "generation", "stage", "mode")
    class UsageEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    CANDIDATE_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_INDEX_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SET_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    candidate_id: int
    level_index: _containers.RepeatedScalarFieldContainer[int]
    usage: _containers.ScalarMap[str, float]
    predicted: float
    samples: int
    sample_set: int
    generation: int
    stage: int
    mode: str
    def __init__(self, candidate_id: _Optional[int] = ..., level_index: _Optional[_Iterable[int]] = ..., usage: _Optional[_Mapping[str, float]] = ..., predicted: _Optional[float] = ..., samples: _Optional[int] = ..., sample_set: _Optional[int] = ..., generation: _Optional[int] = ..., stage: _Optional[int] = ..., mode: _Optional[str] = ...) -> None: ...

class SearchMeasurement(_message.Message):
    __slots__ = ("candidate_id", "measured", "samples")
    CANDIDATE_ID_FIELD_NUMBER: _ClassVar[int]
    MEASURED_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    candidate_id: int
    measured: float
    samples: int
    def __init__(self, candidate_id: _Optional[int] = ..., measured: _Optional[float] = ..., samples: _Optional[int] = ...) -> None: ...

class SearchRecord(_message.Message):
    __slots__ = ("candidate", "measured", "samples", "incumbent")
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    MEASURED_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    INCUMBENT_FIELD_NUMBER: _ClassVar[int]
    candidate: SearchCandidate
    measured: float
    samples: int
    incumbent: bool
    def __init__(self, candidate: _Optional[_Union[SearchCandidate, _Mapping]] = ..., measured: _Optional[float] = ..., samples: _Optional[int] = ..., incumbent: _Optional[bool] = ...) -> None: ...

class LayerCurve(_message.Message):
    __slots__ = ("name", "loss")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    name: str
    loss: _common_pb2.Values
    def __init__(self, name: _Optional[str] = ..., loss: _Optional[_Union[_common_pb2.Values, _Mapping]] = ...) -> None: ...
