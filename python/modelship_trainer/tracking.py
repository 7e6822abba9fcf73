"""Logging a training run to MLflow (parameters, metrics, artifacts)."""

import os

import numpy as np

from .protocol import MlflowRun


def _connect(settings: dict):
    import mlflow

    mlflow.set_tracking_uri(settings["tracking_uri"])
    return mlflow, mlflow.set_experiment(settings["experiment"])


def open_run(request: dict) -> MlflowRun | None:
    """The release's training run, created once: a retried or repeated prepare finds the run it made (by the
    run's tags), so one release has one training run whichever worker prepares it."""
    settings = request.get("mlflow")
    if not settings:
        return None  # no tracking server (the trainer's own tests)
    mlflow, experiment = _connect(settings)
    tags = settings.get("tags", {})
    query = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items() if k in ("modelship.workflow_id", "modelship.step"))
    found = mlflow.search_runs([experiment.experiment_id], filter_string=query, output_format="list", max_results=1) if query else []
    run = found[0] if found else mlflow.MlflowClient().create_run(experiment.experiment_id, tags=tags, run_name=settings.get("run_name"))
    return {"run_id": run.info.run_id, "experiment_id": experiment.experiment_id, "artifact_uri": run.info.artifact_uri}


def log_to_mlflow(request: dict, files: dict, params: dict, metrics: dict) -> MlflowRun | None:
    """Logs to the request's run (mlflow.run_id, opened by prepare) or to a new run."""
    settings = request.get("mlflow")
    if not settings:
        return None  # no tracking server (the trainer's own tests)
    mlflow, experiment = _connect(settings)
    run_id = settings.get("run_id")
    opened = mlflow.start_run(run_id=run_id) if run_id else mlflow.start_run(run_name=settings.get("run_name"), tags=settings.get("tags", {}))
    with opened as run:
        mlflow.log_params(params)
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)})
        for artifact_path, local in files.items():
            mlflow.log_artifact(local, artifact_path=os.path.dirname(artifact_path) or None)
        return {"run_id": run.info.run_id, "experiment_id": experiment.experiment_id, "artifact_uri": run.info.artifact_uri}
