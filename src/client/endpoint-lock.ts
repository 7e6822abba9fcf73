// Reading an endpoint's lock from the CLI: who holds the endpoint, who waits, and what happened last.
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { describeHolder, endpointLockQuery, type EndpointLockState, type HoldProgress } from '../workflows/endpoint-lock-api';
import { operatorProgressQuery } from '../workflows/operator-api';

/** The lock's state, or undefined when no lock run is open (nobody holds or waits: the endpoint is free). */
export async function readEndpointLock(client: Client, lockId: string): Promise<EndpointLockState | undefined> {
  const handle = client.workflow.getHandle(lockId);
  try {
    if ((await handle.describe()).status.name !== 'RUNNING') return undefined;
    return await handle.query(endpointLockQuery);
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return undefined;
    throw error;
  }
}

export function lockLines(endpoint: string, lock: EndpointLockState | undefined): string[] {
  if (!lock?.holder && !lock?.waiting.length) return [`  rollouts: free (no rollout holds ${endpoint})`];
  const lines = [`  rollouts: ${lock.holder ? `held by ${describeHolder(lock.holder)}` : 'being handed to the next'}`];
  lock.waiting.forEach((w, i) => lines.push(`    waiting ${i + 1}: ${describeHolder(w)}`));
  return lines;
}

/**
 * Follows an operator run's hold on its endpoint, printing each change (waiting behind whom, then holding), until
 * it holds or has left the endpoint, or the run ends. Returns the last progress seen.
 */
export async function followHold(handle: WorkflowHandle, print: (line: string) => void, options: { untilHolding: boolean; timeoutMs: number }): Promise<HoldProgress | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  let last: HoldProgress | undefined;
  while (Date.now() < deadline) {
    // Polled, not a pending result call: nothing is left in flight when the caller closes the connection.
    const ended = await handle.describe().then(
      (d) => d.status.name !== 'RUNNING',
      () => false,
    );
    const progress = await handle.query(operatorProgressQuery).catch(() => undefined);
    if (progress && progress.line !== last?.line) print(progress.line);
    last = progress ?? last;
    if (ended || (last && (last.state !== 'waiting' || !options.untilHolding))) return last;
    await sleep(500);
  }
  return last;
}

/** `modelship status` of a deploy or rollback run: what it is, how it stands, and the endpoint it holds or waits for. */
export async function printOperatorStatus(client: Client, handle: WorkflowHandle, type: string, status: string, json?: boolean): Promise<void> {
  const hold = await handle.query(operatorProgressQuery).catch(() => undefined);
  const lock = hold && hold.state !== 'released' ? await readEndpointLock(client, hold.lockId) : undefined;
  if (json) return void console.log(JSON.stringify({ workflowId: handle.workflowId, type, status, endpointHold: hold ?? null, lock: lock ?? null }, null, 2));
  console.log(`${handle.workflowId}: ${type} (${status.toLowerCase()})`);
  if (!hold) return;
  console.log(`  ${hold.line}`);
  if (hold.state !== 'released') for (const line of lockLines(hold.endpoint, lock)) console.log(line);
}
