// blueGreenRollout: puts a model version on the idle colour of an endpoint, proves it healthy before it takes any
// traffic, shifts traffic by plan with a bake and analysis per step, then moves the registry aliases and removes
// the old colour. Every side effect registers its undo before the workflow moves on; on any failure or
// cancellation the undos run in reverse, in a non-cancellable scope, and the failure says what was undone.
import { ApplicationFailure, CancellationScope, isCancellation, proxyActivities, sleep } from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { OrchestrationActivities } from '../activities';
import { QUICK, targetChange } from './activity-profiles';
import { innermostFailure } from './failures';
import type { RolloutFailureDetails, RolloutInput, RolloutResult, RolloutStep } from './rollout-api';

const act = proxyActivities<OrchestrationActivities>(QUICK);

/** Omit over each member of a union (TypeScript's Omit flattens the union). */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function alternateColour(colour: string): string {
  if (colour === 'blue') return 'green';
  if (colour === 'green') return 'blue';
  return colour.endsWith('-b') ? colour.replace(/-b$/, '') : `${colour}-b`;
}

export async function blueGreenRollout(input: RolloutInput): Promise<RolloutResult> {
  const { target, endpoint } = input;
  const { deploymentTimeout: timeout, spec } = input;
  const slow = proxyActivities<OrchestrationActivities>(targetChange(timeout, 'do'));
  const undoActivities = proxyActivities<OrchestrationActivities>(targetChange(timeout, 'undo'));
  const steps: RolloutStep[] = [];
  const note = (step: DistributiveOmit<RolloutStep, 'at'>) => steps.push({ at: new Date().toISOString(), ...step } as RolloutStep);
  const compensations: { description: string; undo: () => Promise<unknown> }[] = [];
  let failedAt = 'reading the endpoint';

  try {
    // The live state. An error reading it fails the rollout: never assume "no deployments".
    const before = await act.describeEndpoint({ target, endpoint });
    const live = Object.entries(before.traffic).sort((a, b) => b[1] - a[1])[0]?.[0];
    const colours = [input.firstColour, alternateColour(input.firstColour)];
    const idle = live ? (colours.includes(live) ? colours.find((c) => c !== live)! : input.firstColour) : input.firstColour;
    note({
      action: 'read endpoint',
      detail: `${before.exists ? `traffic ${JSON.stringify(before.traffic)}` : 'endpoint does not exist yet'}; deploying to ${idle}`,
      data: { exists: before.exists, traffic: before.traffic, idle },
    });

    failedAt = 'creating the endpoint';
    const ensured = await slow.ensureEndpoint({ target, endpoint, timeout });
    if (ensured.created) {
      compensations.push({ description: `deleted endpoint ${endpoint} (created by this rollout)`, undo: () => undoActivities.deleteEndpoint({ target, endpoint, timeout }) });
      note({ action: 'created endpoint', detail: endpoint });
    }

    const stale = before.deployments.find((d) => d.name === idle);
    if (stale) {
      // A colour left at 0 % (no_cleanup) is replaced; it took no traffic, so nothing is lost.
      failedAt = `removing the idle ${idle} deployment`;
      await slow.deleteDeployment({ target, endpoint, deployment: idle, timeout });
      note({ action: 'removed idle deployment', detail: `${idle} (${stale.modelName} v${stale.modelVersion}, 0 % traffic)` });
    }

    failedAt = `deploying to ${idle}`;
    compensations.push({ description: `deleted deployment ${idle}`, undo: () => undoActivities.deleteDeployment({ target, endpoint, deployment: idle, timeout }) });
    await slow.deployModel({ target, endpoint, deployment: idle, model: input.model, spec, timeout });
    note({ action: 'deployed', detail: `${input.model.name} v${input.model.version} to ${idle} at 0 % traffic`, data: { colour: idle, modelName: input.model.name, modelVersion: input.model.version } });

    failedAt = `health checks on ${idle}`;
    const health = await act.healthCheck({
      target, endpoint, deployment: idle, model: input.model, maxLatencyMs: input.maxLatencyMs, maxErrorRate: input.maxErrorRate,
    });
    note({ action: 'health checks passed', detail: health.checks.map((c) => `${c.name}: ${c.detail}`).join('; ') });

    // Traffic by plan; the undo restores the traffic (and mirror) exactly as read before.
    compensations.push({
      description: `restored traffic to ${JSON.stringify(before.traffic)}`,
      undo: () => undoActivities.setTraffic({ target, endpoint, traffic: before.traffic, mirror: before.mirror, timeout }),
    });
    let shadow: RolloutResult['shadow'];
    if (live && input.shadowPercent > 0) {
      failedAt = 'the shadow phase';
      await slow.setTraffic({ target, endpoint, traffic: before.traffic, mirror: { deployment: idle, percent: input.shadowPercent }, timeout });
      const shadowStart = Date.now();
      await sleep(input.shadowTime as Duration);
      const mirrored = await act.analyzeBake({ target, endpoint, deployment: idle, sinceMs: shadowStart, maxErrorRate: input.maxErrorRate, maxLatencyMs: input.maxLatencyMs });
      const compared = mirrored.shadowCompared ?? 0;
      shadow = { percent: input.shadowPercent, compared, agreementRate: compared ? (mirrored.shadowAgreed ?? 0) / compared : null };
      note({
        action: 'shadow',
        detail: `${input.shadowPercent} % mirrored for ${input.shadowTime}: ${compared} predictions compared, agreement ${shadow.agreementRate === null ? 'n/a' : `${(100 * shadow.agreementRate).toFixed(1)} %`}`,
        data: shadow,
      });
    }
    const plan = live ? input.trafficPlan : [100];
    for (const percent of plan) {
      failedAt = `traffic step ${percent} %`;
      const traffic = live && percent < 100 ? { [idle]: percent, [live]: 100 - percent } : { [idle]: 100 };
      await slow.setTraffic({ target, endpoint, traffic, timeout });
      note({ action: 'traffic', detail: JSON.stringify(traffic), data: { traffic } });
      const bakeStart = Date.now();
      await sleep(input.bakeTime as Duration);
      failedAt = `bake analysis at ${percent} %`;
      const metrics = await act.analyzeBake({ target, endpoint, deployment: idle, sinceMs: bakeStart, maxErrorRate: input.maxErrorRate, maxLatencyMs: input.maxLatencyMs });
      note({
        action: 'bake passed',
        detail: `${percent} %: ${metrics.requests} requests, error rate ${(100 * metrics.errorRate).toFixed(2)} %, p95 ${metrics.p95Ms.toFixed(2)} ms${metrics.note ? ` (${metrics.note})` : ''}`,
        data: { percent, requests: metrics.requests, errorRate: metrics.errorRate, p95Ms: metrics.p95Ms },
      });
    }

    // Aliases: production → the new version, previous → the old production version.
    failedAt = 'moving aliases';
    const production = await act.setModelAlias({ modelName: input.modelName, alias: 'production', version: input.model.version });
    compensations.push({
      description: `restored @production to ${production.previousVersion ?? '(none)'}`,
      undo: () => undoActivities.setModelAlias({ modelName: input.modelName, alias: 'production', version: production.previousVersion }),
    });
    if (production.previousVersion && production.previousVersion !== input.model.version) {
      const previous = await act.setModelAlias({ modelName: input.modelName, alias: 'previous', version: production.previousVersion });
      compensations.push({
        description: `restored @previous to ${previous.previousVersion ?? '(none)'}`,
        undo: () => undoActivities.setModelAlias({ modelName: input.modelName, alias: 'previous', version: previous.previousVersion }),
      });
    }
    note({
      action: 'aliases',
      detail: `@production → v${input.model.version}${production.previousVersion ? `, @previous → v${production.previousVersion}` : ''}`,
      data: { production: input.model.version, previous: production.previousVersion },
    });

    // The point of no return: the release stands; cleanup problems are reported, not rolled back.
    let cleanup = 'nothing to clean up (first release)';
    if (live && live !== idle) {
      if (input.noCleanup) cleanup = `kept ${live} at 0 % (no_cleanup)`;
      else {
        await sleep(input.terminationWait as Duration);
        try {
          await slow.deleteDeployment({ target, endpoint, deployment: live, timeout });
          cleanup = `deleted ${live} after ${input.terminationWait}`;
        } catch (error) {
          cleanup = `could not delete ${live}: ${innermostFailure(error).message}`;
        }
      }
      note({ action: 'cleanup', detail: cleanup });
    }
    const after = await act.describeEndpoint({ target, endpoint });
    const previousVersion = live ? before.deployments.find((d) => d.name === live)?.modelVersion : undefined;
    return { outcome: 'succeeded', endpoint, colour: idle, previousColour: live, previousVersion, traffic: after.traffic, scoringUri: after.scoringUri, shadow, steps, cleanup };
  } catch (error) {
    const cause = innermostFailure(error);
    const undone: string[] = [];
    const undoFailures: string[] = [];
    await CancellationScope.nonCancellable(async () => {
      for (const compensation of [...compensations].reverse()) {
        try {
          await compensation.undo();
          undone.push(compensation.description);
        } catch (undoError) {
          undoFailures.push(`${compensation.description}: FAILED (${innermostFailure(undoError).message})`);
        }
      }
    });
    note({ action: 'rolled back', detail: undone.join('; '), data: { undone, undoFailures } });
    const cancelled = isCancellation(error);
    const message =
      (cancelled ? `rollout cancelled at ${failedAt}` : `rollout failed at ${failedAt}: ${cause.message}`) +
      `. Rolled back: ${undone.join('; ') || 'nothing to undo'}` +
      (undoFailures.length ? `. UNDO FAILURES: ${undoFailures.join('; ')}` : '');
    const details: RolloutFailureDetails = { failed: failedAt, evidence: cause.details, undone, undoFailures, steps };
    // A failure, even when cancelled: a cancelled workflow's result keeps neither message nor details, and the
    // parent's report needs both (what was undone).
    throw ApplicationFailure.nonRetryable(message, cancelled ? 'RolloutCancelled' : 'RolloutFailed', details);
  }
}
