// Reading a run's event history for the benchmarks: when each activity was scheduled, started and closed, and how
// much of a stretch of time some activity was running.
import type { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** A protobuf timestamp in milliseconds. */
export const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => (t ? Number(t.seconds) * 1000 + (t.nanos ?? 0) / 1e6 : 0);

export interface ActivitySpan {
  name: string;
  scheduled: number;
  /** 0 until started. */
  started: number;
  /** 0 until completed, failed or timed out. */
  ended: number;
}

/** Every activity execution of the history, in the order scheduled. */
export function activitySpans(events: HistoryEvent[]): ActivitySpan[] {
  const spans = new Map<number, ActivitySpan>();
  for (const event of events) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) spans.set(Number(event.eventId), { name: scheduled.activityType?.name ?? '?', scheduled: ms(event.eventTime), started: 0, ended: 0 });
    const started = event.activityTaskStartedEventAttributes;
    const startedSpan = started && spans.get(Number(started.scheduledEventId));
    if (startedSpan) startedSpan.started = ms(event.eventTime);
    const closed = event.activityTaskCompletedEventAttributes ?? event.activityTaskFailedEventAttributes ?? event.activityTaskTimedOutEventAttributes;
    const closedSpan = closed && spans.get(Number(closed.scheduledEventId));
    if (closedSpan) closedSpan.ended = ms(event.eventTime);
  }
  return [...spans.values()];
}

/** Milliseconds during which at least one of the closed spans was running (overlaps counted once). */
export function runningMs(spans: ActivitySpan[]): number {
  const closed = spans
    .filter((s) => s.ended > 0)
    .map((s) => [s.started || s.ended, s.ended] as const)
    .sort((a, b) => a[0] - b[0]);
  let covered = 0;
  let reach = -Infinity;
  for (const [from, to] of closed) {
    covered += Math.max(0, to - Math.max(from, reach));
    reach = Math.max(reach, to);
  }
  return covered;
}
