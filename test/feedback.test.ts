// modelship feedback: outcomes checked whole before anything is written (errors name the row and the field), joined
// to captured records by inference id or by a contract id column, with duplicates and replacements counted.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FeedbackError, ingestFeedback } from '../src/client/commands/feedback';
import { capturePartition, CAPTURE_DIR, CAPTURE_FORMAT, FEEDBACK_DIR, type OutcomeRecord } from '../src/shared/capture';

const contract = { target: 'HighAmount', id_columns: ['customer_id'], positive_class: '1' };

function setUp() {
  const stateDir = mkdtempSync(join(tmpdir(), 'modelship-feedback-'));
  const dir = join(stateDir, CAPTURE_DIR, capturePartition('credit', 'blue', new Date('2026-01-02T03:04:05Z')));
  mkdirSync(dir, { recursive: true });
  const record = (id: string) => ({
    format: CAPTURE_FORMAT,
    inference_id: id,
    time: '2026-01-02T03:04:05.000Z',
    endpoint: 'credit',
    deployment: 'blue',
    model: { name: 'm', version: '1', sha256: 'a' },
    input: {},
    prediction: { label: 0, probability: 0.2 },
    latency_ms: 1,
  });
  writeFileSync(join(dir, 'part.jsonl'), ['r1', 'r2', 'r3'].map((id) => `${JSON.stringify(record(id))}\n`).join(''));
  const csv = (name: string, text: string) => {
    const path = join(stateDir, name);
    writeFileSync(path, text);
    return path;
  };
  const written = () => {
    try {
      return readdirSync(join(stateDir, FEEDBACK_DIR, 'credit'));
    } catch {
      return [];
    }
  };
  return { stateDir, csv, written };
}

describe('modelship feedback', () => {
  it('joins outcomes by inference id and counts what did not join and duplicates', async () => {
    const { stateDir, csv, written } = setUp();
    const file = csv('labels.csv', 'inference_id,HighAmount\nr1,1\nr2,0\nr2,1\nzz,0\n');
    const summary = await ingestFeedback({ stateDir, endpoint: 'credit', file, contract, now: new Date('2026-01-03T00:00:00Z') });
    assert.deepEqual({ ...summary, path: undefined }, { path: undefined, rows: 4, joined: 2, notJoined: 1, duplicates: 1, replaced: 0, keyColumn: 'inference_id' });
    assert.equal(written().length, 1);
    const lines = readFileSync(summary.path!, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as OutcomeRecord);
    assert.deepEqual(
      lines.map((o) => [o.inference_id, o.actual]),
      [
        ['r1', 1],
        ['r2', 1],
        ['zz', 0],
      ],
      'the last row of a duplicate id counts',
    );

    const again = await ingestFeedback({ stateDir, endpoint: 'credit', file: csv('more.csv', 'customer_id,HighAmount\nr3,1\nr1,0\n'), contract });
    assert.equal(again.keyColumn, 'customer_id', 'a contract id column keys outcomes when callers sent their own ids');
    assert.equal(again.replaced, 1);
    assert.equal(again.joined, 2);
  });

  it('refuses a file that does not fit, naming the row and the field, and writes nothing', async () => {
    const { stateDir, csv, written } = setUp();
    const cases: [string, RegExp][] = [
      ['id,HighAmount\nr1,1\n', /no inference_id column or an id column of the data contract \(customer_id\)/],
      ['inference_id,label\nr1,1\n', /no HighAmount column/],
      ['inference_id,HighAmount\nr1,1\nr2,\n', /row 3, field HighAmount: empty/],
      ['inference_id,HighAmount\nr1,1\n,0\n', /row 3, field inference_id: empty/],
      ['inference_id,HighAmount\nr1,1\nr2,0\nr3,maybe\n', /row 4, field HighAmount: "maybe" is a third class/],
      ['inference_id,HighAmount\nr1,1,extra\n', /not valid CSV/],
    ];
    for (const [text, message] of cases) {
      await assert.rejects(
        ingestFeedback({ stateDir, endpoint: 'credit', file: csv('bad.csv', text), contract }),
        (error: Error) => error instanceof FeedbackError && message.test(error.message),
        text,
      );
    }
    assert.deepEqual(written(), [], 'nothing half-written');
  });
});
