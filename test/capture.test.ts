// Capture: the writer's bounded queue and batches, drops that never fail a request, the torn-line guarantee, hour
// partitions, inference ids (made or the caller's), sampling, refusals by reason and the mirror left out.
import assert from 'node:assert/strict';
import { appendFile } from 'node:fs/promises';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CaptureWriter, recordTexts } from '../src/serving/capture';
import { EndpointServer } from '../src/serving/endpoint-server';
import { CAPTURE_DIR, CAPTURE_FORMAT, capturePartition, type CaptureRecord, type RefusedRequest } from '../src/shared/capture';
import { LocalTarget } from '../src/targets/local';
import { trainServedModel, type ServedModel } from './support/served-model';

/** Every complete line (ending in "\n") of the files under `root` whose names pass `pick`, by path relative to root. */
function readCaptured<T>(root: string, pick: (name: string) => boolean = (name) => !name.startsWith('refused-')): Map<string, T[]> {
  const files = new Map<string, T[]>();
  if (!existsSync(root)) return files;
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.jsonl') || !pick(entry.name)) continue;
    const path = join(entry.parentPath, entry.name);
    const text = readFileSync(path, 'utf8');
    // What the monitor's reader does: a last line without "\n" may be torn, so it is not data.
    const complete = text.slice(0, text.lastIndexOf('\n') + 1);
    files.set(
      relative(root, path),
      complete
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as T),
    );
  }
  return files;
}

const allLines = <T>(files: Map<string, T[]>): T[] => [...files.values()].flat();

function record(endpoint: string, deployment: string, time: Date, id: string): CaptureRecord {
  return {
    format: CAPTURE_FORMAT,
    inference_id: id,
    time: time.toISOString(),
    endpoint,
    deployment,
    model: { name: 'm', version: '1', sha256: 'abc' },
    input: { Age: 30 },
    prediction: { label: 1, probability: 0.7 },
    latency_ms: 0.5,
  };
}

describe('capture writer', () => {
  it('writes each hour to its partition and refusals beside the records, one line per record', async () => {
    const root = mkdtempSync(join(tmpdir(), 'modelship-capture-'));
    const writer = new CaptureWriter({ root, flushIntervalMs: 60_000 });
    const late = new Date('2024-03-05T07:59:59.999Z');
    const early = new Date('2024-03-05T08:00:00.000Z');
    writer.records([record('e1', 'blue', late, 'a'), record('e1', 'blue', late, 'b')], late);
    writer.records([record('e1', 'blue', early, 'c')], early);
    writer.refused({ format: CAPTURE_FORMAT, time: early.toISOString(), endpoint: 'e1', deployment: 'blue', status: 422, reason: 'missing_field', field: 'Age' }, early);
    assert.equal(writer.queued, 4);
    await writer.flush();
    assert.equal(capturePartition('e1', 'blue', late), 'e1/blue/2024/03/05/07');
    const records = readCaptured<CaptureRecord>(root);
    assert.deepEqual([...records.entries()].map(([path, lines]) => [path, lines.map((line) => line.inference_id)]).sort(), [
      [`e1/blue/2024/03/05/07/${writer.fileName}`, ['a', 'b']],
      [`e1/blue/2024/03/05/08/${writer.fileName}`, ['c']],
    ]);
    const refused = readCaptured<RefusedRequest>(root, (name) => name.startsWith('refused-'));
    assert.deepEqual([...refused.keys()], [`e1/blue/2024/03/05/08/refused-${writer.fileName}`]);
    assert.deepEqual(
      allLines(refused).map((line) => [line.reason, line.field]),
      [['missing_field', 'Age']],
    );
    assert.deepEqual(writer.totals, { written: 4, dropped: 0 });
  });

  it('flushes a full batch at once and the rest after the interval, with one write per file per batch', async () => {
    const root = mkdtempSync(join(tmpdir(), 'modelship-capture-'));
    const writes: number[] = [];
    const writer = new CaptureWriter({
      root,
      batchSize: 3,
      flushIntervalMs: 100,
      append: async (path, chunks) => {
        const data = Buffer.concat(chunks);
        writes.push(data.toString('utf8').split('\n').length - 1);
        await appendFile(path, data);
      },
    });
    const now = new Date();
    writer.records(
      [1, 2, 3].map((i) => record('e1', 'blue', now, `full-${i}`)),
      now,
    );
    await new Promise((resolve) => setImmediate(resolve));
    await writer.flush();
    assert.deepEqual(writes, [3], 'a full batch is written without waiting for the interval');
    writer.records([record('e1', 'blue', now, 'single')], now);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.deepEqual(writes, [3], 'a partial batch waits for the interval');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(writes, [3, 1]);
    assert.equal(allLines(readCaptured<CaptureRecord>(root)).length, 4);
  });

  it('writes served records whole and in order across chunk boundaries, long and non-ASCII lines included', async () => {
    const root = mkdtempSync(join(tmpdir(), 'modelship-capture-'));
    const writer = new CaptureWriter({ root, flushIntervalMs: 60_000, batchSize: 100_000 });
    const now = new Date();
    const sent: { id: string; input: Record<string, unknown> }[] = [];
    const serve = (inputs: Record<string, unknown>[], prefix: string, asText: boolean) => {
      const ids = inputs.map((_, i) => `${prefix}-${i}`);
      inputs.forEach((input, i) => sent.push({ id: ids[i]!, input }));
      const model = { name: 'm', version: '1', sha256: 'abc' };
      const inputTexts = asText ? inputs.map((input) => JSON.stringify(input)) : undefined;
      const labels = inputs.map((_, i) => (i % 2 ? 'yes' : 'no'));
      writer.served({
        endpoint: 'e1',
        deployment: 'blue',
        model,
        at: now,
        latencyMs: 1.23456,
        inputs,
        inputTexts,
        ids,
        labels,
        probabilities: inputs.map(() => 0.25),
        percent: 100,
      });
    };
    // About 1 MB in requests of 10 records: several chunks filled, each request's lines whole in one of them.
    for (let request = 0; request < 300; request++) {
      serve(
        Array.from({ length: 10 }, (_, i) => ({ Age: i, City: i % 7 ? 'Lyon' : 'Zürich 🏔', Request: request })),
        `many-${request}`,
        request % 2 === 0,
      );
    }
    serve([{ Note: 'é'.repeat(200_000) }], 'long', false);
    serve([{ Age: 1 }, { Age: 2 }], 'after', false);
    await writer.flush();
    const lines = allLines(readCaptured<CaptureRecord>(root));
    assert.deepEqual(
      lines.map((line) => [line.inference_id, line.input]),
      sent.map(({ id, input }) => [id, input]),
    );
    assert.deepEqual(lines[1], { ...record('e1', 'blue', now, 'many-0-1'), input: sent[1]!.input, prediction: { label: 'yes', probability: 0.25 }, latency_ms: 1.235 });
    assert.deepEqual(writer.totals, { written: sent.length, dropped: 0 });
  });

  it('drops and counts what does not fit the queue, and keeps what does', async () => {
    const root = mkdtempSync(join(tmpdir(), 'modelship-capture-'));
    const dropped: [string, string, string, number][] = [];
    const writer = new CaptureWriter({ root, queueLimit: 5, batchSize: 100, flushIntervalMs: 60_000, events: { dropped: (...args) => void dropped.push(args) } });
    const now = new Date();
    writer.records(
      [1, 2, 3, 4].map((i) => record('e1', 'blue', now, `r${i}`)),
      now,
    );
    writer.records(
      [5, 6, 7].map((i) => record('e1', 'blue', now, `r${i}`)),
      now,
    );
    writer.refused({ format: CAPTURE_FORMAT, time: now.toISOString(), endpoint: 'e1', deployment: 'blue', status: 400, reason: 'bad_json' }, now);
    assert.equal(writer.queued, 5);
    assert.deepEqual(dropped, [
      ['e1', 'blue', 'queue_full', 2],
      ['e1', 'blue', 'queue_full', 1],
    ]);
    await writer.flush();
    assert.deepEqual(
      allLines(readCaptured<CaptureRecord>(root)).map((line) => line.inference_id),
      ['r1', 'r2', 'r3', 'r4', 'r5'],
    );
    assert.deepEqual(writer.totals, { written: 5, dropped: 3 });
  });

  it('after a write that failed half-way, readers never take the torn line as data and later lines go to a new file', async () => {
    const root = mkdtempSync(join(tmpdir(), 'modelship-capture-'));
    let failNext = false;
    const dropped: number[] = [];
    const writer = new CaptureWriter({
      root,
      flushIntervalMs: 60_000,
      events: { dropped: (_endpoint, _deployment, reason, count) => void (reason === 'write_error' && dropped.push(count)) },
      append: async (path, chunks) => {
        const data = Buffer.concat(chunks);
        if (!failNext) return appendFile(path, data);
        failNext = false;
        // The disk filled up in the middle of the batch: the start of its first line reached the file.
        await appendFile(path, data.subarray(0, 20));
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      },
    });
    const now = new Date();
    writer.records([record('e1', 'blue', now, 'before')], now);
    await writer.flush();
    const first = writer.fileName;
    failNext = true;
    writer.records([record('e1', 'blue', now, 'torn-1'), record('e1', 'blue', now, 'torn-2')], now);
    await writer.flush();
    assert.deepEqual(dropped, [2]);
    assert.notEqual(writer.fileName, first, 'the writer moved to a new file');
    writer.records([record('e1', 'blue', now, 'after')], now);
    await writer.flush();
    const partition = capturePartition('e1', 'blue', now);
    const tornText = readFileSync(join(root, partition, first), 'utf8');
    assert.ok(!tornText.endsWith('\n'), 'the failed write left a torn last line');
    const files = readCaptured<CaptureRecord>(root);
    assert.deepEqual(
      files.get(`${partition}/${first}`)!.map((line) => line.inference_id),
      ['before'],
    );
    assert.deepEqual(
      files.get(`${partition}/${writer.fileName}`)!.map((line) => line.inference_id),
      ['after'],
    );
    assert.deepEqual(writer.totals, { written: 2, dropped: 2 });
  });
});

describe('record texts of a request body', () => {
  it('slices each record of a compact body as sent, and gives up on whitespace or a record that is not an object', () => {
    const records = [{ a: 'x"}],{', b: [1, { c: null }], 'd\\': '\\' }, { e: -1.5e3, f: '\u00e9\n' }, {}];
    const body = JSON.stringify(records);
    assert.deepEqual(
      recordTexts(body),
      records.map((record) => JSON.stringify(record)),
    );
    assert.deepEqual(recordTexts(JSON.stringify(records[0])), [JSON.stringify(records[0])]);
    const sent = '[{"x":1.50,"y":"\\u00e9\\\\"}]';
    assert.deepEqual(recordTexts(sent), ['{"x":1.50,"y":"\\u00e9\\\\"}']);
    assert.deepEqual(JSON.parse(recordTexts(sent)![0]!), (JSON.parse(sent) as unknown[])[0], 'a reader gets the values that were scored');
    for (const refused of ['[{"a":1}, {"b":2}]', '{"a":\n1}', ' {"a":1}', '[{"a":1},2]', '[[1]]', '[{"a":1},null]', '"text"', '12']) {
      assert.equal(recordTexts(refused), undefined, refused);
    }
  });
});

describe('capture on the local endpoint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-capture-endpoint-'));
  let served: ServedModel;
  let server: EndpointServer;
  let target: LocalTarget;
  let auth: Record<string, string>;
  const capturedRoot = () => join(dir, 'serving', CAPTURE_DIR);
  const score = async (body: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${server.url}/endpoints/e1/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as { predictions?: unknown[]; inference_ids?: string[]; error?: { message: string; field?: string } } };
  };
  const captured = async () => {
    await server.capture.flush();
    return allLines(readCaptured<CaptureRecord>(capturedRoot()));
  };

  before(async () => {
    served = await trainServedModel(dir);
    server = new EndpointServer({ stateDir: join(dir, 'serving'), port: 0 });
    await server.start();
    target = new LocalTarget(server.url, join(dir, 'serving'));
    await target.ensureEndpoint('e1');
    await target.createDeployment('e1', 'blue', served.model);
    await target.createDeployment('e1', 'green', served.model);
    await target.setTraffic('e1', { blue: 100 });
    auth = { authorization: `Bearer ${await target.endpointKey('e1')}` };
  });
  after(async () => {
    await server?.stop();
  });

  it('answers an inference id per record, keeps the caller’s, and captures each record without it', async () => {
    const [a, b, c] = served.records;
    const response = await score([{ ...a, inference_id: 'order-17' }, b, { ...c, inference_id: 42 }]);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const ids = response.body.inference_ids!;
    assert.equal(ids.length, 3);
    assert.equal(ids[0], 'order-17');
    assert.match(ids[1]!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(ids[2], '42');
    const lines = await captured();
    assert.deepEqual(
      lines.map((line) => line.inference_id),
      ids,
    );
    const first = lines[0]!;
    assert.deepEqual(first.input, a, 'the raw fields as sent, without the inference id');
    assert.deepEqual([first.endpoint, first.deployment, first.model], ['e1', 'blue', { name: 'm', version: '1', sha256: served.model.sha256 }]);
    assert.deepEqual(
      lines.map((line) => line.prediction.label),
      response.body.predictions,
    );
    assert.ok(first.latency_ms > 0 && Math.abs(Date.parse(first.time) - Date.now()) < 60_000);
    assert.equal(readdirSync(join(capturedRoot(), capturePartition('e1', 'blue', new Date(first.time)))).length, 1);
  });

  it('captures the same input whatever the door; a body that carries records keeps their text as sent', async () => {
    const [a] = served.records;
    // A value's first character as a \u escape: the same string to every JSON reader, but text only a slice of
    // the body keeps.
    const recordText = JSON.stringify(a).replace(/":"(\w)/, (_, char: string) => `":"\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
    assert.notEqual(recordText, JSON.stringify(a), 'the record has a text field');
    assert.deepEqual(JSON.parse(recordText), a);
    const columns = Object.keys(a!);
    const bodies: [string, string, boolean][] = [
      ['records', recordText, true],
      ['dataframe_records', `{"dataframe_records":[${recordText}]}`, true],
      ['instances', `{"instances":[${recordText}]}`, true],
      ['input_data (records)', `{"input_data":[${recordText}]}`, true],
      ['dataframe_split', JSON.stringify({ dataframe_split: { columns, data: [columns.map((column) => a![column])] } }), false],
      ['inputs (columns)', JSON.stringify({ inputs: Object.fromEntries(columns.map((column) => [column, [a![column]]])) }), false],
      ['dataframe_records with params', `{"dataframe_records":[${recordText}],"params":{}}`, false],
    ];
    for (const [door, body, keepsText] of bodies) {
      const response = await score(body);
      assert.equal(response.status, 200, `${door}: ${JSON.stringify(response.body)}`);
      const id = response.body.inference_ids![0]!;
      await server.capture.flush();
      const line = readdirSync(capturedRoot(), { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile() && entry.name.endsWith('.jsonl') && !entry.name.startsWith('refused-'))
        .flatMap((entry) => readFileSync(join(entry.parentPath, entry.name), 'utf8').split('\n'))
        .find((text) => text.includes(`"inference_id":${JSON.stringify(id)}`))!;
      assert.deepEqual((JSON.parse(line) as CaptureRecord).input, a, `${door}: the input as scored`);
      assert.equal(line.includes(`"input":${recordText},`), keepsText, `${door}: ${line}`);
    }
  });

  it('refuses a bad inference id, and counts and writes refusals by reason with their field', async () => {
    const before = (await captured()).length;
    const { Age: _age, ...missing } = served.records[0]!;
    assert.equal((await score(missing)).status, 422);
    assert.equal((await score('{not json')).status, 400);
    const badId = await score({ ...served.records[0], inference_id: 'x'.repeat(200) });
    assert.deepEqual([badId.status, badId.body.error?.field], [422, 'inference_id']);
    assert.equal((await score({ ...served.records[0], Age: 'old' })).status, 422);
    assert.equal((await score(served.records[0], { authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await captured()).length, before, 'refused records are not captured as scored');
    const refused = allLines(readCaptured<RefusedRequest>(capturedRoot(), (name) => name.startsWith('refused-')));
    assert.deepEqual(
      refused.map((line) => [line.status, line.reason, line.field, line.deployment]),
      [
        [422, 'missing_field', 'Age', 'blue'],
        [400, 'bad_json', undefined, 'blue'],
        [422, 'bad_inference_id', 'inference_id', 'blue'],
        [422, 'bad_number', 'Age', 'blue'],
      ],
      'a 401 is counted in /metrics but not written: the caller was not let in',
    );
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /modelship_endpoint_refused_requests_total\{endpoint="e1",deployment="",status="401",reason="unauthorized"\} 1/);
    assert.match(metrics, /modelship_endpoint_refused_requests_total\{endpoint="e1",deployment="blue",status="422",reason="missing_field"\} 1/);
  });

  it('captures the configured share: 0 % none, 50 % about half of a 1000-record request; set by deployment or admin API', async () => {
    const captureState = async () =>
      (await (await fetch(`${server.url}/admin/endpoints/e1/capture`, { headers: { authorization: `Bearer ${server.adminToken}` } })).json()) as { percent: number };
    assert.equal((await captureState()).percent, 100, 'every record by default');
    await target.createDeployment('e1', 'blue', served.model, { capturePercent: 0 });
    assert.equal((await captureState()).percent, 0, 'config capture_percent reaches the endpoint when a colour is deployed');
    const before = (await captured()).length;
    const batch = Array.from({ length: 1000 }, (_, i) => served.records[i % served.records.length]!);
    const none = await score(batch);
    assert.equal(none.body.inference_ids!.length, 1000, 'ids are answered whether or not a record is captured');
    assert.equal((await captured()).length, before);
    await target.setCapture('e1', 50);
    await score(batch);
    const half = (await captured()).length - before;
    assert.ok(half > 400 && half < 600, `50 % of 1000 records captured: ${half}`);
    await assert.rejects(target.setCapture('e1', 101), /capture percent must be a number from 0 to 100/);
    await target.setCapture('e1', 100);
  });

  it('answers 200 when the disk write fails, and counts the capture it dropped', async () => {
    const failing = new EndpointServer({
      stateDir: join(dir, 'serving'),
      port: 0,
      capture: { flushIntervalMs: 10, append: () => Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })) },
    });
    await failing.start();
    try {
      const response = await fetch(`${failing.url}/endpoints/e1/score`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth },
        body: JSON.stringify([served.records[0], served.records[1]]),
      });
      assert.equal(response.status, 200);
      await failing.capture.flush();
      assert.deepEqual(failing.capture.totals, { written: 0, dropped: 2 });
      assert.match(await (await fetch(`${failing.url}/metrics`)).text(), /modelship_capture_dropped_total\{endpoint="e1",deployment="blue",reason="write_error"\} 2/);
    } finally {
      await failing.stop();
    }
  });

  it('does not capture what the mirror answers', async () => {
    await target.setTraffic('e1', { blue: 100 }, { deployment: 'green', percent: 50 });
    for (let i = 0; i < 20; i++) assert.equal((await score(served.records[i])).status, 200);
    await target.setTraffic('e1', { blue: 100 });
    assert.ok((await target.metrics('e1', 'green', 0)).requests > 0, 'the mirror scored some requests');
    assert.ok((await captured()).every((line) => line.deployment === 'blue'));
    assert.ok(!existsSync(join(capturedRoot(), 'e1', 'green')));
  });
});
