"""Fixtures: the banking rows the TypeScript generator makes (src/data/generate.ts) and the default data contract
(config/default.yaml), so the trainer is tested on the data a release trains on."""

import json
import os
import subprocess

import pytest

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_GENERATE = """
const { generateBankingCsv } = require('./src/data/generate');
const { loadConfig } = require('./src/config/load');
const [rows, seed, out] = process.argv.slice(1);
generateBankingCsv({ rows: Number(rows), seed: Number(seed), out }).then(() =>
  console.log(JSON.stringify(loadConfig({ path: 'config/default.yaml' }).config.data)));
"""


def _node(rows: int, seed: int, out: str) -> dict:
    run = subprocess.run(["node", "--import", "tsx", "-e", _GENERATE, str(rows), str(seed), out],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def bank(tmp_path_factory):
    """bank(rows, seed) -> (path of a generated banking CSV, the default config's data contract)."""
    made: dict = {}
    folder = tmp_path_factory.mktemp("bank")

    def make(rows: int, seed: int):
        if (rows, seed) not in made:
            path = str(folder / f"bank-{rows}-{seed}.csv")
            made[(rows, seed)] = (path, _node(rows, seed, path))
        return made[(rows, seed)]

    return make


@pytest.fixture
def typed_bank(bank):
    """typed_bank(rows, seed) -> (typed data as the trainer reads it, its input contract)."""
    from modelship_trainer.features import build_input_contract
    from modelship_trainer.loading import read_typed

    def read(rows: int, seed: int):
        path, data = bank(rows, seed)
        contract = build_input_contract(data)
        return read_typed(path, data, contract), contract

    return read
