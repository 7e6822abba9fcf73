// Orchestration overhead of a release (not a test: it prints numbers): total run time minus the time spent inside
// activities, from the run's event history, plus where the time goes per step.
//   npm run bench:orchestration              the latest closed modelRelease on the stack in the environment
//   npm run bench:orchestration -- <workflow id>
// With `npm run demo` the stack stops at the end: run the demo under `npm run dev` (it then uses that stack).
import { connectClient } from '../src/client/temporal';
import type { ReleaseResult } from '../src/workflows/release-api';

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => (t ? Number(t.seconds) * 1000 + (t.nanos ?? 0) / 1e6 : 0);

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
    const started = new Map<number, number>();
    const intervals: [number, number, string][] = [];
    const names = new Map<number, string>();
    for (const event of events) {
      const id = Number(event.eventId);
      if (event.activityTaskScheduledEventAttributes) names.set(id, event.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
      if (event.activityTaskStartedEventAttributes) started.set(Number(event.activityTaskStartedEventAttributes.scheduledEventId), ms(event.eventTime));
      const closed = event.activityTaskCompletedEventAttributes ?? event.activityTaskFailedEventAttributes ?? event.activityTaskTimedOutEventAttributes;
      if (closed) {
        const scheduledId = Number(closed.scheduledEventId);
        intervals.push([started.get(scheduledId) ?? ms(event.eventTime), ms(event.eventTime), names.get(scheduledId) ?? '?']);
      }
    }
    intervals.sort((a, b) => a[0] - b[0]);
    let inside = 0;
    let end = -Infinity;
    for (const [from, to] of intervals) {
      if (to <= end) continue;
      inside += to - Math.max(from, end);
      end = to;
    }
    let result: ReleaseResult | undefined;
    try {
      result = (await handle.result()) as ReleaseResult;
    } catch {
      result = undefined;
    }
    const waiting = result && result.approval && !result.approval.automatic ? (result.steps.find((s) => s.name === 'approval')?.seconds ?? 0) * 1000 : 0;
    console.log(`release ${workflowId}: ${events.length} history events, ${intervals.length} activity executions`);
    console.log(`total ${(total / 1000).toFixed(2)} s, inside activities ${(inside / 1000).toFixed(2)} s${waiting ? `, waiting for a person ${(waiting / 1000).toFixed(2)} s` : ''}`);
    console.log(`orchestration overhead: ${((total - inside - waiting) / 1000).toFixed(3)} s`);
    if (result) for (const step of result.steps) console.log(`  ${step.name.padEnd(14)} ${step.status.padEnd(9)} ${step.seconds !== undefined ? `${step.seconds.toFixed(2)} s` : ''}`);
    for (const [from, to, name] of intervals) console.log(`  activity ${name.padEnd(26)} ${((to - from) / 1000).toFixed(2)} s`);
  } finally {
    await connection.close();
  }
}

main().catch((error) => {
  console.error(error.message ?? error);
  process.exit(1);
});
