// `modelship schedule create|list|describe|pause|unpause|trigger|delete <name>`: retraining on a Temporal Schedule
// (retrain-<name>, in the Web UI's Schedules page and `temporal schedule list`). Each run is a scheduledRelease
// workflow that starts the model's one release, release-<model>, or finds it running and says so: whatever starts
// releases (this schedule, another, an alarm, a person), one per model runs at a time.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleDescription, type ScheduleOptions, type ScheduleSpec } from '@temporalio/client';
import type { Command } from 'commander';
import { Option } from 'commander';
import ms from 'ms';
import { taskQueues, temporalUiUrl } from '../../config/environment';
import type { ReleaseConfig } from '../../config/schema';
import { durationMs } from '../../shared/duration';
import { MODEL_NAME } from '../../shared/search-attributes';
import { releaseWorkflowIdOf, statusQuery, type ReleaseStart, type ReleaseStatus, type ReleaseTemplate } from '../../workflows/release-api';
import { releaseScheduleId, type ScheduledReleaseInput, type ScheduledReleaseResult } from '../../workflows/release-starter-api';
import { automaticApproval } from '../../workflows/approval-rules';
import { triggerLine, type ReleaseTrigger } from '../../workflows/trigger-api';
import { osUser, releaseTemplate, workflowUrl } from '../release';
import { upsertSchedule } from '../schedules';
import { failureMessage, withClient } from '../temporal';
import { releaseConfigFromFlags } from './release';

const HOUR = 3_600_000;
/** Temporal refuses a shorter catch-up window. */
const MIN_CATCHUP_MS = 10_000;
/** Where a schedule's action keeps what `describe` shows that the server does not return as given (a cron is compiled). */
const SCHEDULE_MEMO = 'modelshipSchedule';

/** The overlap policies a retraining schedule offers, by their CLI names. */
export const OVERLAP_POLICIES = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
} as const;
export type OverlapName = keyof typeof OVERLAP_POLICIES;
const OVERLAP_NAMES = Object.keys(OVERLAP_POLICIES) as OverlapName[];

/** A flag or name the user can fix; the message says how. */
export class ScheduleUsageError extends Error {}

/** When a schedule fires: a period or a cron expression, as the user wrote it. */
export type Cadence = { every: string; everyMs: number } | { cron: string };

export const cadenceText = (cadence: Cadence) => ('every' in cadence ? `every ${cadence.every}` : `cron '${cadence.cron}'`);

export function checkScheduleName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name))
    throw new ScheduleUsageError(`schedule name '${name}': use letters, digits, '.', '_' and '-' (up to 100), starting with a letter or digit, e.g. nightly-fbm`);
  return name;
}

/** The cadence from --every or --cron: exactly one of them. */
export function cadenceOf(flags: { every?: string; cron?: string }): Cadence {
  if (flags.every !== undefined && flags.cron !== undefined)
    throw new ScheduleUsageError(`give --every or --cron, not both: --every 7d repeats a period, --cron '0 3 * * 1' fires at calendar times (UTC)`);
  if (flags.cron !== undefined) {
    const cron = flags.cron.trim();
    if (!cron) throw new ScheduleUsageError(`--cron needs an expression: five fields, minute hour day-of-month month day-of-week, e.g. '0 3 * * 1' (Mondays 03:00 UTC)`);
    return { cron };
  }
  if (flags.every === undefined) throw new ScheduleUsageError(`say how often: --every 7d (a period) or --cron '0 3 * * 1' (Mondays 03:00 UTC)`);
  let everyMs: number;
  try {
    everyMs = durationMs(flags.every);
  } catch {
    throw new ScheduleUsageError(`--every ${flags.every} is not a duration: write e.g. 7d, 12h or 30m`);
  }
  if (!(everyMs >= 60_000)) throw new ScheduleUsageError(`--every ${flags.every} is shorter than a minute: retraining takes longer than that; write e.g. 1d or 12h`);
  return { every: flags.every, everyMs };
}

/**
 * The catch-up window: how late a missed run may still start after Temporal was down. Given, or one hour or one
 * period, whichever is smaller: after an outage at most the latest missed run starts, never a burst of stale ones.
 * A cron's period varies, so its default is the hour.
 */
export function catchupMsOf(cadence: Cadence, catchup?: string): number {
  if (catchup === undefined) return Math.min(HOUR, 'everyMs' in cadence ? cadence.everyMs : HOUR);
  let catchupMs: number;
  try {
    catchupMs = durationMs(catchup);
  } catch {
    throw new ScheduleUsageError(`--catchup ${catchup} is not a duration: write e.g. 1h or 15m`);
  }
  if (!(catchupMs >= MIN_CATCHUP_MS)) throw new ScheduleUsageError(`--catchup ${catchup} is shorter than Temporal's minimum of 10s: write e.g. 1h or 15m`);
  return catchupMs;
}

export function overlapOf(name: string | undefined): ScheduleOverlapPolicy {
  const overlap = OVERLAP_POLICIES[(name ?? 'skip') as OverlapName];
  if (!overlap) throw new ScheduleUsageError(`--overlap ${name}: one of ${OVERLAP_NAMES.join(', ')}`);
  return overlap;
}

/** The CLI name of a policy (a schedule changed in the Web UI may hold one modelship does not offer: its name, lower case). */
export const overlapName = (policy: ScheduleOverlapPolicy) => OVERLAP_NAMES.find((name) => OVERLAP_POLICIES[name] === policy) ?? String(policy).toLowerCase().replace(/_/g, '-');

export interface ReleaseScheduleSettings {
  cadence: Cadence;
  overlap: ScheduleOverlapPolicy;
  catchupMs: number;
  pauseOnFailure: boolean;
  /** Create paused (and pause an existing schedule); unset, an existing schedule keeps its state. */
  paused?: boolean;
  note?: string;
  /** The config file the template was read from, for describe. */
  configPath?: string;
}

interface ScheduleMemo {
  model: string;
  cadence: string;
  config?: string;
}

/** The Schedule retrain-<name>: a scheduledRelease run at each time of the cadence, on the orchestration queue. */
export function releaseScheduleOptions(name: string, template: ReleaseTemplate, settings: ReleaseScheduleSettings, taskQueue: string): ScheduleOptions {
  const model = template.config.model_name;
  const cadence = cadenceText(settings.cadence);
  const spec: ScheduleSpec = 'every' in settings.cadence ? { intervals: [{ every: settings.cadence.everyMs }] } : { cronExpressions: [settings.cadence.cron] };
  const input: ScheduledReleaseInput = { schedule: name, release: template };
  const memo: ScheduleMemo = { model, cadence, config: settings.configPath };
  return {
    scheduleId: releaseScheduleId(name),
    spec,
    action: {
      type: 'startWorkflow',
      workflowType: 'scheduledRelease',
      taskQueue,
      args: [input],
      // Temporal appends each run's time: retrain-<name>-<time>.
      workflowId: releaseScheduleId(name),
      typedSearchAttributes: [{ key: MODEL_NAME, value: model }],
      memo: { [SCHEDULE_MEMO]: memo },
      staticSummary: `Retrain ${model} (schedule ${name}, ${cadence})`,
    },
    policies: { overlap: settings.overlap, catchupWindow: settings.catchupMs, pauseOnFailure: settings.pauseOnFailure },
    state: { paused: settings.paused ?? false, note: settings.note ?? `retrain ${model} ${cadence}, created by ${osUser() ?? 'someone'} with modelship schedule create` },
  };
}

/**
 * The retraining schedule, created or updated. An update keeps the paused state and the note unless `settings` set
 * them: a schedule paused on a failed release stays paused, with the failure as its note.
 */
export async function createReleaseSchedule(client: Client, options: ScheduleOptions, settings: Pick<ReleaseScheduleSettings, 'paused' | 'note'>): Promise<'created' | 'updated'> {
  try {
    return await upsertSchedule(client, options, (previous) => ({ ...previous, paused: settings.paused || previous.paused, note: settings.note ?? previous.note }));
  } catch (error) {
    // The SDK turns the server's "Invalid schedule spec" (a cron it cannot read) into a TypeError with the server's words.
    if (error instanceof TypeError)
      throw new ScheduleUsageError(`Temporal refused the schedule: ${failureMessage(error)}. A cron has five fields, minute hour day-of-month month day-of-week, e.g. '0 3 * * 1'`);
    throw error;
  }
}

const notFound = (name: string) => new ScheduleUsageError(`no schedule ${releaseScheduleId(name)}: modelship schedule list shows the retraining schedules`);

/** Runs `call` on the schedule's handle; a missing schedule says how to find the right name. */
async function onSchedule<T>(client: Client, name: string, call: (handle: ReturnType<Client['schedule']['getHandle']>) => Promise<T>): Promise<T> {
  try {
    return await call(client.schedule.getHandle(releaseScheduleId(name)));
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) throw notFound(name);
    throw error;
  }
}

/** The release a schedule's run started or found running. */
export interface RunRelease {
  started: boolean;
  /** release-<model>: the workflow id to approve, reject, watch. */
  workflowId: string;
  /** The release's own id (release-<model>-<time>-<hex>), when known. */
  releaseId?: string;
  /** How it stands or ended: running, waiting for approval, succeeded, rejected, … */
  state?: string;
  trigger?: ReleaseStatus['trigger'];
}

/** One run of a schedule and what it did. */
export interface ScheduleRun {
  workflowId: string;
  runId: string;
  takenAt: string;
  status: string;
  release?: RunRelease;
  error?: string;
}

export interface ReleaseScheduleView {
  name: string;
  scheduleId: string;
  model?: string;
  cadence: string;
  config?: string;
  paused: boolean;
  note?: string;
  overlap: string;
  catchupWindow: string;
  pauseOnFailure: boolean;
  taskQueue?: string;
  actions: { taken: number; skippedOverlap: number; missedCatchupWindow: number };
  runningRuns: string[];
  recentRuns: ScheduleRun[];
  nextRuns: string[];
  url: string;
}

export const scheduleUrl = (namespace: string, scheduleId: string) => `${temporalUiUrl()}/namespaces/${namespace}/schedules/${encodeURIComponent(scheduleId)}`;

const nameOf = (scheduleId: string) => scheduleId.replace(/^retrain-/, '');

/** Release statuses asked once per command: the runs of one describe mostly name the same release. */
type StatusCache = Map<string, Promise<ReleaseStatus | undefined>>;

/** The release's status with a deadline: a describe must not hang on a release whose worker is down. */
function releaseStatus(client: Client, cache: StatusCache, workflowId: string, runId?: string): Promise<ReleaseStatus | undefined> {
  const key = `${workflowId}/${runId ?? ''}`;
  let status = cache.get(key);
  if (!status) {
    status = client
      .withDeadline(Date.now() + 5_000, () => client.workflow.getHandle(workflowId, runId).query(statusQuery))
      .then((answer) => (answer && Array.isArray(answer.steps) ? answer : undefined))
      .catch(() => undefined);
    cache.set(key, status);
  }
  return status;
}

const stateOf = (status: ReleaseStatus | undefined) =>
  status ? (status.waitingFor ? 'waiting for approval' : status.outcome === 'running' ? `${status.stage} (running)` : status.outcome) : undefined;

/** What a run did: its result once it ended, or the release it is waiting on. */
export async function runOf(client: Client, workflowId: string, runId: string, takenAt: Date, cache: StatusCache = new Map()): Promise<ScheduleRun> {
  const run: ScheduleRun = { workflowId, runId, takenAt: takenAt.toISOString(), status: 'unknown' };
  const handle = client.workflow.getHandle(workflowId, runId);
  const description = await handle.describe().catch(() => undefined);
  if (!description) return run;
  run.status = description.status.name.toLowerCase();
  if (description.status.name === 'RUNNING') {
    // A child only initiated has no run id yet: its start may still fail because that release is already running
    // (another run's), and the release its id names is then not this run's.
    const child = description.raw.pendingChildren?.find((c) => c.workflowTypeName === 'modelRelease');
    if (child?.workflowId && child.runId) {
      const status = await releaseStatus(client, cache, child.workflowId, child.runId ?? undefined);
      run.release = { started: true, workflowId: child.workflowId, releaseId: status?.workflowId, state: stateOf(status) ?? 'running', trigger: status?.trigger };
    }
    return run;
  }
  try {
    const result = (await handle.result()) as ScheduledReleaseResult;
    run.release = await releaseOf(client, cache, result);
  } catch (error) {
    run.error = failureMessage(error);
  }
  return run;
}

/** A run's result as a RunRelease: for a release found running, what that release is and why it started. */
async function releaseOf(client: Client, cache: StatusCache, result: ReleaseStart & { outcome?: string }): Promise<RunRelease> {
  if (result.started) return { started: true, workflowId: result.workflowId, releaseId: result.releaseId, state: result.outcome };
  const status = await releaseStatus(client, cache, result.running);
  return { started: false, workflowId: result.running, releaseId: status?.workflowId, state: stateOf(status), trigger: status?.trigger };
}

function viewOf(description: ScheduleDescription, namespace: string, recentRuns: ScheduleRun[]): ReleaseScheduleView {
  const action = description.action.type === 'startWorkflow' ? description.action : undefined;
  const memo = action?.memo?.[SCHEDULE_MEMO] as ScheduleMemo | undefined;
  const input = action?.args?.[0] as ScheduledReleaseInput | undefined;
  const every = description.spec.intervals?.[0]?.every;
  return {
    name: nameOf(description.scheduleId),
    scheduleId: description.scheduleId,
    model: input?.release?.config?.model_name ?? memo?.model,
    cadence: memo?.cadence ?? (every !== undefined ? `every ${ms(Number(every))}` : 'calendar (see the Web UI)'),
    config: memo?.config,
    paused: description.state.paused,
    note: description.state.note,
    overlap: overlapName(description.policies.overlap),
    catchupWindow: ms(description.policies.catchupWindow),
    pauseOnFailure: description.policies.pauseOnFailure,
    taskQueue: action?.taskQueue,
    actions: {
      taken: description.info.numActionsTaken,
      skippedOverlap: description.info.numActionsSkippedOverlap,
      missedCatchupWindow: description.info.numActionsMissedCatchupWindow,
    },
    runningRuns: description.info.runningActions.map((a) => a.workflow.workflowId),
    recentRuns,
    nextRuns: description.info.nextActionTimes.slice(0, 5).map((t) => t.toISOString()),
    url: scheduleUrl(namespace, description.scheduleId),
  };
}

/** The schedule, its policies and state; with `runs`, what each recent run did (newest first). */
export async function describeReleaseSchedule(client: Client, namespace: string, name: string, options: { runs?: boolean } = {}): Promise<ReleaseScheduleView> {
  const description = await onSchedule(client, name, (handle) => handle.describe());
  const recent = options.runs === false ? [] : [...description.info.recentActions].reverse();
  const cache: StatusCache = new Map();
  const runs = await Promise.all(recent.map((a) => runOf(client, a.action.workflow.workflowId, a.action.workflow.firstExecutionRunId, a.takenAt, cache)));
  return viewOf(description, namespace, runs);
}

/** Every retraining schedule (those whose runs are scheduledRelease), by name. */
export async function listReleaseSchedules(client: Client, namespace: string): Promise<ReleaseScheduleView[]> {
  const names: string[] = [];
  for await (const summary of client.schedule.list())
    if (summary.action?.type === 'startWorkflow' && summary.action.workflowType === 'scheduledRelease') names.push(nameOf(summary.scheduleId));
  const views: ReleaseScheduleView[] = [];
  for (const name of names.sort()) {
    try {
      views.push(await describeReleaseSchedule(client, namespace, name, { runs: false }));
    } catch (error) {
      // Listing lags behind: a schedule deleted a moment ago may still be listed.
      if (!(error instanceof ScheduleUsageError)) throw error;
    }
  }
  return views;
}

/** What a trigger did: a run (and the release it started or found), a run the overlap policy skipped, or none seen yet. */
export type TriggerOutcome = { kind: 'run'; run: ScheduleRun } | { kind: 'skipped'; running: string[] } | { kind: 'not seen'; running: string[] };

/**
 * Takes one action now under `overlap` (never the SDK's ALLOW_ALL default), then waits up to `waitMs` to say what it
 * did: the run it started and that run's release (started, or the one found running), or that the overlap policy
 * skipped it because a run of this schedule is still going (a run lasts as long as the release it started).
 */
export async function triggerReleaseSchedule(client: Client, name: string, overlap: ScheduleOverlapPolicy, waitMs = 15_000): Promise<TriggerOutcome> {
  return onSchedule(client, name, async (handle) => {
    const before = await handle.describe();
    const seen = new Set(before.info.recentActions.map((a) => a.action.workflow.firstExecutionRunId));
    await handle.trigger(overlap);
    const deadline = Date.now() + waitMs;
    let latest = before;
    while (Date.now() < deadline) {
      latest = await handle.describe();
      const action = latest.info.recentActions.find((a) => !seen.has(a.action.workflow.firstExecutionRunId));
      if (action) {
        const { workflowId, firstExecutionRunId } = action.action.workflow;
        // The run reports the release once it has started it (a pending child) or found it running (its result);
        // the release's own id comes from its status query, which a busy worker may answer late.
        for (;;) {
          const run = await runOf(client, workflowId, firstExecutionRunId, action.takenAt);
          const known = run.release ? run.release.releaseId !== undefined : run.error !== undefined || run.status !== 'running';
          if (known || Date.now() > deadline) return { kind: 'run', run };
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      if (latest.info.numActionsSkippedOverlap > before.info.numActionsSkippedOverlap)
        return { kind: 'skipped', running: latest.info.runningActions.map((a) => a.workflow.workflowId) };
      await new Promise((r) => setTimeout(r, 200));
    }
    return { kind: 'not seen', running: latest.info.runningActions.map((a) => a.workflow.workflowId) };
  });
}

// ---- printing

/** How the releases a schedule starts are approved: auto_approve_deployment does not apply to them, unattended_approval does. */
export function unattendedApprovalLine(config: ReleaseConfig): string {
  // The gate's own rule (approval-rules.ts), asked as a scheduled release would ask it.
  const scheduled: ReleaseTrigger = { kind: 'schedule', schedule: '', at: '' };
  if (automaticApproval(config, scheduled) === 'unattended_approval') return 'each release is approved automatically: the config sets unattended_approval: automatic';
  const gate = `each release stops at the approval gate: modelship approve ${releaseWorkflowIdOf(config.model_name)} --by NAME`;
  const automatic = (config.environments ?? []).filter((environment) => automaticApproval(config, scheduled, environment)).map((environment) => environment.name);
  if (automatic.length) return `${gate} (entry to ${automatic.join(', ')} is automatic: auto_approve_deployment there)`;
  return config.auto_approve_deployment ? `${gate} (auto_approve_deployment does not apply to scheduled releases; unattended_approval: automatic does)` : gate;
}

function releaseLine(release: RunRelease): string {
  if (release.started) return `started ${release.workflowId}${release.releaseId ? ` (${release.releaseId})` : ''}${release.state ? `: ${release.state}` : ''}`;
  const about = [release.releaseId, release.trigger && triggerLine(release.trigger), release.state].filter(Boolean).join(', ');
  return `${release.workflowId} was already running${about ? ` (${about})` : ''}: none started`;
}

export function runLine(run: ScheduleRun): string {
  const what = run.release ? releaseLine(run.release) : run.error ? `failed: ${run.error}` : run.status === 'running' ? 'starting the release' : '';
  // The run's id ends with its time (Temporal appends it).
  return `${run.workflowId}  ${run.status}${what ? `  ${what}` : ''}`;
}

export function scheduleLines(view: ReleaseScheduleView): string[] {
  const lines = [
    `${view.scheduleId}: retrain ${view.model ?? '?'} ${view.cadence}, ${view.paused ? 'PAUSED' : 'active'}`,
    `  policies: overlap ${view.overlap} · catch-up ${view.catchupWindow} · ${view.pauseOnFailure ? 'pauses on failure' : 'keeps going on failure'}`,
  ];
  if (view.note) lines.push(`  note:     ${view.note}`);
  if (view.config) lines.push(`  config:   ${view.config} (as read at create; create again to update)`);
  if (view.taskQueue) lines.push(`  queue:    ${view.taskQueue}`);
  lines.push(`  actions:  ${view.actions.taken} taken · ${view.actions.skippedOverlap} skipped (overlap) · ${view.actions.missedCatchupWindow} missed (catch-up window)`);
  if (view.recentRuns.length) lines.push('  recent runs (newest first):', ...view.recentRuns.map((run) => `    ${runLine(run)}`));
  else if (view.runningRuns.length) lines.push(`  running: ${view.runningRuns.join(', ')}`);
  lines.push(view.nextRuns.length ? `  next runs: ${view.nextRuns.map((t) => `${t.slice(0, 16)}Z`).join(', ')}` : `  next runs: none${view.paused ? ' (paused)' : ''}`);
  lines.push(`  Web UI:   ${view.url}`);
  return lines;
}

/** `list` as a table, each column as wide as its widest cell. */
export function scheduleTable(views: ReleaseScheduleView[]): string[] {
  const columns: [string, (v: ReleaseScheduleView) => string][] = [
    ['NAME', (v) => v.name],
    ['MODEL', (v) => v.model ?? ''],
    ['WHEN', (v) => v.cadence],
    ['STATE', (v) => (v.paused ? 'paused' : 'active')],
    ['NEXT RUN', (v) => (v.nextRuns[0] ? `${v.nextRuns[0].slice(0, 16)}Z` : '')],
    ['OVERLAP', (v) => v.overlap],
    ['RUNNING', (v) => v.runningRuns.join(', ')],
  ];
  const cells = [columns.map(([title]) => title), ...views.map((view) => columns.map(([, cell]) => cell(view)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  return cells.map((line) =>
    line
      .map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

// ---- commands

interface CreateFlags {
  config: string;
  every?: string;
  cron?: string;
  overlap: OverlapName;
  catchup?: string;
  pauseOnFailure: boolean;
  paused?: boolean;
  note?: string;
}

/** Runs a command; a usage error (bad flag, unknown schedule) is printed with its fix and exits 1. */
async function command(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (!(error instanceof ScheduleUsageError)) throw error;
    console.error(error.message);
    process.exitCode = 1;
  }
}

const overlapOption = (what: string) => new Option('--overlap <policy>', what).choices(OVERLAP_NAMES).default('skip' as OverlapName);

export function registerScheduleCommands(program: Command): void {
  const schedule = program
    .command('schedule')
    .description('retrain on a Temporal Schedule: each run starts a release of the model, at most one per model at a time (docs/schedules.md)')
    .addHelpText(
      'after',
      `
Examples:
  $ modelship schedule create weekly-fbm --config config/default.yaml --every 7d
  $ modelship schedule create nightly-fbm --config config/default.yaml --cron '0 3 * * *' --note 'fresh data lands at 02:00'
  $ modelship schedule list
  $ modelship schedule describe weekly-fbm
  $ modelship schedule trigger weekly-fbm          # one run now; skipped while a run of it is going
  $ modelship schedule pause weekly-fbm --note 'data vendor outage'
  $ modelship schedule unpause weekly-fbm
  $ modelship schedule delete weekly-fbm

Each schedule is the Temporal Schedule retrain-<name>: it is in the Web UI's Schedules page
(<ui>/namespaces/<namespace>/schedules/retrain-<name>) and in 'temporal schedule list'.
A run starts the release under the model's one workflow id, release-<model>; when that release is already
running (started by a person, an alarm or another schedule) the run starts nothing and says which one runs.
Scheduled releases stop at the approval gate like any other, unless the config sets auto_approve_deployment.`,
    );

  schedule
    .command('create <name>')
    .description('create the Schedule retrain-<name> that starts a release with this config (or update it: creating twice gives one schedule)')
    .requiredOption('-c, --config <file>', 'YAML release config; read now and kept in the schedule (create again after editing it)')
    .option('--every <duration>', 'a period: 7d, 12h, 90m (fires at multiples of it since the Unix epoch, UTC)')
    .option('--cron <expression>', "calendar times, UTC: '0 3 * * 1' is Mondays 03:00 (prefix 'CRON_TZ=Europe/Paris ' for a time zone)")
    .addOption(overlapOption('when a run of this schedule is still going (it lasts as long as its release)'))
    .option('--catchup <duration>', 'after Temporal was down, start a missed run only if it is at most this late (default: 1h, or the period if shorter)')
    .option('--no-pause-on-failure', 'keep the schedule running after a run fails (default: a failed release pauses it, with the reason as its note)')
    .option('--paused', 'create it paused (unpause to start); on an existing schedule, pause it')
    .option('--note <text>', 'a note shown with the schedule (why it exists, who owns it)')
    .addHelpText(
      'after',
      `
Examples:
  $ modelship schedule create weekly-fbm --config config/default.yaml --every 7d
  $ modelship schedule create nightly-fbm --config config/prod.yaml --cron '0 3 * * *' --catchup 30m
  $ modelship schedule create weekly-fbm --config config/default.yaml --every 7d --paused --note 'starts after review'`,
    )
    .action((name: string, flags: CreateFlags) =>
      command(async () => {
        checkScheduleName(name);
        const cadence = cadenceOf(flags);
        const settings: ReleaseScheduleSettings = {
          cadence,
          overlap: overlapOf(flags.overlap),
          catchupMs: catchupMsOf(cadence, flags.catchup),
          pauseOnFailure: flags.pauseOnFailure,
          paused: flags.paused,
          note: flags.note,
          configPath: resolve(flags.config),
        };
        const config = releaseConfigFromFlags({ config: flags.config });
        if (!existsSync(config.input_data_path))
          console.error(`warning: ${config.input_data_path} does not exist on this machine; each release fails at data validation unless its worker finds the file`);
        await withClient(async (client, namespace) => {
          const queues = taskQueues();
          const options = releaseScheduleOptions(name, releaseTemplate(config, namespace, { queues }), settings, queues.orchestration);
          const how = await createReleaseSchedule(client, options, settings);
          const view = await describeReleaseSchedule(client, namespace, name, { runs: false });
          console.log(`${how} schedule ${view.scheduleId}: retrain ${config.model_name} ${view.cadence}, ${view.paused ? 'paused' : 'active'}`);
          console.log(`  overlap ${view.overlap} · catch-up ${view.catchupWindow} · ${view.pauseOnFailure ? 'pauses on failure' : 'keeps going on failure'}`);
          console.log(`  each run starts ${releaseWorkflowIdOf(config.model_name)}, or reports the release of ${config.model_name} already running`);
          console.log(`  ${unattendedApprovalLine(config)}`);
          if (view.nextRuns[0]) console.log(`  next run ${view.nextRuns[0].slice(0, 16)}Z`);
          console.log(`  ${view.url}`);
        });
      }),
    );

  schedule
    .command('list')
    .description('the retraining schedules: model, when, state, next run, overlap policy and the run in progress')
    .option('--json', 'print as JSON')
    .action((flags: { json?: boolean }) =>
      command(() =>
        withClient(async (client, namespace) => {
          const views = await listReleaseSchedules(client, namespace);
          if (flags.json) return void console.log(JSON.stringify(views, null, 2));
          if (!views.length) return void console.log('no retraining schedules: modelship schedule create NAME --config FILE --every 7d');
          for (const line of scheduleTable(views)) console.log(line);
        }),
      ),
    );

  schedule
    .command('describe <name>')
    .description('the schedule: when, policies, paused and its note, recent runs with the releases they started, next runs')
    .option('--json', 'print as JSON')
    .action((name: string, flags: { json?: boolean }) =>
      command(() =>
        withClient(async (client, namespace) => {
          const view = await describeReleaseSchedule(client, namespace, name);
          console.log(flags.json ? JSON.stringify(view, null, 2) : scheduleLines(view).join('\n'));
        }),
      ),
    );

  for (const paused of [true, false]) {
    const verb = paused ? 'pause' : 'unpause';
    schedule
      .command(`${verb} <name>`)
      .description(
        paused
          ? 'stop the schedule from starting runs (a release in progress goes on); the note says why'
          : 'let the schedule start runs again (missed times older than its catch-up window are not made up)',
      )
      .option('--note <text>', `why, shown with the schedule (default: who ${verb}d it)`)
      .action((name: string, flags: { note?: string }) =>
        command(() =>
          withClient(async (client) => {
            const note = flags.note ?? `${verb}d by ${osUser() ?? 'someone'} with modelship schedule ${verb}`;
            await onSchedule(client, name, (handle) => (paused ? handle.pause(note) : handle.unpause(note)));
            console.log(`${verb}d ${releaseScheduleId(name)}${paused ? `: modelship schedule unpause ${name} resumes it` : ''}`);
          }),
        ),
      );
  }

  schedule
    .command('trigger <name>')
    .description('one run now, under an explicit overlap policy, and what it did: the release it started or the one it found running')
    .addOption(overlapOption('when a run of this schedule is still going; allow-all starts a run anyway, which then reports the running release'))
    .addHelpText(
      'after',
      `
Examples:
  $ modelship schedule trigger weekly-fbm                      # skipped while a run of weekly-fbm is going
  $ modelship schedule trigger weekly-fbm --overlap allow-all  # a run even so: it starts nothing if release-<model> runs`,
    )
    .action((name: string, flags: { overlap: OverlapName }) =>
      command(() =>
        withClient(async (client, namespace) => {
          const outcome = await triggerReleaseSchedule(client, name, overlapOf(flags.overlap));
          if (outcome.kind === 'skipped') {
            console.log(
              `skipped (overlap ${flags.overlap}): ${outcome.running.join(', ') || 'a run of this schedule'} is still going; --overlap allow-all starts a run that reports the release running`,
            );
            return;
          }
          if (outcome.kind === 'not seen') {
            console.log(`triggered ${releaseScheduleId(name)}; no run seen yet (overlap ${flags.overlap} may have buffered it): modelship schedule describe ${name}`);
            return;
          }
          const { run } = outcome;
          console.log(`run ${run.workflowId}: ${run.release ? releaseLine(run.release) : run.error ? `failed: ${run.error}` : run.status}`);
          console.log(`  ${workflowUrl(namespace, run.release?.workflowId ?? run.workflowId)}`);
          if (run.release) console.log(`  modelship status ${run.release.workflowId} follows it`);
          if (run.error) process.exitCode = 1;
        }),
      ),
    );

  schedule
    .command('delete <name>')
    .description('delete the schedule; a run or release in progress goes on')
    .action((name: string) =>
      command(() =>
        withClient(async (client) => {
          await onSchedule(client, name, (handle) => handle.delete());
          console.log(`deleted ${releaseScheduleId(name)}`);
        }),
      ),
    );
}
