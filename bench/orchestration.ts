// Orchestration overhead of a release (not a test: it prints numbers): total run time minus the time spent inside
// activities, from the run's event history, plus where the time goes per step.
//   npm run bench:orchestration              the latest closed modelRelease on the stack in the environment
//   npm run bench:orchestration -- <workflow id>
// With `npm run demo` the stack stops at the end: run the demo under `npm run dev` (it then uses that stack).
import { connectClient } from '../src/client/temporal';
import type { ReleaseResult } from '../src/workflows/release-api';
import { activitySpans, ms, runningMs } from './history';

async function main() {
  const { client, connection } = await connectClient();
  try {
    let workflowId = process.argv[2];
    if (!workflowId) {
      for await (const run of client.workflow.list({ query: `WorkflowType = 'modelRelease' AND ExecutionStatus != 'Running'` })) {
        workflowId = run.workflowId;
        break;
      }
    }
    if (!workflowId) throw new Error('no closed modelRelease run found: run `npm run demo` under `npm run dev` first');
    const handle = client.workflow.getHandle(workflowId);
    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    const total = ms(events[events.length - 1]!.eventTime) - ms(events[0]!.eventTime);
    const intervals = activitySpans(events).filter((s) => s.ended > 0);
    const inside = runningMs(intervals);
    let result: ReleaseResult | undefined;
    try {
      result = (await handle.result()) as ReleaseResult;
    } catch {
      result = undefined;
    }
    const waiting = result && result.approval && !result.approval.automatic ? (result.steps.find((s) => s.name === 'approval')?.seconds ?? 0) * 1000 : 0;
    console.log(`release ${workflowId}: ${events.length} history events, ${intervals.length} activity executions`);
    console.log(
      `total ${(total / 1000).toFixed(2)} s, inside activities ${(inside / 1000).toFixed(2)} s${waiting ? `, waiting for a person ${(waiting / 1000).toFixed(2)} s` : ''}`,
    );
    console.log(`orchestration overhead: ${((total - inside - waiting) / 1000).toFixed(3)} s`);
    if (result)
      for (const step of result.steps) console.log(`  ${step.name.padEnd(14)} ${step.status.padEnd(9)} ${step.seconds !== undefined ? `${step.seconds.toFixed(2)} s` : ''}`);
    for (const span of intervals) console.log(`  activity ${span.name.padEnd(26)} ${((span.ended - (span.started || span.ended)) / 1000).toFixed(2)} s`);
  } finally {
    await connection.close();
  }
}

main().catch((error) => {
  console.error(error.message ?? error);
  process.exit(1);
});
