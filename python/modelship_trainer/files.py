"""The files a mode writes: complete or absent (written atomically), named with their sha256."""

import hashlib
import json
import os

from .protocol import FileRef


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_ref(path: str) -> FileRef:
    return {"path": path, "sha256": sha256_file(path)}


def write_json(path: str, value) -> str:
    with open(path + ".tmp", "w") as handle:
        json.dump(value, handle, indent=2)
    os.replace(path + ".tmp", path)  # atomic: a reader never sees half a file
    return path
