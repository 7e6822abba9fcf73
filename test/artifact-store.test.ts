// The artifact store against the test run's MLflow: upload, fetch by digest (local file, cache, download), the
// run's current copy, and MLflow being down said as such. And the metric tags a registered version carries.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { metricTags } from '../src/activities/registry';
import { ArtifactStore } from '../src/registry/artifact-store';
import { MlflowClient } from '../src/registry/mlflow';
import { mlflowUri } from './support/temporal';

describe('artifact store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-store-'));
  const run = `mlflow-artifacts:/store-test/${randomUUID()}`;

  it('uploads a file with its digest; fetches it where it lies, else from the cache, else from MLflow', async () => {
    const store = new ArtifactStore(new MlflowClient(mlflowUri()), join(dir, 'cache'));
    const local = join(dir, 'scores.json');
    writeFileSync(local, '{"labels":[1,0]}');
    const ref = await store.upload(run, 'evaluation/scores.json', local);
    assert.deepEqual({ ...ref, sha256: ref.sha256.length }, { path: local, sha256: 64, artifactUri: run, artifactPath: 'evaluation/scores.json' });
    assert.equal(await store.fetch(ref), local, 'an intact local file is used where it lies');

    rmSync(local);
    const fetched = await store.fetch(ref);
    assert.equal(fetched, join(dir, 'cache', ref.sha256, 'scores.json'));
    assert.equal(readFileSync(fetched, 'utf8'), '{"labels":[1,0]}');
    // Cached: a store whose MLflow is gone still answers.
    const offline = new ArtifactStore(new MlflowClient('http://127.0.0.1:1'), join(dir, 'cache'));
    assert.equal(await offline.fetchFile(run, 'evaluation/scores.json', { path: '', sha256: ref.sha256 }), fetched);
  });

  it('refuses a file whose digest is not the expected one', async () => {
    const store = new ArtifactStore(new MlflowClient(mlflowUri()), join(dir, 'cache-tampered'));
    await store.put(run, 'model/model.onnx', 'not the model');
    await assert.rejects(store.fetchFile(run, 'model/model.onnx', { path: '', sha256: '0'.repeat(64) }), /has sha256 [0-9a-f]{64}, expected 0{64}/);
    assert.equal(existsSync(join(dir, 'cache-tampered', '0'.repeat(64), 'model.onnx')), true, 'the download is kept where the digest names it, and checked again next time');
  });

  it("fetches a run's current copy of an artifact, or undefined when the run has none", async () => {
    const store = new ArtifactStore(new MlflowClient(mlflowUri()), join(dir, 'cache-latest'));
    await store.put(run, 'review/data_sketch.json', '{"rows":1}');
    const latest = await store.fetchLatest(run, 'review/data_sketch.json');
    assert.equal(latest && readFileSync(latest.path, 'utf8'), '{"rows":1}');
    assert.equal(await store.fetchLatest(run, 'review/absent.json'), undefined);
  });

  it('says an unreachable MLflow as such', async () => {
    const store = new ArtifactStore(new MlflowClient('http://127.0.0.1:1'), join(dir, 'cache-down'));
    await assert.rejects(store.fetchFile(run, 'a.json', { path: '', sha256: '1'.repeat(64) }), /MLflow at http:\/\/127\.0\.0\.1:1 is unreachable/);
    const local = join(dir, 'up.json');
    writeFileSync(local, '{}');
    await assert.rejects(store.upload(run, 'up.json', local), /MLflow at http:\/\/127\.0\.0\.1:1 is unreachable/);
  });
});

describe('registered version tags', () => {
  it('hold numbers as numbers and the confusion matrix as JSON, never [object Object]', () => {
    const tags = metricTags({ roc_auc: 0.91, rows: 300, confusion_matrix: { tp: 1, fp: 2, tn: 3, fn: 4 } });
    assert.deepEqual(tags, { 'metric.roc_auc': '0.91', 'metric.rows': '300', 'metric.confusion_matrix': '{"tp":1,"fp":2,"tn":3,"fn":4}' });
  });
});
