// Retraining schedules on the test run's dev server (the time-skipping server has no schedules), driven by the CLI
// as a user runs it. The worker runs the real workflows with stand-in activities, so a scheduled release reaches its
// approval gate in a second without training; the test ends it by rejecting it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  cadenceOf,
  catchupMsOf,
  createReleaseSchedule,
  describeReleaseSchedule,
  listReleaseSchedules,
  overlapOf,
  releaseScheduleOptions,
  ScheduleUsageError,
  unattendedApprovalLine,
  type ReleaseScheduleView,
} from '../src/client/commands/schedule';
import { releaseTemplate } from '../src/client/release';
import { projectRoot } from '../src/config/environment';
import { MODEL_NAME } from '../src/shared/search-attributes';
import { rejectUpdate, releaseWorkflowIdOf, type ReleaseResult } from '../src/workflows/release-api';
import { releaseScheduleId, type ScheduledReleaseResult } from '../src/workflows/release-starter-api';
import { runCli as modelship } from './support/cli';
import { releaseConfig, waitForApproval } from './support/release';
import { releaseStandIns, withStandIns } from './support/stand-ins';
import { connectTestEnvironment } from './support/temporal';

const HOUR = 3_600_000;

describe('retraining schedule: flags', () => {
  it('takes exactly one cadence, a real duration, and a catch-up of one hour or one period, whichever is smaller', () => {
    assert.throws(
      () => cadenceOf({ every: '7d', cron: '0 3 * * 1' }),
      (e: Error) => e instanceof ScheduleUsageError && /not both/.test(e.message),
    );
    assert.throws(() => cadenceOf({}), /--every 7d .* or --cron/);
    assert.throws(() => cadenceOf({ every: '7x' }), /--every 7x is not a duration: write e.g. 7d/);
    assert.throws(() => cadenceOf({ every: '30s' }), /shorter than a minute/);
    assert.deepEqual(cadenceOf({ every: '7d' }), { every: '7d', everyMs: 7 * 24 * HOUR });
    assert.deepEqual(cadenceOf({ cron: ' 0 3 * * 1 ' }), { cron: '0 3 * * 1' });
    assert.equal(catchupMsOf(cadenceOf({ every: '7d' })), HOUR);
    assert.equal(catchupMsOf(cadenceOf({ every: '20m' })), 20 * 60_000);
    assert.equal(catchupMsOf(cadenceOf({ cron: '*/5 * * * *' })), HOUR);
    assert.equal(catchupMsOf(cadenceOf({ every: '7d' }), '15m'), 15 * 60_000);
    assert.throws(() => catchupMsOf(cadenceOf({ every: '7d' }), '2s'), /minimum of 10s/);
    assert.equal(overlapOf(undefined), ScheduleOverlapPolicy.SKIP, 'never the SDK trigger default, ALLOW_ALL');
    assert.throws(() => overlapOf('buffer-all'), /one of skip, buffer-one, cancel-other, allow-all/);
  });

  it('says how the releases it starts are approved: auto_approve_deployment does not apply to them, unattended_approval does', () => {
    assert.equal(unattendedApprovalLine(releaseConfig({ model_name: 'fbm' })), 'each release stops at the approval gate: modelship approve release-fbm --by NAME');
    assert.match(
      unattendedApprovalLine(releaseConfig({ model_name: 'fbm', auto_approve_deployment: true })),
      /does not apply to scheduled releases; unattended_approval: automatic does/,
    );
    assert.match(unattendedApprovalLine(releaseConfig({ model_name: 'fbm', unattended_approval: 'automatic' })), /^each release is approved automatically/);
  });
});

describe('retraining schedule on the dev server', () => {
  let env: TestWorkflowEnvironment;
  const dir = mkdtempSync(join(tmpdir(), 'modelship-schedule-'));
  const model = `sched-test-${randomUUID().slice(0, 8)}`;
  const name = `weekly-${model}`;
  const scheduleId = releaseScheduleId(name);
  const releaseId = releaseWorkflowIdOf(model);
  const config = join(dir, 'release.yaml');

  before(async () => {
    env = await connectTestEnvironment();
    writeFileSync(join(dir, 'bank.csv'), 'read by the stand-in activities: no\n');
    // A release that skips training (the stand-ins resolve a registered model), local tests and deployment, and waits for a person.
    writeFileSync(
      config,
      readFileSync(join(projectRoot, 'config/default.yaml'), 'utf8')
        .replace(/^input_data_path: .*$/m, `input_data_path: ${join(dir, 'bank.csv')}`)
        .replace(/^model_name: .*$/m, `model_name: ${model}`)
        .replace(/^skip_training: .*$/m, 'skip_training: true')
        .replace(/^skip_local_testing: .*$/m, 'skip_local_testing: true')
        .replace(/^skip_deployment: .*$/m, 'skip_deployment: true')
        .replace(/^auto_approve_deployment: .*$/m, 'auto_approve_deployment: false'),
    );
  });
  after(async () => {
    if (!env) return;
    // A failed test leaves neither a schedule that fires later nor a release that waits a day for its approval.
    await env.client.schedule
      .getHandle(scheduleId)
      .delete()
      .catch(() => undefined);
    await env.client.workflow
      .getHandle(releaseId)
      .terminate('schedule test cleanup')
      .catch(() => undefined);
    await env.teardown();
  });

  it('errors name the fix; --help teaches with examples', async () => {
    const [both, help] = await Promise.all([
      modelship(['schedule', 'create', name, '--config', config, '--every', '7d', '--cron', '0 3 * * 1']),
      modelship(['schedule', 'create', '--help']),
    ]);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /give --every or --cron, not both/);
    assert.match(help.stdout, /Examples:\n {2}\$ modelship schedule create weekly-fbm --config config\/default.yaml --every 7d/);
    assert.match(help.stdout, /--overlap <policy>[\s\S]*choices:\s+"skip",\s+"buffer-one",\s+"cancel-other",\s+"allow-all",\s+default:\s+"skip"/);
    // A cron only the server can judge: its refusal comes back as a usage error with the fix, and no schedule is made.
    const badCron = releaseScheduleOptions(
      `bad-${name}`,
      releaseTemplate(releaseConfig({ model_name: model }), 'default'),
      { cadence: cadenceOf({ cron: 'every tuesday' }), overlap: ScheduleOverlapPolicy.SKIP, catchupMs: HOUR, pauseOnFailure: true },
      'unused-queue',
    );
    await assert.rejects(
      createReleaseSchedule(env.client, badCron, {}),
      (error: Error) => error instanceof ScheduleUsageError && /^Temporal refused the schedule: .*A cron has five fields/.test(error.message),
    );
    await assert.rejects(env.client.schedule.getHandle(releaseScheduleId(`bad-${name}`)).describe(), ScheduleNotFoundError);
  });

  it('create twice is one schedule; pause, unpause; trigger starts one release, a second start reports it; delete', async () => {
    const stands = releaseStandIns(model);
    await withStandIns(env, stands.activities, async (taskQueue) => {
      const cliEnv = { MODELSHIP_TASK_QUEUE: taskQueue, MODELSHIP_TRAINING_TASK_QUEUE: `${taskQueue}-training`, MODELSHIP_ARTIFACTS_DIR: join(dir, 'artifacts') };
      const cli = async (...args: string[]) => {
        const result = await modelship(['schedule', ...args], cliEnv);
        assert.equal(result.code, 0, `schedule ${args.join(' ')}: ${result.stderr}`);
        return result.stdout;
      };

      const created = await cli('create', name, '--config', config, '--every', '7d');
      assert.match(created, new RegExp(`^created schedule ${scheduleId}: retrain ${model} every 7d, active\n {2}overlap skip · catch-up 1h · pauses on failure`));
      assert.match(created, /stops at the approval gate/);
      assert.match(created, new RegExp(`/namespaces/default/schedules/${scheduleId}`));
      const updated = await cli('create', name, '--config', config, '--every', '12h', '--catchup', '30m', '--note', 'owned by the schedule test');
      assert.match(updated, new RegExp(`^updated schedule ${scheduleId}: retrain ${model} every 12h`));

      // One schedule, updated (listing is eventually consistent: wait for it).
      let listed: ReleaseScheduleView[] = [];
      for (let i = 0; i < 50 && !listed.length; i++, await sleep(100)) listed = (await listReleaseSchedules(env.client, 'default')).filter((v) => v.name === name);
      assert.equal(listed.length, 1);
      const rows = JSON.parse(await cli('list', '--json')) as ReleaseScheduleView[];
      const row = rows.find((v) => v.name === name);
      assert.ok(row, 'list --json shows the schedule');
      assert.deepEqual(
        {
          model: row.model,
          cadence: row.cadence,
          overlap: row.overlap,
          catchup: row.catchupWindow,
          pauseOnFailure: row.pauseOnFailure,
          paused: row.paused,
          note: row.note,
          queue: row.taskQueue,
        },
        { model, cadence: 'every 12h', overlap: 'skip', catchup: '30m', pauseOnFailure: true, paused: false, note: 'owned by the schedule test', queue: taskQueue },
      );
      assert.equal(row.config, config);
      assert.equal(row.nextRuns.length > 0, true);

      await cli('pause', name, '--note', 'vendor outage');
      let view = await describeReleaseSchedule(env.client, 'default', name);
      assert.deepEqual([view.paused, view.note], [true, 'vendor outage']);
      await cli('unpause', name);
      view = await describeReleaseSchedule(env.client, 'default', name);
      assert.equal(view.paused, false);

      // A run now: it starts release-<model>, which waits for its approval.
      const first = await cli('trigger', name);
      assert.match(first, new RegExp(`^run ${scheduleId}-\\S+: started ${releaseId} \\(release-${model}-\\d{8}-\\d{6}-[0-9a-f]{4}\\)`));
      const release = env.client.workflow.getHandle(releaseId);
      const waiting = await waitForApproval(release, 30_000);
      assert.match(waiting.workflowId, new RegExp(`^release-${model}-`));
      assert.equal(waiting.trigger?.kind, 'schedule');
      assert.equal(waiting.trigger?.kind === 'schedule' && waiting.trigger.schedule, name);

      // Under the default overlap (skip) a second trigger is dropped while the first run waits on its release.
      const skipped = await cli('trigger', name);
      assert.match(skipped, new RegExp(`^skipped \\(overlap skip\\): ${scheduleId}-\\S+ is still going`));
      // allow-all lets a second run start; it starts no second release and names the one running.
      const second = await cli('trigger', name, '--overlap', 'allow-all');
      assert.match(
        second,
        new RegExp(`^run ${scheduleId}-\\S+: ${releaseId} was already running \\(${waiting.workflowId}, schedule ${name}, \\S+, waiting for approval\\): none started`),
      );

      view = await describeReleaseSchedule(env.client, 'default', name);
      assert.equal(view.recentRuns.length, 2, 'two runs taken, the skipped trigger took none');
      assert.equal(view.actions.skippedOverlap, 1);
      const [newest, oldest] = view.recentRuns;
      assert.deepEqual(newest!.release && { started: newest!.release.started, workflowId: newest!.release.workflowId, releaseId: newest!.release.releaseId }, {
        started: false,
        workflowId: releaseId,
        releaseId: waiting.workflowId,
      });
      const notStarted = (await env.client.workflow.getHandle(newest!.workflowId, newest!.runId).result()) as ScheduledReleaseResult;
      assert.deepEqual(notStarted, { started: false, workflowId: releaseId, running: releaseId });
      assert.deepEqual([oldest!.status, oldest!.release?.started, oldest!.release?.releaseId], ['running', true, waiting.workflowId]);
      // In the Web UI's Workflows list each run says what it is, and ModelName finds it beside the model's releases.
      const firstRun = await env.client.workflow.getHandle(oldest!.workflowId, oldest!.runId).describe();
      assert.equal(await firstRun.staticSummary(), `Retrain ${model} (schedule ${name}, every 12h)`);
      assert.equal(firstRun.typedSearchAttributes.get(MODEL_NAME), model);
      const described = await cli('describe', name);
      assert.match(described, new RegExp(`^${scheduleId}: retrain ${model} every 12h, active\n {2}policies: overlap skip · catch-up 30m · pauses on failure`));
      assert.match(described, new RegExp(`recent runs \\(newest first\\):\n {4}${scheduleId}-\\S+ {2}completed {2}${releaseId} was already running`));
      assert.match(described, new RegExp(`running {2}started ${releaseId} \\(${waiting.workflowId}\\): waiting for approval`));
      assert.match(described, /next runs: \d{4}-/);

      // Rejecting ends the release; the run that started it ends with the release's outcome.
      await release.executeUpdate(rejectUpdate, { args: [{ by: 'schedule-test', reason: 'the test is done with it' }] });
      assert.equal(((await release.result()) as ReleaseResult).outcome, 'rejected');
      const firstResult = (await env.client.workflow.getHandle(oldest!.workflowId, oldest!.runId).result()) as ScheduledReleaseResult;
      assert.deepEqual(firstResult, { started: true, workflowId: releaseId, releaseId: waiting.workflowId, outcome: 'rejected' });

      assert.match(await cli('delete', name), new RegExp(`^deleted ${scheduleId}`));
      const gone = await modelship(['schedule', 'describe', name], cliEnv);
      assert.equal(gone.code, 1);
      assert.match(gone.stderr, new RegExp(`^no schedule ${scheduleId}: modelship schedule list shows`));
    });
  });
});
