// blueGreenRollout: puts a model version on the idle colour of an endpoint, proves it healthy before it takes any
// traffic, shifts traffic by plan with a bake and analysis per step, then moves the registry aliases and removes
// the old colour. Every side effect registers its undo before the workflow moves on; on any failure or
// cancellation the undos run in reverse, in a non-cancellable scope, and the failure says what was undone.
import { ApplicationFailure, CancellationScope, isCancellation, proxyActivities, sleep } from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { OrchestrationActivities } from '../activities';
import { QUICK, targetChange } from './activity-profiles';
import { durationMs } from '../shared/duration';
import { innermostFailure } from './failures';
import type { RolloutFailureDetails, RolloutInput, RolloutResult, RolloutStep } from './rollout-api';

const act = proxyActivities<OrchestrationActivities>(QUICK);

/** Omit over each member of a union (TypeScript's Omit flattens the union). */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type EndpointState = Awaited<ReturnType<OrchestrationActivities['describeEndpoint']>>;

function alternateColour(colour: string): string {
  if (colour === 'blue') return 'green';
  if (colour === 'green') return 'blue';
  return colour.endsWith('-b') ? colour.replace(/-b$/, '') : `${colour}-b`;
}

/** One rollout's progress: where it is (for the failure), what it did (steps), and how to undo it (the saga). */
class RolloutRun {
  readonly steps: RolloutStep[] = [];
  readonly slow: OrchestrationActivities;
  private readonly undoActivities: OrchestrationActivities;
  private readonly compensations: { description: string; undo: () => Promise<unknown> }[] = [];
  failedAt = 'reading the endpoint';

  constructor(readonly input: RolloutInput) {
    this.slow = proxyActivities<OrchestrationActivities>(targetChange(input.deploymentTimeout, 'do'));
    this.undoActivities = proxyActivities<OrchestrationActivities>(targetChange(input.deploymentTimeout, 'undo'));
  }

  note(step: DistributiveOmit<RolloutStep, 'at'>): void {
    this.steps.push({ at: new Date().toISOString(), ...step } as RolloutStep);
  }

  /** Registers the undo of what was just done (or is about to be), with the words the failure will use. */
  compensate(description: string, undo: (activities: OrchestrationActivities) => Promise<unknown>): void {
    this.compensations.push({ description, undo: () => undo(this.undoActivities) });
  }

  /** Runs every undo in reverse, not cancellable; returns the failure that says what was undone. */
  async rollBack(error: unknown): Promise<ApplicationFailure> {
    const cause = innermostFailure(error);
    const undone: string[] = [];
    const undoFailures: string[] = [];
    await CancellationScope.nonCancellable(async () => {
      for (const compensation of [...this.compensations].reverse()) {
        try {
          await compensation.undo();
          undone.push(compensation.description);
        } catch (undoError) {
          undoFailures.push(`${compensation.description}: FAILED (${innermostFailure(undoError).message})`);
        }
      }
    });
    this.note({ action: 'rolled back', detail: undone.join('; '), data: { undone, undoFailures } });
    const cancelled = isCancellation(error);
    const message =
      (cancelled ? `rollout cancelled at ${this.failedAt}` : `rollout failed at ${this.failedAt}: ${cause.message}`) +
      `. Rolled back: ${undone.join('; ') || 'nothing to undo'}` +
      (undoFailures.length ? `. UNDO FAILURES: ${undoFailures.join('; ')}` : '');
    const details: RolloutFailureDetails = { failed: this.failedAt, evidence: cause.details, undone, undoFailures, steps: this.steps };
    // A failure, even when cancelled: a cancelled workflow's result keeps neither message nor details, and the
    // parent's report needs both (what was undone).
    return ApplicationFailure.nonRetryable(message, cancelled ? 'RolloutCancelled' : 'RolloutFailed', details);
  }
}

export async function blueGreenRollout(input: RolloutInput): Promise<RolloutResult> {
  const { target, endpoint, deploymentTimeout: timeout } = input;
  const run = new RolloutRun(input);
  try {
    // The live state. An error reading it fails the rollout: never assume "no deployments".
    const before = await act.describeEndpoint({ target, endpoint });
    const live = Object.entries(before.traffic).sort((a, b) => b[1] - a[1])[0]?.[0];
    const colours = [input.firstColour, alternateColour(input.firstColour)];
    const idle = live ? (colours.includes(live) ? colours.find((c) => c !== live)! : input.firstColour) : input.firstColour;
    run.note({
      action: 'read endpoint',
      detail: `${before.exists ? `traffic ${JSON.stringify(before.traffic)}` : 'endpoint does not exist yet'}; deploying to ${idle}`,
      data: { exists: before.exists, traffic: before.traffic, idle },
    });

    await deployIdle(run, before, idle);
    // Traffic by plan; the undo restores the traffic (and mirror) exactly as read before.
    run.compensate(`restored traffic to ${JSON.stringify(before.traffic)}`, (undo) =>
      undo.setTraffic({ target, endpoint, traffic: before.traffic, mirror: before.mirror, timeout }),
    );
    const shadow = live && input.shadowPercent > 0 ? await shadowPhase(run, before, idle) : undefined;
    for (const percent of live ? input.trafficPlan : [100]) await trafficStep(run, percent, idle, live);
    if (input.soakTime && durationMs(input.soakTime) > 0) await soak(run, idle, input.soakTime);
    if (input.smokeTests) await smokeTests(run, idle);
    await moveAliases(run);
    const cleanup = live && live !== idle ? await removeOldColour(run, live) : 'nothing to clean up (first release)';

    const after = await act.describeEndpoint({ target, endpoint });
    const previousVersion = live ? before.deployments.find((d) => d.name === live)?.modelVersion : undefined;
    return {
      outcome: 'succeeded',
      endpoint,
      colour: idle,
      previousColour: live,
      previousVersion,
      traffic: after.traffic,
      scoringUri: after.scoringUri,
      shadow,
      steps: run.steps,
      cleanup,
    };
  } catch (error) {
    throw await run.rollBack(error);
  }
}

/** Makes sure the endpoint exists, frees the idle colour, deploys the model there at 0 % and health-checks it directly. */
async function deployIdle(run: RolloutRun, before: EndpointState, idle: string): Promise<void> {
  const { input, slow } = run;
  const { target, endpoint, deploymentTimeout: timeout } = input;
  run.failedAt = 'creating the endpoint';
  const ensured = await slow.ensureEndpoint({ target, endpoint, timeout });
  if (ensured.created) {
    run.compensate(`deleted endpoint ${endpoint} (created by this rollout)`, (undo) => undo.deleteEndpoint({ target, endpoint, timeout }));
    run.note({ action: 'created endpoint', detail: endpoint });
  }

  const stale = before.deployments.find((d) => d.name === idle);
  if (stale) {
    // A colour left at 0 % (no_cleanup) is replaced; it took no traffic, so nothing is lost.
    run.failedAt = `removing the idle ${idle} deployment`;
    await slow.deleteDeployment({ target, endpoint, deployment: idle, timeout });
    run.note({ action: 'removed idle deployment', detail: `${idle} (${stale.modelName} v${stale.modelVersion}, 0 % traffic)` });
  }

  run.failedAt = `deploying to ${idle}`;
  run.compensate(`deleted deployment ${idle}`, (undo) => undo.deleteDeployment({ target, endpoint, deployment: idle, timeout }));
  await slow.deployModel({ target, endpoint, deployment: idle, model: input.model, spec: input.spec, timeout });
  run.note({
    action: 'deployed',
    detail: `${input.model.name} v${input.model.version} to ${idle} at 0 % traffic`,
    data: { colour: idle, modelName: input.model.name, modelVersion: input.model.version },
  });

  run.failedAt = `health checks on ${idle}`;
  const health = await act.healthCheck({ target, endpoint, deployment: idle, model: input.model, maxLatencyMs: input.maxLatencyMs, maxErrorRate: input.maxErrorRate });
  run.note({ action: 'health checks passed', detail: health.checks.map((c) => `${c.name}: ${c.detail}`).join('; ') });
}

/** Mirrors a share of live requests to the idle colour and compares its predictions, before it takes any traffic. */
async function shadowPhase(run: RolloutRun, before: EndpointState, idle: string): Promise<NonNullable<RolloutResult['shadow']>> {
  const { input } = run;
  const { target, endpoint, maxErrorRate, maxLatencyMs } = input;
  run.failedAt = 'the shadow phase';
  await run.slow.setTraffic({ target, endpoint, traffic: before.traffic, mirror: { deployment: idle, percent: input.shadowPercent }, timeout: input.deploymentTimeout });
  const shadowStart = Date.now();
  await sleep(input.shadowTime as Duration);
  const mirrored = await act.analyzeBake({ target, endpoint, deployment: idle, sinceMs: shadowStart, maxErrorRate, maxLatencyMs });
  const compared = mirrored.shadowCompared ?? 0;
  const shadow = { percent: input.shadowPercent, compared, agreementRate: compared ? (mirrored.shadowAgreed ?? 0) / compared : null };
  const agreement = shadow.agreementRate === null ? 'n/a' : `${(100 * shadow.agreementRate).toFixed(1)} %`;
  run.note({ action: 'shadow', detail: `${input.shadowPercent} % mirrored for ${input.shadowTime}: ${compared} predictions compared, agreement ${agreement}`, data: shadow });
  return shadow;
}

/** One step of the traffic plan: the new colour takes `percent`, bakes, and its error rate and latency are analysed. */
async function trafficStep(run: RolloutRun, percent: number, idle: string, live: string | undefined): Promise<void> {
  const { target, endpoint, maxErrorRate, maxLatencyMs } = run.input;
  run.failedAt = `traffic step ${percent} %`;
  const traffic = live && percent < 100 ? { [idle]: percent, [live]: 100 - percent } : { [idle]: 100 };
  await run.slow.setTraffic({ target, endpoint, traffic, timeout: run.input.deploymentTimeout });
  run.note({ action: 'traffic', detail: JSON.stringify(traffic), data: { traffic } });
  const bakeStart = Date.now();
  await sleep(run.input.bakeTime as Duration);
  run.failedAt = `bake analysis at ${percent} %`;
  const metrics = await act.analyzeBake({ target, endpoint, deployment: idle, sinceMs: bakeStart, maxErrorRate, maxLatencyMs });
  run.note({
    action: 'bake passed',
    detail: `${percent} %: ${metrics.requests} requests, error rate ${(100 * metrics.errorRate).toFixed(2)} %, p95 ${metrics.p95Ms.toFixed(2)} ms${metrics.note ? ` (${metrics.note})` : ''}`,
    data: { percent, requests: metrics.requests, errorRate: metrics.errorRate, p95Ms: metrics.p95Ms },
  });
}

/** An environment's soak: the new colour serves all traffic for soakTime, then its error rate and latency are analysed. */
async function soak(run: RolloutRun, idle: string, soakTime: string): Promise<void> {
  const { target, endpoint, maxErrorRate, maxLatencyMs } = run.input;
  run.failedAt = `soak (${soakTime})`;
  const since = Date.now();
  await sleep(soakTime as Duration);
  const metrics = await act.analyzeBake({ target, endpoint, deployment: idle, sinceMs: since, maxErrorRate, maxLatencyMs });
  run.note({
    action: 'soak passed',
    detail: `${soakTime} at 100 %: ${metrics.requests} requests, error rate ${(100 * metrics.errorRate).toFixed(2)} %, p95 ${metrics.p95Ms.toFixed(2)} ms`,
    data: { soakTime, requests: metrics.requests, errorRate: metrics.errorRate, p95Ms: metrics.p95Ms },
  });
}

/** Smoke tests: held-out rows scored through the live colour give the evaluated answers, within the error and latency limits. */
async function smokeTests(run: RolloutRun, idle: string): Promise<void> {
  const { target, endpoint, model, maxErrorRate, maxLatencyMs } = run.input;
  run.failedAt = 'smoke tests';
  const checked = await act.healthCheck({ target, endpoint, deployment: idle, model, maxErrorRate, maxLatencyMs });
  run.note({
    action: 'smoke tests passed',
    detail: `${checked.metrics.requests} held-out rows through ${endpoint}/${idle}: ${checked.checks.map((c) => c.detail).join('; ')}`,
    data: checked.metrics,
  });
}

/** Aliases: the alias (production) → the new version, previous → the version it named before. */
async function moveAliases(run: RolloutRun): Promise<void> {
  const { modelName, model } = run.input;
  const alias = run.input.alias ?? 'production';
  const previousAlias = alias === 'production' ? 'previous' : `${alias}-previous`;
  run.failedAt = 'moving aliases';
  const moved = await act.setModelAlias({ modelName, alias, version: model.version });
  run.compensate(`restored @${alias} to ${moved.previousVersion ?? '(none)'}`, (undo) => undo.setModelAlias({ modelName, alias, version: moved.previousVersion }));
  if (moved.previousVersion && moved.previousVersion !== model.version) {
    const previous = await act.setModelAlias({ modelName, alias: previousAlias, version: moved.previousVersion });
    run.compensate(`restored @${previousAlias} to ${previous.previousVersion ?? '(none)'}`, (undo) =>
      undo.setModelAlias({ modelName, alias: previousAlias, version: previous.previousVersion }),
    );
  }
  run.note({
    action: 'aliases',
    detail: `@${alias} → v${model.version}${moved.previousVersion ? `, @${previousAlias} → v${moved.previousVersion}` : ''}`,
    data: { production: model.version, previous: moved.previousVersion, ...(run.input.alias ? { alias } : {}) },
  });
}

/** The point of no return: the release stands; a cleanup problem is reported, not rolled back. */
async function removeOldColour(run: RolloutRun, live: string): Promise<string> {
  const { input } = run;
  let cleanup: string;
  if (input.noCleanup) cleanup = `kept ${live} at 0 % (no_cleanup)`;
  else {
    await sleep(input.terminationWait as Duration);
    try {
      await run.slow.deleteDeployment({ target: input.target, endpoint: input.endpoint, deployment: live, timeout: input.deploymentTimeout });
      cleanup = `deleted ${live} after ${input.terminationWait}`;
    } catch (error) {
      cleanup = `could not delete ${live}: ${innermostFailure(error).message}`;
    }
  }
  run.note({ action: 'cleanup', detail: cleanup });
  return cleanup;
}
