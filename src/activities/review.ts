// The release review: review.json (the numbers) and review.html (the page, charts inlined) in
// workflow_artifacts/<id>/ and in the MLflow run. Written while the release waits for approval and again after
// the rollout. Inputs are references (paths with digests and MLflow locations); everything is re-read, so a
// retried or repeated call writes the same files.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import type { ClassificationMetrics } from '../evaluation/metrics';
import { mlflowAccess, type MlflowDeps } from '../registry/artifact-store';
import { MlflowError, runArtifactUri } from '../registry/mlflow';
import {
  approvalViews,
  curvePanels,
  driftPanel,
  gatesPanel,
  latencyPanel,
  metricRows,
  REVIEW_VERSION,
  type ReviewDocument,
  type ScoredModel,
  releaseContext,
} from '../review/document';
import { compareSketches, SKETCH_VERSION, sketchCsv, type DataSketch } from '../review/drift';
import { renderReviewHtml } from '../review/page';
import { rolloutView } from '../review/rollout';
import type { ArtifactRef, FileRef } from '../shared/artifacts';
import type { ReviewInput, ReviewResult } from '../workflows/review-api';

export const IMPORTANCE_ARTIFACT = 'evaluation/feature_importance.json';
export const SKETCH_ARTIFACT = 'review/data_sketch.json';

export function createReviewActivities(deps: MlflowDeps) {
  const { mlflow: client, artifacts } = mlflowAccess(deps);

  const readScores = async (ref: ArtifactRef | undefined) => {
    if (!ref) return undefined;
    return JSON.parse(readFileSync(await artifacts.fetch(ref), 'utf8')) as { labels: number[]; probabilities: number[] };
  };

  /** An optional artifact of a run: by digest when known, else the run's current copy; undefined when the run has none. */
  const optionalArtifact = async (artifactUri: string, path: string, ref?: FileRef) => {
    if (!ref) {
      const latest = await artifacts.fetchLatest(artifactUri, path);
      return latest && readFileSync(latest.path, 'utf8');
    }
    try {
      return readFileSync(await artifacts.fetchFile(artifactUri, path, ref), 'utf8');
    } catch (error) {
      if (error instanceof MlflowError && error.status === 404) return undefined;
      throw error;
    }
  };

  async function importance(input: ReviewInput): Promise<ReviewDocument['importance']> {
    const text = await optionalArtifact(input.train.mlflow.artifactUri, IMPORTANCE_ARTIFACT, input.train.files[IMPORTANCE_ARTIFACT]);
    if (!text) return { available: false, note: 'the training run has no feature importance (trained before modelship computed it)' };
    const parsed = JSON.parse(text) as { metric: string; features: { feature: string; importance_mean: number; importance_std: number }[] };
    return { available: true, metric: parsed.metric, rows: parsed.features };
  }

  /**
   * The sketch of this release's data: the one validation wrote from its pass over the data, else (a release started
   * before validation wrote sketches, or on a worker that cannot see that file) the run's uploaded copy, else a pass
   * over the file. It goes with the run, so the next release can compare against it from any machine.
   */
  async function dataSketch(input: ReviewInput, madeByThisRelease: boolean): Promise<DataSketch> {
    const current = (sketch: DataSketch | undefined) => sketch?.sketch_version === SKETCH_VERSION && sketch.data_sha256 === input.data.sha256;
    let sketch: DataSketch | undefined;
    if (input.data.sketchPath && existsSync(input.data.sketchPath)) {
      const written = JSON.parse(readFileSync(input.data.sketchPath, 'utf8')) as DataSketch;
      if (current(written)) sketch = written;
    }
    let uploaded = false;
    if (madeByThisRelease) {
      const text = await optionalArtifact(input.train.mlflow.artifactUri, SKETCH_ARTIFACT);
      const copy = text ? (JSON.parse(text) as DataSketch) : undefined;
      if (current(copy)) {
        sketch ??= copy;
        uploaded = true;
      }
    }
    sketch ??= await sketchCsv(input.data.path, input.data.contract, input.data.sha256);
    if (madeByThisRelease && !uploaded) await artifacts.put(input.train.mlflow.artifactUri, SKETCH_ARTIFACT, JSON.stringify(sketch));
    return sketch;
  }

  async function drift(input: ReviewInput, madeByThisRelease: boolean): Promise<ReviewDocument['drift']> {
    const current = await dataSketch(input, madeByThisRelease);
    if (!input.champion) return driftPanel(undefined, '', input.championNote ?? 'no @production model: nothing to compare with');
    const champion = await client.getVersion(input.modelName, input.champion.version);
    const text = await optionalArtifact(runArtifactUri(champion), SKETCH_ARTIFACT);
    if (!text) return driftPanel(undefined, '', `@production v${input.champion.version}'s run has no data sketch (trained before review reports existed)`);
    const reference = JSON.parse(text) as DataSketch;
    return driftPanel(
      compareSketches(reference, current),
      `@production v${input.champion.version}'s training data (sha256 ${reference.data_sha256.slice(0, 12)}…, ${reference.rows} rows)`,
      '',
    );
  }

  return {
    async writeReview(input: ReviewInput): Promise<ReviewResult> {
      const context = Context.current();
      const beat = (message: string) => context.heartbeat({ message });
      const madeByThisRelease = input.train.mlflow.experimentId !== '';
      const candidateLabel = `candidate v${input.candidate.version}`;

      beat('reading the held-out scores');
      const candidateScores = await readScores(input.evaluation.scores);
      const championScores = await readScores(input.champion?.scores);
      const scored = (label: string, version: string, metrics: ClassificationMetrics, s: { labels: number[]; probabilities: number[] }): ScoredModel => ({
        label,
        version,
        metrics,
        labels: s.labels,
        probabilities: s.probabilities,
      });
      const curves = candidateScores
        ? curvePanels(
            scored(candidateLabel, input.candidate.version, input.evaluation.metrics, candidateScores),
            input.champion && championScores ? scored(`@production v${input.champion.version}`, input.champion.version, input.champion.metrics, championScores) : undefined,
          )
        : undefined;
      const noScores = { available: false as const, note: 'the evaluation kept no scores (a release started before review reports)' };

      beat('feature importance and data drift');
      const [importancePanel, driftResult] = [await importance(input), await drift(input, madeByThisRelease)];
      let latencySamples: number[] | undefined;
      if (input.latency.samplesPath && existsSync(input.latency.samplesPath)) {
        latencySamples = (JSON.parse(readFileSync(input.latency.samplesPath, 'utf8')) as { single_record_ms: number[] }).single_record_ms;
      }

      // Where the review goes in MLflow: the run's root when this release made the run; a release of an existing
      // version (skip_training) writes beside it, under reviews/<workflow id>/.
      const run = madeByThisRelease ? { experiment_id: input.train.mlflow.experimentId } : (await client.getRun(input.train.mlflow.runId)).info;
      const prefix = madeByThisRelease ? '' : `reviews/${input.workflowId}/`;
      const runUrl = `${input.links.mlflow}/#/experiments/${run.experiment_id}/runs/${input.train.mlflow.runId}`;
      const reviewUrl = `${runUrl}/artifacts/${prefix}review.html`;

      const doc: ReviewDocument = {
        review_version: REVIEW_VERSION,
        generated_at: new Date().toISOString(),
        phase: input.phase,
        workflow_id: input.workflowId,
        ...releaseContext(input),
        model: {
          name: input.modelName,
          version: input.candidate.version,
          uri: input.candidate.modelUri,
          family: input.train.bestFamily,
          data_sha256: input.data.sha256,
          model_sha256: input.train.files['model/model.onnx']?.sha256,
        },
        champion: input.champion ? { version: input.champion.version } : { none: input.championNote ?? 'no @production model: nothing to compare with' },
        outcome: input.outcome,
        links: {
          mlflow_run: runUrl,
          review_in_mlflow: reviewUrl,
          temporal: `${input.links.temporalUi}/namespaces/${input.links.namespace}/workflows/${encodeURIComponent(input.workflowId)}`,
        },
        metrics: metricRows(input.evaluation.metrics, input.champion?.metrics),
        roc: curves?.roc ?? noScores,
        precision_recall: curves?.precision_recall ?? noScores,
        calibration: curves?.calibration ?? noScores,
        confusion: curves?.confusion ?? noScores,
        score_distribution: curves?.score_distribution ?? noScores,
        gates: gatesPanel(input.gates),
        importance: importancePanel,
        drift: driftResult,
        latency: latencyPanel(
          latencySamples,
          input.latency.maxLatencyMs,
          input.latency.skipped ?? 'no latency samples on this machine (local tests ran elsewhere or before review reports)',
        ),
        approvals: { signed_setup: input.signedApprovals, records: approvalViews(input.approvals), waiting: input.waitingFor },
        ...(input.phase === 'final' && {
          rollout: input.rollout
            ? { available: true as const, ...rolloutView(input.rollout.result, input.rollout.failure, input.rollout.notDeployed) }
            : { available: false as const, note: 'no rollout' },
        }),
      };

      beat('rendering the charts');
      const html = await renderReviewHtml(doc);
      const json = JSON.stringify(doc, null, 2);
      mkdirSync(input.artifactsDir, { recursive: true });
      const htmlPath = join(input.artifactsDir, 'review.html');
      const jsonPath = join(input.artifactsDir, 'review.json');
      writeFileSync(jsonPath, json);
      writeFileSync(htmlPath, html);

      beat('uploading to MLflow');
      try {
        await artifacts.put(input.train.mlflow.artifactUri, `${prefix}review.json`, json);
        await artifacts.put(input.train.mlflow.artifactUri, `${prefix}review.html`, html);
        return { htmlPath, jsonPath, mlflow: { artifactPath: `${prefix}review.html`, reviewUrl, runUrl } };
      } catch (error) {
        if (!(error instanceof MlflowError) || error.status === 0 || error.status >= 500) throw error; // retried
        return { htmlPath, jsonPath, mlflowError: error.message };
      }
    },
  };
}
