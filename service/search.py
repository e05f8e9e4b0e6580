"""Search sessions served over gRPC: state in the plan store, resumable after a restart.

Each call loads the session from the store (`SearchSession.from_dict`), acts on it and writes
it back under the row's version: a call that lost a race with another server re-reads and
redoes its change, so no told measurement is lost and every server continues any session
exactly where it stands. Problems are checked against the same limits as ``Solve``, and errors
name the request's field (``problem.layers[3].loss``, ``results[0].candidate_id``).
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

import grpc

from pruneplan.solver import AllocationProblem, InvalidProblemError
from pruneplan.solver.search import SearchClosedError, SearchSession, SearchState
from pruneplan.v1 import pruning_service_pb2 as pb
from pruneplan.v1 import search_pb2 as spb

from . import convert, errors
from .convert import search as sconv
from .planner import Planner, check_limits

__all__ = ["FailedPrecondition", "Searches"]

T = TypeVar("T")
_RETRIES = 20
"""Writes retried after losing a race with another server before giving up (``ABORTED``)."""
_PROBLEMS_CACHED = 64
_STRIPES = 64
_KEEP = ("options", "results", "curves", "n", "search_id", "start", "request_id")
"""Field heads that are the request's own; the others are the problem's."""


class FailedPrecondition(errors.ServiceError):
    """A tell or ask on a cancelled search."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(errors.ServiceError):
    code = grpc.StatusCode.ABORTED


def _problem_path(exc: InvalidProblemError) -> InvalidProblemError:
    """The error with its field as the request names it (``problem.layers[0].loss``)."""
    field = exc.field.removeprefix("allocation.")
    head = field.split(".", 1)[0].split("[", 1)[0]
    if head not in _KEEP:
        field = f"problem.{field}"
    return InvalidProblemError(field, exc.allowed, exc.got, exc.hint)


def _search_id(request_id: str) -> str:
    if not request_id:
        return f"s{uuid.uuid4().hex}"
    return f"s{hashlib.sha256(request_id.encode()).hexdigest()[:32]}"


class Searches:
    """The search RPCs' logic on top of the planner's store, limits and solver version."""

    def __init__(self, planner: Planner) -> None:
        self.planner = planner
        self.store = planner.store
        self._lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]
        self._problems: OrderedDict[str, tuple[bytes, AllocationProblem]] = OrderedDict()

    # -- the RPCs -----------------------------------------------------------------------------

    def create(self, request: pb.CreateSearchRequest) -> pb.CreateSearchResponse:
        search_id = _search_id(request.request_id)
        existing = self.store.search(search_id)
        if existing is None:
            payload, problem = self._check_problem(request)
            try:
                session = SearchSession(problem, sconv.options_from_proto(request.options))
            except InvalidProblemError as exc:
                raise _problem_path(exc) from None
            self.store.create_search(search_id, payload, json.dumps(session.to_dict()))
        row = self.store.search(search_id)
        assert row is not None
        state = json.loads(row.state)["state"]
        return pb.CreateSearchResponse(search_id=search_id, state=_state(state))

    def ask(self, request: pb.AskRequest) -> pb.AskResponse:
        n = request.n or 1

        def act(session: SearchSession) -> pb.AskResponse:
            batch = session.ask(n)
            problem = session.problem
            return pb.AskResponse(
                candidates=[sconv.candidate_to_proto(c, problem) for c in batch],
                state=sconv.state_to_proto(session.state),
            )

        return self._mutate(request.search_id, act)

    def tell(self, request: pb.TellRequest) -> pb.TellResponse:
        results = sconv.measurements_from_proto(request.results)
        curves = sconv.curves_from_proto(request.curves) if request.curves else None

        def act(session: SearchSession) -> pb.TellResponse:
            if curves is not None:
                session.tell_curves(curves)
            session.tell(results)
            return pb.TellResponse(
                state=sconv.state_to_proto(session.state), evaluations_used=session.evaluations_used
            )

        return self._mutate(request.search_id, act)

    def get(self, request: pb.GetSearchRequest) -> pb.GetSearchResponse:
        payload, session, _ = self._load(request.search_id)
        problem = session.problem
        best = self._best(payload, session)
        return pb.GetSearchResponse(
            search_id=request.search_id,
            state=sconv.state_to_proto(session.state),
            best=best,
            history=[sconv.record_to_proto(r, problem) for r in session.history],
            evaluations_used=session.evaluations_used,
            generation=session.generation,
            problem=pb.SolveRequest.FromString(payload).allocation
            if request.include_problem
            else None,
        )

    def cancel(self, request: pb.CancelSearchRequest) -> pb.CancelSearchResponse:
        def act(session: SearchSession) -> pb.CancelSearchResponse:
            cancelled = session.cancel()
            return pb.CancelSearchResponse(
                cancelled=cancelled, state=sconv.state_to_proto(session.state)
            )

        return self._mutate(request.search_id, act)

    # -- store --------------------------------------------------------------------------------

    def _check_problem(self, request: pb.CreateSearchRequest) -> tuple[bytes, AllocationProblem]:
        """The canonical problem bytes and the decoded problem, within the server's limits."""
        solve = pb.SolveRequest(allocation=request.problem)
        try:
            canonical = convert.canonical_request(solve)
            check_limits(canonical, self.planner.limits)
            _, problem, _ = convert.parse_request(pb.SolveRequest.FromString(canonical.payload))
        except InvalidProblemError as exc:
            raise _problem_path(exc) from None
        assert isinstance(problem, AllocationProblem)
        return canonical.payload, problem

    def _problem(self, search_id: str, payload: bytes) -> AllocationProblem:
        with self._lock:
            cached = self._problems.get(search_id)
            if cached is not None and cached[0] == payload:
                self._problems.move_to_end(search_id)
                return cached[1]
        _, problem, _ = convert.parse_request(pb.SolveRequest.FromString(payload))
        assert isinstance(problem, AllocationProblem)
        with self._lock:
            self._problems[search_id] = (payload, problem)
            while len(self._problems) > _PROBLEMS_CACHED:
                self._problems.popitem(last=False)
        return problem

    def _load(self, search_id: str) -> tuple[bytes, SearchSession, int]:
        row = self.store.search(search_id) if search_id else None
        if row is None:
            shown = errors.cap(search_id)
            raise errors.NotFound(f"search_id: no search {shown!r} in this server's store")
        problem = self._problem(search_id, row.problem)
        return row.problem, SearchSession.from_dict(problem, json.loads(row.state)), row.version

    def _search_lock(self, search_id: str) -> threading.Lock:
        """One of `_STRIPES` locks: calls on one search in this server take turns."""
        digest = hashlib.sha256(search_id.encode()).digest()
        return self._stripes[int.from_bytes(digest[:4], "little") % _STRIPES]

    def _mutate(self, search_id: str, act: Callable[[SearchSession], T]) -> T:
        """``act`` on the stored session, written back under its version (retried on a race)."""
        with self._search_lock(search_id):
            for _ in range(_RETRIES):
                _, session, version = self._load(search_id)
                try:
                    out = act(session)
                except SearchClosedError as exc:
                    raise FailedPrecondition(f"search_id: {exc}") from None
                if self.store.update_search(search_id, json.dumps(session.to_dict()), version):
                    return out
        raise Aborted(f"search_id: {_RETRIES} concurrent updates in a row; retry")

    def _best(self, payload: bytes, session: SearchSession) -> pb.SolveResponse:
        """The incumbent as a stored plan; its id is a hash of its content."""
        version = self.planner.solver_version
        response = convert.result_to_response(
            session.best(), session.problem, solver_version=version
        )
        content = response.SerializeToString(deterministic=True)
        response.plan_id = convert.plan_key(payload + b"\0search\0" + content, version)
        self.store.put_plan(response.plan_id, response.SerializeToString(deterministic=True))
        return response


def _state(value: str) -> spb.SearchState:
    return sconv.state_to_proto(SearchState(value))
