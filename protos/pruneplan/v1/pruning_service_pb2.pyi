import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from pruneplan.v1 import allocation_pb2 as _allocation_pb2
from pruneplan.v1 import clustering_pb2 as _clustering_pb2
from pruneplan.v1 import common_pb2 as _common_pb2
from pruneplan.v1 import search_pb2 as _search_pb2
from pruneplan.v1 import selection_pb2 as _selection_pb2
from pruneplan.v1 import transport_pb2 as _transport_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_DONE: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_DONE: JobState
JOB_STATE_CANCELLED: JobState

class SolveRequest(_message.Message):
    __slots__ = ("request_id", "allocation", "selection", "transport", "clustering", "method", "time_limit", "seed", "options")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_FIELD_NUMBER: _ClassVar[int]
    SELECTION_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    CLUSTERING_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    allocation: _allocation_pb2.AllocationProblem
    selection: _selection_pb2.SelectionProblem
    transport: _transport_pb2.TransportProblem
    clustering: _clustering_pb2.ClusteringProblem
    method: str
    time_limit: float
    seed: int
    options: _containers.ScalarMap[str, float]
    def __init__(self, request_id: _Optional[str] = ..., allocation: _Optional[_Union[_allocation_pb2.AllocationProblem, _Mapping]] = ..., selection: _Optional[_Union[_selection_pb2.SelectionProblem, _Mapping]] = ..., transport: _Optional[_Union[_transport_pb2.TransportProblem, _Mapping]] = ..., clustering: _Optional[_Union[_clustering_pb2.ClusteringProblem, _Mapping]] = ..., method: _Optional[str] = ..., time_limit: _Optional[float] = ..., seed: _Optional[int] = ..., options: _Optional[_Mapping[str, float]] = ...) -> None: ...

class SolveResponse(_message.Message):
    __slots__ = ("plan_id", "allocation", "selection", "transport", "clustering", "certificate", "solver_version", "fingerprint")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_FIELD_NUMBER: _ClassVar[int]
    SELECTION_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    CLUSTERING_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    SOLVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    allocation: _allocation_pb2.AllocationSolution
    selection: _selection_pb2.SelectionSolution
    transport: _transport_pb2.TransportSolution
    clustering: _clustering_pb2.ClusteringSolution
    certificate: _common_pb2.Certificate
    solver_version: str
    fingerprint: str
    def __init__(self, plan_id: _Optional[str] = ..., allocation: _Optional[_Union[_allocation_pb2.AllocationSolution, _Mapping]] = ..., selection: _Optional[_Union[_selection_pb2.SelectionSolution, _Mapping]] = ..., transport: _Optional[_Union[_transport_pb2.TransportSolution, _Mapping]] = ..., clustering: _Optional[_Union[_clustering_pb2.ClusteringSolution, _Mapping]] = ..., certificate: _Optional[_Union[_common_pb2.Certificate, _Mapping]] = ..., solver_version: _Optional[str] = ..., fingerprint: _Optional[str] = ...) -> None: ...

class SolveStreamRequest(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: SolveRequest
    def __init__(self, request: _Optional[_Union[SolveRequest, _Mapping]] = ...) -> None: ...

class SolveProgress(_message.Message):
    __slots__ = ("phase", "fraction", "best_objective", "best_bound", "elapsed_s")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    BEST_OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    BEST_BOUND_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_S_FIELD_NUMBER: _ClassVar[int]
    phase: str
    fraction: float
    best_objective: float
    best_bound: float
    elapsed_s: float
    def __init__(self, phase: _Optional[str] = ..., fraction: _Optional[float] = ..., best_objective: _Optional[float] = ..., best_bound: _Optional[float] = ..., elapsed_s: _Optional[float] = ...) -> None: ...

class SolveStreamResponse(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: SolveProgress
    result: SolveResponse
    def __init__(self, progress: _Optional[_Union[SolveProgress, _Mapping]] = ..., result: _Optional[_Union[SolveResponse, _Mapping]] = ...) -> None: ...

class SubmitBatchRequest(_message.Message):
    __slots__ = ("request_id", "requests")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    requests: _containers.RepeatedCompositeFieldContainer[SolveRequest]
    def __init__(self, request_id: _Optional[str] = ..., requests: _Optional[_Iterable[_Union[SolveRequest, _Mapping]]] = ...) -> None: ...

class SubmitBatchResponse(_message.Message):
    __slots__ = ("job_id", "total")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    total: int
    def __init__(self, job_id: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job_id", "state", "total", "done", "failed", "created_at")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: JobState
    total: int
    done: int
    failed: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., total: _Optional[int] = ..., done: _Optional[int] = ..., failed: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListJobResultsRequest(_message.Message):
    __slots__ = ("job_id", "follow", "page_size")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    follow: bool
    page_size: int
    def __init__(self, job_id: _Optional[str] = ..., follow: _Optional[bool] = ..., page_size: _Optional[int] = ...) -> None: ...

class JobError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ListJobResultsResponse(_message.Message):
    __slots__ = ("index", "response", "error", "results")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    index: int
    response: SolveResponse
    error: JobError
    results: _containers.RepeatedCompositeFieldContainer[JobResult]
    def __init__(self, index: _Optional[int] = ..., response: _Optional[_Union[SolveResponse, _Mapping]] = ..., error: _Optional[_Union[JobError, _Mapping]] = ..., results: _Optional[_Iterable[_Union[JobResult, _Mapping]]] = ...) -> None: ...

class JobResult(_message.Message):
    __slots__ = ("index", "response", "error")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    index: int
    response: SolveResponse
    error: JobError
    def __init__(self, index: _Optional[int] = ..., response: _Optional[_Union[SolveResponse, _Mapping]] = ..., error: _Optional[_Union[JobError, _Mapping]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("cancelled", "state")
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    cancelled: bool
    state: JobState
    def __init__(self, cancelled: _Optional[bool] = ..., state: _Optional[_Union[JobState, str]] = ...) -> None: ...

class GetPlanRequest(_message.Message):
    __slots__ = ("plan_id",)
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    def __init__(self, plan_id: _Optional[str] = ...) -> None: ...

class GetPlanResponse(_message.Message):
    __slots__ = ("response",)
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    response: SolveResponse
    def __init__(self, response: _Optional[_Union[SolveResponse, _Mapping]] = ...) -> None: ...

class PingRequest(_message.Message):
    __slots__ = ("payload",)
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    def __init__(self, payload: _Optional[bytes] = ...) -> None: ...

class PingResponse(_message.Message):
    __slots__ = ("payload",)
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    def __init__(self, payload: _Optional[bytes] = ...) -> None: ...

class CreateSearchRequest(_message.Message):
    __slots__ = ("request_id", "problem", "options")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    problem: _allocation_pb2.AllocationProblem
    options: _search_pb2.SearchOptions
    def __init__(self, request_id: _Optional[str] = ..., problem: _Optional[_Union[_allocation_pb2.AllocationProblem, _Mapping]] = ..., options: _Optional[_Union[_search_pb2.SearchOptions, _Mapping]] = ...) -> None: ...

class CreateSearchResponse(_message.Message):
    __slots__ = ("search_id", "state")
    SEARCH_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    search_id: str
    state: _search_pb2.SearchState
    def __init__(self, search_id: _Optional[str] = ..., state: _Optional[_Union[_search_pb2.SearchState, str]] = ...) -> None: ...

class AskRequest(_message.Message):
    __slots__ = ("search_id", "n")
    SEARCH_ID_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    search_id: str
    n: int
    def __init__(self, search_id: _Optional[str] = ..., n: _Optional[int] = ...) -> None: ...

class AskResponse(_message.Message):
    __slots__ = ("candidates", "state")
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    candidates: _containers.RepeatedCompositeFieldContainer[_search_pb2.SearchCandidate]
    state: _search_pb2.SearchState
    def __init__(self, candidates: _Optional[_Iterable[_Union[_search_pb2.SearchCandidate, _Mapping]]] = ..., state: _Optional[_Union[_search_pb2.SearchState, str]] = ...) -> None: ...

class TellRequest(_message.Message):
    __slots__ = ("search_id", "results", "curves")
    SEARCH_ID_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    CURVES_FIELD_NUMBER: _ClassVar[int]
    search_id: str
    results: _containers.RepeatedCompositeFieldContainer[_search_pb2.SearchMeasurement]
    curves: _containers.RepeatedCompositeFieldContainer[_search_pb2.LayerCurve]
    def __init__(self, search_id: _Optional[str] = ..., results: _Optional[_Iterable[_Union[_search_pb2.SearchMeasurement, _Mapping]]] = ..., curves: _Optional[_Iterable[_Union[_search_pb2.LayerCurve, _Mapping]]] = ...) -> None: ...

class TellResponse(_message.Message):
    __slots__ = ("state", "evaluations_used")
    STATE_FIELD_NUMBER: _ClassVar[int]
    EVALUATIONS_USED_FIELD_NUMBER: _ClassVar[int]
    state: _search_pb2.SearchState
    evaluations_used: int
    def __init__(self, state: _Optional[_Union[_search_pb2.SearchState, str]] = ..., evaluations_used: _Optional[int] = ...) -> None: ...

class GetSearchRequest(_message.Message):
    __slots__ = ("search_id", "include_problem")
    SEARCH_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_PROBLEM_FIELD_NUMBER: _ClassVar[int]
    search_id: str
    include_problem: bool
    def __init__(self, search_id: _Optional[str] = ..., include_problem: _Optional[bool] = ...) -> None: ...

class GetSearchResponse(_message.Message):
    __slots__ = ("search_id", "state", "best", "history", "evaluations_used", "generation", "problem")
    SEARCH_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BEST_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    EVALUATIONS_USED_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    search_id: str
    state: _search_pb2.SearchState
    best: SolveResponse
    history: _containers.RepeatedCompositeFieldContainer[_search_pb2.SearchRecord]
    evaluations_used: int
    generation: int
    problem: _allocation_pb2.AllocationProblem
    def __init__(self, search_id: _Optional[str] = ..., state: _Optional[_Union[_search_pb2.SearchState, str]] = ..., best: _Optional[_Union[SolveResponse, _Mapping]] = ..., history: _Optional[_Iterable[_Union[_search_pb2.SearchRecord, _Mapping]]] = ..., evaluations_used: _Optional[int] = ..., generation: _Optional[int] = ..., problem: _Optional[_Union[_allocation_pb2.AllocationProblem, _Mapping]] = ...) -> None: ...

class CancelSearchRequest(_message.Message):
    __slots__ = ("search_id",)
    SEARCH_ID_FIELD_NUMBER: _ClassVar[int]
    search_id: str
    def __init__(self, search_id: _Optional[str] = ...) -> None: ...

class CancelSearchResponse(_message.Message):
    __slots__ = ("cancelled", "state")
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    cancelled: bool
    state: _search_pb2.SearchState
    def __init__(self, cancelled: _Optional[bool] = ..., state: _Optional[_Union[_search_pb2.SearchState, str]] = ...) -> None: ...
