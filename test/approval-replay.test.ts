// Releases recorded with the code at 31fdae8 (before signed approvals) replay with today's workflow code: approve and
// reject by Update and by Signal (with refused messages), and a release still waiting for approval. The gate asks
// patched('signed-approvals') when its wait begins, so these keep the old path.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';

const dir = join(__dirname, 'histories', 'approval-31fdae8');

describe('approval histories recorded before signed approvals', () => {
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.json')).sort()) {
    it(`replays ${file}`, async () => {
      const history = historyFromJSON(JSON.parse(readFileSync(join(dir, file), 'utf8')));
      await Worker.runReplayHistory({ workflowsPath: require.resolve('../src/workflows') }, history, file);
    });
  }
});
