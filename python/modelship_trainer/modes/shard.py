"""Mode shard: score one shard's candidates with stratified CV on the search sample, by successive halving
(search.score_shard). Candidates in the request's `completed` (an earlier attempt's) are not fitted again.
Writes shard.json."""

import os

import pandas as pd

from ..budget import resolve_budget
from ..files import sha256_file, write_json
from ..protocol import CONTRACT_VERSION, ShardFile
from ..search import planned_fits, score_shard, shard_fits
from ..training_data import TARGET_COLUMN, contract_of


def run(request: dict) -> str:
    sample = request["sample"]
    if sha256_file(sample["path"]) != sample["sha256"]:
        raise ValueError(f"{sample['path']} does not match its sha256 {sample['sha256']}")
    frame = pd.read_parquet(sample["path"])
    y = frame.pop(TARGET_COLUMN).to_numpy()
    spec = request["shard"]
    folds = int(request["cv_folds"])
    budget = resolve_budget(request)
    progress = {"done": 0, "total": planned_fits(len(spec["candidates"]), y, folds, budget)}
    candidates = score_shard(frame, y, contract_of(request), spec, folds=folds, seed=int(request["random_state"]), scoring=request["scoring"],
                             budget=budget, deadline=request.get("deadline"), completed=request.get("completed") or {}, progress=progress)
    scored: ShardFile = {
        "contract_version": CONTRACT_VERSION,
        "id": spec["id"],
        "family": spec["family"],
        "candidates": candidates,
        "fits": shard_fits(candidates),
    }
    return write_json(os.path.join(request["output_dir"], "shard.json"), scored)
