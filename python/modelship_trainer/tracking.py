"""Logging a training run to MLflow (parameters, metrics, artifacts)."""

import os

import numpy as np


def log_to_mlflow(request: dict, files: dict, params: dict, metrics: dict) -> dict:
    settings = request.get("mlflow")
    if not settings:
        return {}
    import mlflow

    mlflow.set_tracking_uri(settings["tracking_uri"])
    experiment = mlflow.set_experiment(settings["experiment"])
    with mlflow.start_run(run_name=settings.get("run_name"), tags=settings.get("tags", {})) as run:
        mlflow.log_params(params)
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)})
        for artifact_path, local in files.items():
            mlflow.log_artifact(local, artifact_path=os.path.dirname(artifact_path) or None)
        return {"run_id": run.info.run_id, "experiment_id": experiment.experiment_id, "artifact_uri": run.info.artifact_uri}
