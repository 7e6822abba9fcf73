"""What the trainer writes for the TypeScript training activities: its files (prepared.json, shard.json,
result.json) and its stdout lines. The one source of truth of that protocol: protocol.schema.json is generated
from these types (`python -m modelship_trainer.protocol > modelship_trainer/protocol.schema.json`), the tests
check the trainer's output against them and src/activities/trainer-protocol.ts against the schema.

Run `python -m modelship_trainer.protocol` from python/ after changing a type here; bump CONTRACT_VERSION when a
file changes meaning, so a file written by another version (a shard's scores in MLflow) is never reused.
"""

import json
import sys
from typing import Annotated, Any, Literal, Union

from typing_extensions import NotRequired, TypedDict

CONTRACT_VERSION = 2  # 2: shard scores come from successive halving (a candidate may be `eliminated` on fewer rows)
ContractVersion = Literal[2]

# Every message is closed: a field the other side does not know is an error, not silently dropped.
_CLOSED = {"extra": "forbid"}


class FileRef(TypedDict):
    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    path: str
    sha256: str


class MlflowRun(TypedDict):
    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    run_id: str
    experiment_id: str
    artifact_uri: str


class Budget(TypedDict):
    """budget.resolve_budget: a preset's settings, with the request's time limit."""

    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    preset: str
    search_rows: int
    forest_rows_per_tree: int
    time_limit_s: float | None
    halving: bool


class Candidate(TypedDict):
    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    index: int
    params: dict[str, Any]


class ShardSpec(TypedDict):
    """One batch of candidates of one family (search.plan_shards)."""

    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    id: str
    family: str
    candidates: list[Candidate]


class PreparedFile(TypedDict):
    """prepared.json: the split, the search sample and the shards (mode prepare)."""

    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    contract_version: ContractVersion
    split_digest: str
    train_rows: int
    test_rows: int
    sample_rows: int
    budget: Budget
    sample: FileRef
    shards: list[ShardSpec]
    mlflow: MlflowRun | None


class RungScore(TypedDict):
    """One candidate scored with every fold on one rung of the shard's successive halving."""

    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    rows: int
    mean_score: float
    fold_scores: list[float]
    seconds: float


class ShardCandidate(TypedDict):
    """A candidate's scores: its last rung's score and every rung's, or `skipped` (never scored)."""

    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    index: int
    params: dict[str, Any]
    rungs: NotRequired[list[RungScore]]
    rows: NotRequired[int]
    mean_score: NotRequired[float]
    fold_scores: NotRequired[list[float]]
    seconds: NotRequired[float]
    eliminated: NotRequired[str]
    skipped: NotRequired[str]


class ShardFile(TypedDict):
    """shard.json: one shard's candidates scored (mode shard)."""

    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    contract_version: ContractVersion
    id: str
    family: str
    candidates: list[ShardCandidate]
    fits: int


class ResultFile(TypedDict):
    """result.json: the winner refitted, exported and logged (mode finish)."""

    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    contract_version: ContractVersion
    best_family: str
    best_params: dict[str, Any]
    cv: dict[str, float]
    scoring: str
    threshold: float
    parity_max_abs_diff: float
    train_rows: int
    test_rows: int
    search_rows: int
    fits: int
    seconds: float
    files: dict[str, FileRef]
    mlflow: MlflowRun | None
    reference_metrics: dict[str, float]


class ProgressEvent(TypedDict):
    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    event: Literal["progress"]
    phase: str
    message: str
    family: NotRequired[str]
    done: NotRequired[int]
    total: NotRequired[int]
    train_rows: NotRequired[int]
    test_rows: NotRequired[int]


class CandidateRungScore(RungScore):
    index: int


class CandidateDoneEvent(TypedDict):
    """One candidate scored on one rung; `key` (search.candidate_key) finds it again in a retry's `completed`."""

    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    event: Literal["candidate_done"]
    shard: str
    key: str
    candidate: CandidateRungScore


class DoneEvent(TypedDict):
    """The last line of a run that succeeded: the file it wrote."""

    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    event: Literal["done"]
    result: str


class ErrorEvent(TypedDict):
    """A refusal the activity turns into a non-retryable failure (exit 2: contract, exit 3: parity)."""

    __pydantic_config__ = _CLOSED  # type: ignore[misc]
    event: Literal["error"]
    message: str
    kind: Literal["contract", "parity"]


# The messages of the schema file, by the name both sides use.
MESSAGES: dict[str, Any] = {
    "PreparedFile": PreparedFile,
    "ShardFile": ShardFile,
    "ResultFile": ResultFile,
    "TrainerEvent": Union[ProgressEvent, CandidateDoneEvent, DoneEvent, ErrorEvent],
}


def adapter(message: str):
    """A pydantic validator for one message (pydantic comes with MLflow; only tests and the generator need it)."""
    from pydantic import Field, TypeAdapter

    kind = MESSAGES[message]
    if message == "TrainerEvent":
        kind = Annotated[kind, Field(discriminator="event")]
    return TypeAdapter(kind)


def json_schema() -> dict:
    from pydantic import TypeAdapter

    by_message, schema = TypeAdapter.json_schemas([(name, "validation", adapter(name)) for name in MESSAGES])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "modelship trainer protocol",
        "description": f"Generated from python/modelship_trainer/protocol.py (contract version {CONTRACT_VERSION}): do not edit.",
        "messages": {name: by_message[(name, "validation")] for name in MESSAGES},
        "$defs": schema["$defs"],
    }


if __name__ == "__main__":
    json.dump(json_schema(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
