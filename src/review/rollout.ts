// The rollout's timeline for the review, read from the steps blueGreenRollout records (its result on success,
// its failure details when it rolled back): traffic per colour over time, the bake analysis of each traffic
// step, and where compensations ran.
import type { RolloutFailureDetails, RolloutResult, RolloutStep } from '../workflows/rollout-api';
import type { RolloutView } from './document';

export function rolloutView(result: RolloutResult | undefined, failure: RolloutFailureDetails | undefined, notDeployed?: string): RolloutView {
  if (!result && !failure) return { outcome: 'not deployed', summary: notDeployed ?? 'not deployed', traffic: [], bakes: [], compensations: [], steps: [] };
  const steps: RolloutStep[] = result?.steps ?? failure?.steps ?? [];
  const t0 = steps.length ? Date.parse(steps[0]!.at) : 0;
  const seconds = (at: string) => Math.round((Date.parse(at) - t0) / 100) / 10;
  const colours = new Set<string>();
  const snapshots: { seconds: number; traffic: Record<string, number> }[] = [];
  let before: Record<string, number> = {};
  const view: RolloutView = {
    outcome: result ? 'succeeded' : 'rolled back',
    summary: result
      ? `${result.colour} serves at ${JSON.stringify(result.traffic)}; ${result.cleanup}`
      : `failed at ${failure!.failed}; undone: ${failure!.undone.join('; ') || 'nothing'}${failure!.undoFailures.length ? `; UNDO FAILURES: ${failure!.undoFailures.join('; ')}` : ''}`,
    traffic: [],
    bakes: [],
    compensations: [],
    steps: steps.map((s) => ({ at: s.at, seconds: seconds(s.at), action: s.action, detail: s.detail })),
  };
  for (const step of steps) {
    const t = seconds(step.at);
    // Rollouts recorded by builds before structured steps carry no data: their timeline shows what it can.
    if (step.action === 'read endpoint' && step.data) {
      before = step.data.traffic;
      snapshots.push({ seconds: t, traffic: before });
      colours.add(step.data.idle);
    } else if (step.action === 'traffic' && step.data) {
      snapshots.push({ seconds: t, traffic: step.data.traffic });
    } else if (step.action === 'bake passed' && step.data) {
      const d = step.data;
      view.bakes.push({ step: `${d.percent} %`, requests: d.requests, error_rate: d.errorRate, p95_ms: d.p95Ms, seconds: t });
    } else if (step.action === 'rolled back') {
      view.compensations.push({ seconds: t, at: step.at, undone: failure?.undone ?? [], failures: failure?.undoFailures ?? [] });
      snapshots.push({ seconds: t, traffic: before });
    }
  }
  if (result && steps.length) snapshots.push({ seconds: seconds(steps[steps.length - 1]!.at), traffic: result.traffic });
  for (const s of snapshots) for (const c of Object.keys(s.traffic)) colours.add(c);
  for (const s of snapshots) for (const c of colours) view.traffic.push({ seconds: s.seconds, colour: c, percent: s.traffic[c] ?? 0 });
  return view;
}
