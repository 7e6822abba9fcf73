// endpointMonitor: one window of one endpoint, run by the endpoint's Temporal Schedule (or `modelship monitor
// run-now`). Deterministic code only: the window's end is the run's start time (or the one it was given), every
// side effect is an activity, and the payloads are MLflow and file references, never the captured records.
import { proxyActivities, setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { OrchestrationActivities } from '../activities';
import { durationMs } from '../shared/duration';
import { ENDPOINT, MONITOR_VERDICT } from '../shared/search-attributes';
import { HEAVY, QUICK } from './activity-profiles';
import type { ReleaseStart } from './release-api';
import { startReleaseOnce } from './release-starter';
import { alarmSignature, alarmTriggerOf, monitorStatusQuery, type MonitoredModel, type MonitorResult, type MonitorWindow, type MonitorInput } from './monitor-api';

const quick = proxyActivities<OrchestrationActivities>(QUICK);
const heavy = proxyActivities<OrchestrationActivities>(HEAVY);

export async function endpointMonitor(input: MonitorInput): Promise<MonitorResult> {
  const { endpoint, settings } = input;
  const status: Partial<MonitorResult> & { stage: string } = { stage: 'reading the monitor state' };
  setHandler(monitorStatusQuery, () => status);
  upsertSearchAttributes([
    { key: ENDPOINT, value: endpoint },
    { key: MONITOR_VERDICT, value: 'running' },
  ]);
  const end = new Date(input.windowEnd ?? workflowInfo().startTime).toISOString();

  const served = servedModel(await quick.describeEndpoint({ target: input.target, endpoint }));
  const state = await quick.readMonitorState({ endpoint, deployed: served });
  const window = nextWindow(state.lastWindow, served?.deployedAt, end, settings.every);

  status.stage = `analysing ${window.start} → ${window.end}`;
  const analysis = await heavy.analyzeMonitorWindow({ endpoint, window, settings, run: state.run, reference: state.reference });
  Object.assign(status, analysis);

  const signature = alarmSignature(analysis.alarms);
  const alarmRaised = signature !== '' && signature !== state.lastAlarmSignature;
  let notified: string | undefined;
  if (alarmRaised) {
    status.stage = 'raising the alarm';
    ({ notified } = await quick.raiseMonitorAlarm({ endpoint, run: state.run, result: analysis, signature }));
  }

  let retrain: ReleaseStart | undefined;
  if (alarmRaised && input.onAlarm === 'retrain' && input.release) {
    status.stage = 'starting a retraining release';
    ({ start: retrain } = await startReleaseOnce(input.release, alarmTriggerOf(analysis, workflowInfo().workflowId, end)));
  }

  status.stage = 'writing monitoring.html';
  const report = await quick.writeMonitorReport({ endpoint, run: state.run, qualityRate: settings.qualityRate });
  const result: MonitorResult = { ...analysis, alarmRaised, report, ...(notified ? { notified } : {}), ...(retrain ? { retrain } : {}) };
  Object.assign(status, result, { stage: 'done' });
  upsertSearchAttributes([{ key: MONITOR_VERDICT, value: result.verdict }]);
  setCurrentDetails(verdictDetails(result));
  return result;
}

/** The version on the deployment with the most traffic, and since when, when the target says. */
export function servedModel(endpoint: {
  exists: boolean;
  traffic: Record<string, number>;
  deployments: { name: string; modelName?: string; modelVersion?: string }[];
}): MonitoredModel | undefined {
  if (!endpoint.exists) return undefined;
  const serving = endpoint.deployments.filter((d) => d.modelName && d.modelVersion).sort((a, b) => (endpoint.traffic[b.name] ?? 0) - (endpoint.traffic[a.name] ?? 0))[0];
  if (!serving) return undefined;
  // The local endpoint server reports when a deployment was created; targets that do not leave the window at `every`.
  const createdAt = (serving as { createdAt?: unknown }).createdAt;
  return { name: serving.modelName!, version: serving.modelVersion!, deployment: serving.name, ...(typeof createdAt === 'string' ? { deployedAt: createdAt } : {}) };
}

/**
 * The window after the last one: [last end, end). The first starts at the deployment (when known and before the
 * end), else one period before the end. A run whose end is not after the last window's (a second run-now) takes
 * that window again, which its analysis finds already done.
 */
export function nextWindow(last: MonitorWindow | undefined, deployedAt: string | undefined, end: string, every: string): MonitorWindow {
  const endMs = Date.parse(end);
  if (last && Date.parse(last.end) >= endMs) return last;
  const start = last ? last.end : deployedAt && Date.parse(deployedAt) < endMs ? new Date(deployedAt).toISOString() : new Date(endMs - durationMs(every)).toISOString();
  return { id: `${start}_${end}`, index: last ? last.index + 1 : 0, start, end };
}

/** The Web UI's current details of a monitor run: the verdict and why. */
function verdictDetails(result: MonitorResult): string {
  const head = `**${result.verdict}** · ${result.endpoint} · ${result.window.start} → ${result.window.end} · ${result.records} records`;
  const alarms = result.alarms.map((a) => `- ${a.kind}: ${a.detail}`);
  const retrain = result.retrain
    ? [result.retrain.started ? `retraining: started ${result.retrain.releaseId}` : `retraining: not started, ${result.retrain.running} is running (one release per model)`]
    : [];
  return [head, ...alarms, ...(result.alarms.length && !result.alarmRaised ? ['(same alarm as the last one raised: not sent again)'] : []), ...retrain].join('\n');
}
