// Why a release started: recorded in its input, status and report, and shown first on its review page.

/** What a monitor alarm that started a retraining release said: the endpoint, the window, each alarm and the drifted features' numbers. */
export interface AlarmTrigger {
  kind: 'alarm';
  endpoint: string;
  window: { start: string; end: string };
  alarms: { kind: string; features: string[]; detail: string }[];
  drift: { feature: string; psi: number; threshold: number }[];
  /** The monitor run that raised it. */
  monitorWorkflowId: string;
  at: string;
}

/** Why a release started. Recorded in the status, the report and first on the review page. */
export type ReleaseTrigger =
  | { kind: 'person'; by?: string }
  | { kind: 'schedule'; schedule: string; at: string }
  | AlarmTrigger
  | { kind: 'promotion'; by?: string; from: string; to: string[]; version: string };

/** One line on why a release started, for summaries. */
export function triggerLine(trigger: ReleaseTrigger): string {
  switch (trigger.kind) {
    case 'person':
      return `started by ${trigger.by ?? 'a person'}`;
    case 'schedule':
      return `schedule ${trigger.schedule}, ${trigger.at}`;
    case 'alarm':
      return `alarm on ${trigger.endpoint}: ${trigger.alarms.map((a) => a.kind).join(', ')}`;
    case 'promotion':
      return `promotion of version ${trigger.version} from ${trigger.from} to ${trigger.to.join(', ')}`;
  }
}
