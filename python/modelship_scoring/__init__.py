"""The scoring code of an Azure ML managed online deployment: score.py (init/run) and records.py (value rules).

This folder is uploaded as the deployment's code asset, so its files import each other as top-level modules."""
