"""The trainer's modes, one module each; a mode reads the request and returns the path of the file it wrote."""

from . import finish, prepare, shard

MODES = {"prepare": prepare.run, "shard": shard.run, "finish": finish.run}
