"""The training budget: how much of the data the hyperparameter search sees and how long it may run.

The search scores candidates on a stratified sample of the training rows (never the held-out rows); only the
winner is refitted on every training row (up to REFIT_ROWS of them). A bigger sample ranks candidates more reliably and costs more. With
halving, each shard scores its candidates on a third of the sample (or a ninth) first and only the best go on to
the whole sample (search.rung_plan); thorough scores every candidate on the whole sample. The time limit stops the
search from starting new candidates (the first candidate of each shard always runs).
"""

PRESETS = {
    # search_rows: training rows in the stratified search sample; forest_rows_per_tree: max_samples of each
    # random-forest tree (the forest is the family that does not scale); time_limit_s: search time limit;
    # halving: successive halving within each shard.
    "fast": {"search_rows": 20_000, "forest_rows_per_tree": 5_000, "time_limit_s": 120, "halving": True},
    "default": {"search_rows": 60_000, "forest_rows_per_tree": 10_000, "time_limit_s": 300, "halving": True},
    "thorough": {"search_rows": 300_000, "forest_rows_per_tree": 100_000, "time_limit_s": None, "halving": False},
}

# The winner is refitted on at most this many training rows (a stratified sample of them), per preset;
# a duration budget is `default`'s. The refit's rows bound finish's memory (the pipeline holds them as text, as a
# float64 matrix and early stopping's copy of it: about 0.7 KB a row) and its time (linear in the rows); on
# 10,000,000 generated banking rows, 2,000,000 refit rows gave 0.0004 more held-out ROC AUC than 1,000,000
# (docs/training-at-scale.md). Beside PRESETS, not in them: a preset's keys are the trainer protocol's budget.
REFIT_ROWS = {"fast": 500_000, "default": 1_000_000, "thorough": 3_000_000}


def resolve_budget(request: dict) -> dict:
    """The request's budget: {"preset": name, "time_limit_s": seconds or None (None: the preset's)}."""
    given = request.get("training_budget") or {"preset": "default"}
    preset = given.get("preset", "default")
    if preset not in PRESETS:
        raise ValueError(f"training_budget: unknown preset {preset!r} (use fast, default or thorough)")
    budget = {"preset": preset, **PRESETS[preset]}
    if given.get("time_limit_s") is not None:
        budget["time_limit_s"] = float(given["time_limit_s"])
    return budget
