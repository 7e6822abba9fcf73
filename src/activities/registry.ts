// Model registration in MLflow: one version per training run (a retried activity finds the version it made),
// lineage tags, and aliases.
import { ApplicationFailure } from '@temporalio/common';
import { MlflowClient, type ModelVersion } from '../registry/mlflow';
import type { ClassificationMetrics } from '../evaluation/metrics';
import type { TrainResult } from './training';

export interface RegisterInput {
  modelName: string;
  workflowId: string;
  dataSha256: string;
  codeVersion: string;
  train: Pick<TrainResult, 'files' | 'mlflow' | 'bestFamily'>;
  metrics: Pick<ClassificationMetrics, 'roc_auc' | 'average_precision' | 'f1' | 'accuracy'>;
  alias: string;
}

export interface RegisterResult {
  name: string;
  version: string;
  modelUri: string;
  source: string;
  /** False when a retried attempt found the version it had already created. */
  created: boolean;
}

export interface SetAliasInput {
  modelName: string;
  alias: string;
  /** The version to point at; undefined removes the alias. */
  version?: string;
}

export interface AliasChange {
  alias: string;
  previousVersion?: string;
  version?: string;
}

export function createRegistryActivities(deps: { mlflowUri: string }) {
  const client = new MlflowClient(deps.mlflowUri);
  return {
    async registerModel(input: RegisterInput): Promise<RegisterResult> {
      const { modelName: name, train } = input;
      await client.ensureRegisteredModel(name);
      const existing = await client.searchVersions(`name='${name}' and run_id='${train.mlflow.runId}'`);
      let version: ModelVersion;
      let created = false;
      if (existing.length > 0) {
        version = existing.sort((a, b) => Number(a.version) - Number(b.version))[0]!;
      } else {
        const tags: Record<string, string> = {
          'modelship.workflow_id': input.workflowId,
          'modelship.data_sha256': input.dataSha256,
          'modelship.model_sha256': train.files['model/model.onnx']!.sha256,
          'modelship.contract_sha256': train.files['model/input_contract.json']!.sha256,
          'modelship.code_version': input.codeVersion,
          'modelship.family': train.bestFamily,
          ...Object.fromEntries(Object.entries(input.metrics).map(([k, v]) => [`metric.${k}`, String(v)])),
        };
        version = await client.createVersion(name, `${train.mlflow.artifactUri}/model`, train.mlflow.runId, tags);
        created = true;
      }
      if (version.status && version.status !== 'READY') {
        throw ApplicationFailure.retryable(`model version ${version.version} is ${version.status}, not READY yet`, 'ModelVersionNotReady');
      }
      await client.setAlias(name, input.alias, version.version);
      return { name, version: version.version, modelUri: `models:/${name}/${version.version}`, source: version.source, created };
    },

    /** Points an alias at a version (or removes it) and returns what it pointed at before, for undo. */
    async setModelAlias(input: SetAliasInput): Promise<AliasChange> {
      const before = await client.getVersionByAlias(input.modelName, input.alias);
      if (input.version === undefined) await client.deleteAlias(input.modelName, input.alias);
      else await client.setAlias(input.modelName, input.alias, input.version);
      return { alias: input.alias, previousVersion: before?.version, version: input.version };
    },
  };
}
