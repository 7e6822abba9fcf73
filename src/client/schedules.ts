// Temporal Schedules as modelship makes them (retraining schedules, endpoint monitors): created once, updated in place.
import { ScheduleAlreadyRunning, type Client, type ScheduleDescription, type ScheduleOptions } from '@temporalio/client';

/**
 * Creates the Schedule, or updates it to `options` when it exists (spec, action, policies; `state` maps the state it
 * had to the one it keeps): creating twice gives one schedule. Any modelship schedule can be made this way.
 */
export async function upsertSchedule(
  client: Client,
  options: ScheduleOptions,
  state: (previous: ScheduleDescription['state']) => ScheduleDescription['state'],
): Promise<'created' | 'updated'> {
  try {
    await client.schedule.create(options);
    return 'created';
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
  await client.schedule
    .getHandle(options.scheduleId)
    .update((previous) => ({ ...previous, spec: options.spec, action: options.action, policies: options.policies, state: state(previous.state) }));
  return 'updated';
}
