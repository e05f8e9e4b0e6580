from pruneplan.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ClusterGroup(_message.Message):
    __slots__ = ("name", "features", "importance")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    IMPORTANCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    features: _common_pb2.Matrix
    importance: _common_pb2.Values
    def __init__(self, name: _Optional[str] = ..., features: _Optional[_Union[_common_pb2.Matrix, _Mapping]] = ..., importance: _Optional[_Union[_common_pb2.Values, _Mapping]] = ...) -> None: ...

class ClusteringProblem(_message.Message):
    __slots__ = ("groups", "offset", "offset_by_group", "n_clusters", "n_clusters_by_group", "keep_budget")
    class OffsetByGroupEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class NClustersByGroupEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    OFFSET_BY_GROUP_FIELD_NUMBER: _ClassVar[int]
    N_CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    N_CLUSTERS_BY_GROUP_FIELD_NUMBER: _ClassVar[int]
    KEEP_BUDGET_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[ClusterGroup]
    offset: float
    offset_by_group: _containers.ScalarMap[str, float]
    n_clusters: int
    n_clusters_by_group: _containers.ScalarMap[str, int]
    keep_budget: int
    def __init__(self, groups: _Optional[_Iterable[_Union[ClusterGroup, _Mapping]]] = ..., offset: _Optional[float] = ..., offset_by_group: _Optional[_Mapping[str, float]] = ..., n_clusters: _Optional[int] = ..., n_clusters_by_group: _Optional[_Mapping[str, int]] = ..., keep_budget: _Optional[int] = ...) -> None: ...

class GroupClusters(_message.Message):
    __slots__ = ("name", "labels", "representatives", "merge", "offset", "n_clusters")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    REPRESENTATIVES_FIELD_NUMBER: _ClassVar[int]
    MERGE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    N_CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    labels: _containers.RepeatedScalarFieldContainer[int]
    representatives: _containers.RepeatedScalarFieldContainer[int]
    merge: _containers.RepeatedScalarFieldContainer[int]
    offset: float
    n_clusters: int
    def __init__(self, name: _Optional[str] = ..., labels: _Optional[_Iterable[int]] = ..., representatives: _Optional[_Iterable[int]] = ..., merge: _Optional[_Iterable[int]] = ..., offset: _Optional[float] = ..., n_clusters: _Optional[int] = ...) -> None: ...

class ClusteringSolution(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[GroupClusters]
    def __init__(self, groups: _Optional[_Iterable[_Union[GroupClusters, _Mapping]]] = ...) -> None: ...
