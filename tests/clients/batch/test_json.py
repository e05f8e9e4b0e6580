"""The batch's fast JSON path gives `json_format.Parse`'s message, or its error, on every line."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format

from pruneplan.clients.batch._json import parse_json
from pruneplan.v1 import pruning_service_pb2 as pb

from ._examples import EXAMPLES


def reference(text: str) -> bytes | str:
    try:
        return json_format.Parse(text, pb.SolveRequest()).SerializeToString(deterministic=True)
    except json_format.ParseError as exc:
        return f"ParseError: {exc}"


def fast(text: str) -> bytes | str:
    try:
        return parse_json(text, pb.SolveRequest()).SerializeToString(deterministic=True)
    except json_format.ParseError as exc:
        return f"ParseError: {exc}"


@pytest.mark.parametrize("family", sorted(EXAMPLES))
@pytest.mark.parametrize("names", ["json_name", "proto_name"])
def test_every_family_parses_as_json_format_does(family: str, names: str) -> None:
    for request in EXAMPLES[family](12, 3):
        text = json_format.MessageToJson(
            request, indent=None, preserving_proto_field_name=names == "proto_name"
        )
        assert fast(text) == reference(text)
        assert fast(text) == request.SerializeToString(deterministic=True)


def base() -> dict:  # type: ignore[type-arg]
    request = EXAMPLES["allocation"](1, 0)[0]
    return json.loads(json_format.MessageToJson(request, indent=None))  # type: ignore[no-any-return]


def edits() -> dict[str, str]:
    """Lines the fast path must hand to json_format (or parse exactly as it does)."""
    out: dict[str, str] = {}
    b = base()
    levels = b["allocation"]["layers"][0]["levels"]["values"]
    text = json.dumps(b)
    out["unknown field"] = json.dumps({**b, "bogus": 1})
    out["null"] = json.dumps({**b, "method": None})
    out["duplicate key"] = text[:-1] + ', "requestId": "again"}'
    out["both names"] = json.dumps({**b, "request_id": "x"})
    out["numeric strings"] = text.replace(json.dumps(levels[1]), '"0.2"', 1)
    out["NaN string"] = text.replace(json.dumps(levels[1]), '"NaN"', 1)
    out["huge number"] = text.replace(json.dumps(levels[1]), "1e400", 1)
    out["bool for a number"] = text.replace(json.dumps(levels[1]), "true", 1)
    out["string in numbers"] = text.replace(json.dumps(levels[1]), '"x"', 1)
    out["not an object"] = json.dumps([b])
    out["two of a oneof"] = json.dumps({**b, "selection": {}})
    out["int64 as string"] = json.dumps({**b, "seed": "7"})
    out["int64 out of range"] = json.dumps({**b, "seed": 2**70})
    out["negative for unsigned"] = json.dumps({**b, "seed": -1})
    out["float for an int"] = json.dumps({**b, "seed": 1.5})
    out["enum by number"] = json.dumps(b).replace('"requestId"', '"requestId"', 1)
    out["empty message"] = json.dumps({**b, "allocation": {}})
    out["list for a message"] = json.dumps({**b, "allocation": []})
    out["object for a list"] = json.dumps({**b, "allocation": {"layers": {}}})
    out["not JSON"] = text[:-3]
    return out


@pytest.mark.parametrize("case", sorted(edits()))
def test_doubtful_lines_get_json_format_s_result(case: str) -> None:
    text = edits()[case]
    assert fast(text) == reference(text)
