// `modelship monitor enable|disable|status|run-now|report <endpoint>`: the endpoint's monitor as a Temporal Schedule
// (monitor-<endpoint>, visible in the Web UI's Schedules page and `temporal schedule list`), a run by hand, and where
// its page is. enable and disable are idempotent.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import type { Command } from 'commander';
import type { ReleaseConfig } from '../../config/schema';
import { mlflowTrackingUri, stateDir, taskQueues } from '../../config/environment';
import { MlflowClient } from '../../registry/mlflow';
import { durationMs } from '../../shared/duration';
import { ENDPOINT } from '../../shared/search-attributes';
import { monitorScheduleId, type MonitorAlarm, type MonitorInput, type MonitorResult, type MonitorSettings } from '../../workflows/monitor-api';
import { awaitResult, releaseTemplate, workflowUrl } from '../release';
import { upsertSchedule } from '../schedules';
import { failureMessage, withClient } from '../temporal';
import { configFromFlags } from './release';
import { systemOpener } from './report';

/** The monitor's settings from the config's `monitor:` block, `every` overridden by --every. */
export function monitorSettingsOf(config: Pick<ReleaseConfig, 'monitor'>, every?: string): MonitorSettings {
  const m = config.monitor;
  return {
    every: every ?? m.every,
    labelDelay: m.label_delay,
    minLabelled: m.min_labelled,
    minRecords: m.min_records,
    falseAlarmRate: m.false_alarm_rate,
    qualityRate: m.quality_rate,
    decayTolerance: m.decay_tolerance,
  };
}

/** The schedule of an endpoint's monitor: every `every`, one run at a time, no burst of stale runs after an outage. */
export function monitorSchedule(input: MonitorInput, taskQueue: string): ScheduleOptions {
  const every = durationMs(input.settings.every);
  return {
    scheduleId: monitorScheduleId(input.endpoint),
    spec: { intervals: [{ every }] },
    action: {
      type: 'startWorkflow',
      workflowType: 'endpointMonitor',
      taskQueue,
      args: [input],
      workflowId: monitorScheduleId(input.endpoint),
      typedSearchAttributes: [{ key: ENDPOINT, value: input.endpoint }],
    },
    policies: {
      overlap: ScheduleOverlapPolicy.SKIP,
      // Missed runs older than one period are skipped: the next run's window starts where the last one ended anyway.
      catchupWindow: every,
      // A failing monitor (MLflow gone, a model without a sketch) stops and says so instead of failing every period.
      pauseOnFailure: true,
    },
    state: { note: `modelship monitor of ${input.endpoint} (${input.target}), every ${input.settings.every}` },
  };
}

/** Creates the schedule, or updates it to these options when it exists: enabling twice gives one schedule. */
export async function enableMonitor(client: Client, input: MonitorInput, taskQueue: string): Promise<'created' | 'updated'> {
  const options = monitorSchedule(input, taskQueue);
  return upsertSchedule(client, options, (previous) => ({ ...previous, note: options.state?.note }));
}

/** Deletes the schedule; true when there was one. Runs already started finish. */
export async function disableMonitor(client: Client, endpoint: string): Promise<boolean> {
  try {
    await client.schedule.getHandle(monitorScheduleId(endpoint)).delete();
    return true;
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return false;
    throw error;
  }
}

/** A run by hand: its window ends now; the workflow id says so and cannot clash with the schedule's runs. */
export async function runMonitorNow(client: Client, input: MonitorInput, taskQueue: string) {
  const windowEnd = input.windowEnd ?? new Date().toISOString();
  return client.workflow.start('endpointMonitor', {
    taskQueue,
    workflowId: `${monitorScheduleId(input.endpoint)}-now-${windowEnd.replace(/[:.]/g, '-')}`,
    args: [{ ...input, windowEnd }],
    typedSearchAttributes: [{ key: ENDPOINT, value: input.endpoint }],
    staticSummary: `Monitor ${input.endpoint}: the window ending ${windowEnd}`,
  });
}

export function alarmLines(alarms: readonly MonitorAlarm[]): string[] {
  return alarms.map((a) => `  ${a.kind} [${a.features.join(', ')}]: ${a.detail}`);
}

export function verdictLines(result: MonitorResult): string[] {
  const lines = [`${result.endpoint}: ${result.verdict} for ${result.window.start} → ${result.window.end} (${result.records} records, ${result.refused} refused)`];
  lines.push(...alarmLines(result.alarms));
  if (result.alarms.length)
    lines.push(result.alarmRaised ? `  alarm raised${result.notified ? `; ${result.notified}` : ''}` : '  same alarm as the last one raised: not sent again');
  if (!result.performance.reported) lines.push(`  performance: not reported (${result.performance.why})`);
  else
    lines.push(
      `  ROC AUC ${result.performance.rocAuc.value.toFixed(3)} [${result.performance.rocAuc.low.toFixed(3)}, ${result.performance.rocAuc.high.toFixed(3)}] on ${result.performance.labelled} labelled records`,
    );
  if (result.retrain)
    lines.push(
      result.retrain.started
        ? `  retraining: started ${result.retrain.releaseId} (modelship status ${result.retrain.workflowId})`
        : `  retraining: not started: ${result.retrain.running} is running (one release per model)`,
    );
  if (result.report) lines.push(`  page: ${result.report.path}${result.report.mlflowUrl ? `\n  in MLflow: ${result.report.mlflowUrl}` : ''}`);
  return lines;
}

interface MonitorFlags {
  config: string;
  every?: string;
}

/** The monitor of an endpoint from the config; with monitor.on_alarm: retrain, the release a raised alarm starts. */
function monitorInput(endpoint: string, options: MonitorFlags, namespace: string): MonitorInput {
  const config = configFromFlags({ config: options.config });
  if (options.every) durationMs(options.every);
  const retrain = config.monitor.on_alarm === 'retrain';
  return {
    target: config.target,
    endpoint,
    settings: monitorSettingsOf(config, options.every),
    onAlarm: config.monitor.on_alarm,
    ...(retrain ? { release: releaseTemplate(config, namespace) } : {}),
  };
}

const configOption = ['-c, --config <file>', 'YAML config with the monitor: settings and the target', 'config/default.yaml'] as const;

export function registerMonitorCommands(program: Command): void {
  const monitor = program.command('monitor').description('watch an endpoint for drift, decay and data quality on a Temporal Schedule (docs/monitoring.md)');

  monitor
    .command('enable <endpoint>')
    .description('create (or update) the Schedule monitor-<endpoint>: a window every period, one run at a time, paused on failure')
    .option('--every <duration>', 'how often, and so the window length, e.g. 15m, 1h (default: monitor.every in the config)')
    .option(...configOption)
    .action(async (endpoint: string, options: MonitorFlags) => {
      await withClient(async (client, namespace) => {
        const input = monitorInput(endpoint, options, namespace);
        const how = await enableMonitor(client, input, taskQueues().orchestration);
        console.log(`${how} schedule ${monitorScheduleId(endpoint)}: every ${input.settings.every}, overlap skip, catch-up ${input.settings.every}, paused on failure`);
        console.log(
          input.release
            ? `on an alarm: retrain (a release of ${input.release.config.model_name}, one at a time; it stops at approval unless unattended_approval: automatic)`
            : 'on an alarm: alert only (monitor.on_alarm: retrain starts a retraining release)',
        );
      });
    });

  monitor
    .command('disable <endpoint>')
    .description('delete the Schedule monitor-<endpoint> (a run in progress finishes); nothing to do when there is none')
    .action(async (endpoint: string) => {
      const deleted = await withClient((client) => disableMonitor(client, endpoint));
      console.log(deleted ? `deleted schedule ${monitorScheduleId(endpoint)}` : `no schedule ${monitorScheduleId(endpoint)}: nothing to disable`);
    });

  monitor
    .command('status <endpoint>')
    .description('the schedule (state, recent and next runs), the last verdict and the last alarm with its features and numbers')
    .action(async (endpoint: string) => {
      await withClient(async (client, namespace) => {
        for (const line of await statusLines(client, namespace, endpoint)) console.log(line);
      });
    });

  monitor
    .command('run-now <endpoint>')
    .description('analyse the window up to now at once (beside the schedule), and with --wait print the verdict')
    .option('--wait', 'wait for the run and print its verdict')
    .option(...configOption)
    .action(async (endpoint: string, options: MonitorFlags & { wait?: boolean }) => {
      await withClient(async (client, namespace) => {
        const handle = await runMonitorNow(client, monitorInput(endpoint, options, namespace), taskQueues().orchestration);
        console.log(`started ${handle.workflowId}\n  ${workflowUrl(namespace, handle.workflowId)}`);
        if (!options.wait) return;
        const outcome = await awaitResult<MonitorResult>(handle);
        if ('result' in outcome) for (const line of verdictLines(outcome.result)) console.log(line);
        else {
          console.error(`failed: ${failureMessage(outcome.error)}`);
          process.exitCode = 1;
        }
      });
    });

  monitor
    .command('report <endpoint>')
    .description("where the endpoint's monitoring.html is (on this machine, and in the monitor's MLflow run)")
    .option('--open', "open monitoring.html with the system's opener (xdg-open / open)")
    .action(async (endpoint: string, options: { open?: boolean }) => {
      const { MONITOR_TAGS, readMonitorRun, REPORT_ARTIFACT, runPageUrl } = await monitoringActivities();
      const path = join(stateDir(), 'monitoring', endpoint, REPORT_ARTIFACT);
      const monitorRun = await readMonitorRun(mlflowTrackingUri(), endpoint).catch(() => undefined);
      if (!existsSync(path) && !monitorRun?.tags[MONITOR_TAGS.lastWindow]) {
        console.error(`${endpoint} has no monitoring page yet: modelship monitor run-now ${endpoint} --wait writes one`);
        process.exitCode = 1;
        return;
      }
      if (existsSync(path)) console.log(path);
      if (monitorRun) console.log(`in MLflow: ${runPageUrl(mlflowTrackingUri(), monitorRun.run, REPORT_ARTIFACT)}`);
      if (!options.open) return;
      const opener = systemOpener();
      if (!existsSync(path) || !opener) {
        console.error(!opener ? 'no opener found (xdg-open or open): open the path above in a browser' : `not on this machine: open it in MLflow instead`);
        process.exitCode = 1;
        return;
      }
      spawn(opener, [path], { detached: true, stdio: 'ignore' }).unref();
    });
}

/** The monitoring activities' module, with the activity SDK and the window analysis: loaded by the commands that read a monitor's run. */
const monitoringActivities = () => import('../../activities/monitoring');

async function statusLines(client: Client, namespace: string, endpoint: string): Promise<string[]> {
  const { alarmArtifact, MONITOR_TAGS, readMonitorRun } = await monitoringActivities();
  const lines: string[] = [];
  try {
    const schedule = await client.schedule.getHandle(monitorScheduleId(endpoint)).describe();
    const every = schedule.spec.intervals?.[0]?.every;
    lines.push(
      `schedule ${schedule.scheduleId}: ${schedule.state.paused ? 'PAUSED' : 'active'}${every !== undefined ? `, every ${Number(every) / 60_000} min` : ''}, catch-up ${Number(schedule.policies.catchupWindow) / 60_000} min, ${schedule.policies.pauseOnFailure ? 'pauses on failure' : 'keeps running on failure'}`,
    );
    if (schedule.state.note) lines.push(`  note: ${schedule.state.note}`);
    for (const action of schedule.info.recentActions.slice(-5)) lines.push(`  ran ${action.takenAt.toISOString()}: ${action.action.workflow.workflowId}`);
    const next = schedule.info.nextActionTimes[0];
    if (next) lines.push(`  next run ${next.toISOString()}`);
  } catch (error) {
    if (!(error instanceof ScheduleNotFoundError)) throw error;
    lines.push(`no schedule ${monitorScheduleId(endpoint)} (modelship monitor enable ${endpoint})`);
  }

  const runs = [];
  for await (const run of client.workflow.list({ query: `WorkflowType = 'endpointMonitor' AND Endpoint = '${endpoint.replace(/'/g, '')}'` })) {
    runs.push(run);
    if (runs.length >= 5) break;
  }
  if (runs.length) lines.push('recent runs:');
  for (const run of runs) {
    const verdict = (run.searchAttributes as Record<string, unknown[] | undefined>).MonitorVerdict?.[0];
    lines.push(`  ${run.startTime.toISOString()}  ${run.status.name.toLowerCase().padEnd(10)} ${String(verdict ?? '').padEnd(8)} ${workflowUrl(namespace, run.workflowId)}`);
  }

  const monitorRun = await readMonitorRun(mlflowTrackingUri(), endpoint);
  const tags = monitorRun?.tags ?? {};
  if (!monitorRun || !tags[MONITOR_TAGS.lastWindow]) {
    lines.push('no window analysed yet');
    return lines;
  }
  const last = JSON.parse(tags[MONITOR_TAGS.lastWindow]!) as { start: string; end: string };
  lines.push(`last window ${last.start} → ${last.end}: ${tags[MONITOR_TAGS.lastVerdict] ?? '?'}`);
  const alarmWindow = tags[MONITOR_TAGS.lastAlarmWindow];
  if (alarmWindow) {
    const url = new MlflowClient(mlflowTrackingUri()).artifactUrl(monitorRun.run.artifactUri, alarmArtifact(alarmWindow));
    const text = await fetch(url, { signal: AbortSignal.timeout(10_000) }).then((r) => (r.ok ? r.text() : undefined));
    const alarm = text ? (JSON.parse(text) as { alarms: MonitorAlarm[] }) : undefined;
    lines.push(`last alarm raised: window ${alarmWindow.replace('_', ' → ')} (${tags[MONITOR_TAGS.lastAlarm]})`);
    if (alarm) lines.push(...alarmLines(alarm.alarms));
  } else lines.push('no alarm raised yet');
  lines.push(`MLflow run: ${monitorRun.url}`);
  return lines;
}
