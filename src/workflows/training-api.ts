// The training contract: what a release asks of training and what it gets back, and the distributed search's
// payloads between its activities (prepare → shards → finish). Shared by the workflows and the training activities.
import type { DataContract, ReleaseConfig } from '../config/schema';
import type { ArtifactRef, FileRef } from '../shared/artifacts';

export interface TrainInput {
  /** The release's workflow id: names the MLflow run and keys the retry-safe output folder. */
  workflowId: string;
  dataPath: string;
  dataSha256: string;
  /** workflow_artifacts/<workflow id>: where the release's artifacts are written. */
  artifactsDir: string;
  config: Pick<ReleaseConfig, 'model_name' | 'test_data_split' | 'n_iter' | 'cv_folds' | 'random_state' | 'scoring' | 'model_families' | 'training_budget'> & {
    data: DataContract;
  };
}

export interface TrainResult {
  bestFamily: string;
  bestParams: Record<string, unknown>;
  cv: Record<string, number>;
  scoring: string;
  threshold: number;
  parityMaxAbsDiff: number;
  trainRows: number;
  testRows: number;
  fits: number;
  seconds: number;
  /** Keyed by MLflow artifact path: model/model.onnx, model/input_contract.json, data/test_rows.csv, … */
  files: Record<string, FileRef>;
  mlflow: { runId: string; experimentId: string; artifactUri: string };
  /** True when a finished result from an earlier attempt was reused. */
  resumed: boolean;
}

/** What evaluating, registering, deploying or reviewing a trained model needs: its files and its MLflow run. */
export type TrainedModelRef = Pick<TrainResult, 'files' | 'mlflow'>;

export interface SearchCandidate {
  index: number;
  params: Record<string, unknown>;
}

/** One batch of candidates of one family, scored with all their folds by one activity. */
export interface ShardSpec {
  id: string;
  family: string;
  candidates: SearchCandidate[];
}

export interface PreparedSearch {
  /** Digest of the held-out and search-sample row numbers: every worker checks it gets the same split. */
  splitDigest: string;
  trainRows: number;
  testRows: number;
  sampleRows: number;
  budget: string;
  /** The search stops starting candidates this long after it starts (null: no limit). */
  timeLimitSeconds: number | null;
  sample: ArtifactRef;
  shards: ShardSpec[];
  mlflow: TrainResult['mlflow'];
  resumed: boolean;
}

export interface ShardInput extends Pick<TrainInput, 'workflowId' | 'config'> {
  prepared: Pick<PreparedSearch, 'sample' | 'mlflow'>;
  shard: ShardSpec;
  /** Unix seconds after which no new candidate starts (null: none). */
  deadline: number | null;
}

export interface ShardResult {
  id: string;
  family: string;
  /** The shard's scores (search/shards/<id>.json in the training run). */
  scores: ArtifactRef;
  fits: number;
  /** Best mean CV score in the shard (null when every candidate was skipped). */
  best: number | null;
  resumed: boolean;
}

export interface FinishInput extends TrainInput {
  prepared: Pick<PreparedSearch, 'splitDigest' | 'mlflow'>;
  shards: ShardResult[];
}
