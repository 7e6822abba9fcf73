// Evaluation with onnxruntime-node on the held-out rows, the cross-language parity check against the trainer's
// scikit-learn probabilities, and champion/challenger against the current @production model.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { scoreLabelledCsv } from '../evaluation/evaluate';
import { applyGates, type GateResult, type GateSettings } from '../evaluation/gates';
import { classificationMetrics, type ClassificationMetrics } from '../evaluation/metrics';
import { OnnxModel, predictionLabels, type InputContract } from '../model/input-contract';
import { mlflowAccess, type MlflowDeps } from '../registry/artifact-store';
import { tagValue } from '../registry/mlflow';
import type { ScoredRows } from '../evaluation/evaluate';
import type { ArtifactRef } from '../shared/artifacts';
import type { ChampionResult } from '../workflows/release-api';
import type { TrainedModelRef } from '../workflows/training-api';

export const PARITY_TOLERANCE = 1e-4;

export interface EvaluateInput {
  train: TrainedModelRef;
  artifactsDir: string;
}

export interface EvaluateResult {
  metrics: ClassificationMetrics;
  metricsPath: string;
  /** Max |ONNX Runtime (Node) − scikit-learn| probability on the held-out rows. */
  parityMaxAbsDiff: number;
  rowsPerSecond: number;
  /** Labels and probabilities on the held-out rows, for the review's curves (a file, never in the payload). */
  scores?: ArtifactRef;
}

export interface ChampionInput {
  modelName: string;
  train: TrainedModelRef;
  /** When set, the champion's scores are kept there (and in the candidate's run) for the review. */
  artifactsDir?: string;
}

export interface GateInput {
  settings: GateSettings;
  candidate: ClassificationMetrics;
  champion?: ChampionResult;
}

export function createEvaluationActivities(deps: MlflowDeps) {
  const { mlflow: client, artifacts } = mlflowAccess(deps);
  const fetchTrained = (train: EvaluateInput['train'], name: string) => artifacts.fetchFile(train.mlflow.artifactUri, name, train.files[name]!);
  /** Writes scores to <artifactsDir>/evaluation/<name> and uploads them to the run, keyed by release. */
  const keepScores = async (train: EvaluateInput['train'], artifactsDir: string, name: string, scored: ScoredRows): Promise<ArtifactRef> => {
    const path = join(artifactsDir, 'evaluation', name);
    mkdirSync(join(artifactsDir, 'evaluation'), { recursive: true });
    const text = JSON.stringify({ labels: Array.from(scored.labels), probabilities: Array.from(scored.probabilities) });
    writeFileSync(path, text);
    return artifacts.upload(train.mlflow.artifactUri, `evaluation/${basename(artifactsDir)}/${name}`, path);
  };

  return {
    async evaluateCandidate(input: EvaluateInput): Promise<EvaluateResult> {
      const context = Context.current();
      const [modelPath, contractPath, testRowsPath, goldenPath] = await Promise.all(
        ['model/model.onnx', 'model/input_contract.json', 'data/test_rows.csv', 'data/test_predictions.json'].map((name) => fetchTrained(input.train, name)),
      );
      const contract = JSON.parse(readFileSync(contractPath!, 'utf8')) as InputContract;
      // The evaluated model, kept beside the report (the deployed model is this file, by digest).
      mkdirSync(join(input.artifactsDir, 'model_outputs'), { recursive: true });
      copyFileSync(modelPath!, join(input.artifactsDir, 'model_outputs', 'model.onnx'));
      copyFileSync(contractPath!, join(input.artifactsDir, 'model_outputs', 'input_contract.json'));
      const model = await OnnxModel.load(modelPath!, contract);
      const started = performance.now();
      let scored;
      try {
        scored = await scoreLabelledCsv(model, testRowsPath!, { onProgress: (rows) => context.heartbeat({ message: `scored ${rows} rows` }) });
      } finally {
        await model.release();
      }
      const seconds = (performance.now() - started) / 1000;
      const golden = (JSON.parse(readFileSync(goldenPath!, 'utf8')) as { probabilities: number[] }).probabilities;
      if (golden.length !== scored.probabilities.length) {
        throw ApplicationFailure.nonRetryable(`the trainer scored ${golden.length} held-out rows but ${scored.probabilities.length} were read`, 'EvaluationMismatch');
      }
      let parity = 0;
      golden.forEach((p, i) => (parity = Math.max(parity, Math.abs(p - scored.probabilities[i]!))));
      if (parity > PARITY_TOLERANCE) {
        throw ApplicationFailure.nonRetryable(
          `ONNX Runtime in Node and scikit-learn disagree by ${parity.toExponential(2)} on the held-out rows (limit ${PARITY_TOLERANCE}): ` +
            `the served model would not be the validated one`,
          'CrossLanguageParityFailed',
        );
      }
      const metrics = classificationMetrics(scored.labels, scored.probabilities, contract.threshold);
      mkdirSync(input.artifactsDir, { recursive: true });
      const metricsPath = join(input.artifactsDir, 'metrics.json');
      // The classes as the data writes them, so a reader knows what the confusion matrix's positives are.
      const [negative, positive] = predictionLabels(contract);
      writeFileSync(metricsPath, JSON.stringify({ ...metrics, parity_max_abs_diff: parity, classes: { negative, positive } }, null, 2));
      const scores = await keepScores(input.train, input.artifactsDir, 'candidate_scores.json', scored);
      return { metrics, metricsPath, parityMaxAbsDiff: parity, rowsPerSecond: scored.labels.length / Math.max(seconds, 1e-9), scores };
    },

    /** Scores the current @production model on the candidate's held-out rows; undefined when there is none. */
    async evaluateChampion(input: ChampionInput): Promise<ChampionResult | undefined> {
      const champion = await client.getVersionByAlias(input.modelName, 'production');
      if (!champion) return undefined;
      const modelSha = tagValue(champion, 'modelship.model_sha256');
      const contractSha = tagValue(champion, 'modelship.contract_sha256');
      if (!modelSha || !contractSha) {
        throw ApplicationFailure.nonRetryable(`@production (version ${champion.version}) has no modelship digests: it was not registered by modelship`, 'ChampionNotComparable');
      }
      const fetch = (name: string, sha256: string) => artifacts.fetchFile(champion.source, name, { path: '', sha256 });
      const contract = JSON.parse(readFileSync(await fetch('input_contract.json', contractSha), 'utf8')) as InputContract;
      const model = await OnnxModel.load(await fetch('model.onnx', modelSha), contract);
      try {
        const testRows = await fetchTrained(input.train, 'data/test_rows.csv');
        const scored = await scoreLabelledCsv(model, testRows);
        const metrics = classificationMetrics(scored.labels, scored.probabilities, contract.threshold);
        const scores = input.artifactsDir ? await keepScores(input.train, input.artifactsDir, 'champion_scores.json', scored) : undefined;
        return { version: champion.version, metrics, ...(scores && { scores }) };
      } finally {
        await model.release();
      }
    },

    /** Applies the gates; a failed gate is a non-retryable failure that lists every failed check. */
    async checkGates(input: GateInput): Promise<GateResult> {
      const result = applyGates(input.settings, input.candidate, input.champion);
      if (!result.passed) {
        throw ApplicationFailure.nonRetryable(`the candidate failed ${result.failed.length} gate(s):\n${result.failed.map((f) => `  - ${f}`).join('\n')}`, 'GatesFailed', result);
      }
      return result;
    },
  };
}
