// Model registration in MLflow: one version per training run (a retried activity finds the version it made),
// lineage tags, and aliases. The version's model/ folder is made an MLflow Model first (registry/mlflow-model.ts).
import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import type { InputContract } from '../model/input-contract';
import { mlflowAccess, type MlflowAccess, type MlflowDeps } from '../registry/artifact-store';
import { runArtifactUri, tagValue, type ModelVersion } from '../registry/mlflow';
import { heldOutColumns, mlflowModelFiles } from '../registry/mlflow-model';
import type { ClassificationMetrics } from '../evaluation/metrics';
import type { TrainResult } from '../workflows/training-api';

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

export interface RegisteredModel {
  name: string;
  version: string;
  modelUri: string;
  /** The artifacts of the run that made it, in the shape training returns (paths empty: fetched by digest). */
  train: Pick<TrainResult, 'files' | 'mlflow' | 'bestFamily'>;
}

export interface ApprovalTags {
  modelName: string;
  version: string;
  runId?: string;
  tags: Record<string, string>;
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

/**
 * metric.<name> tags of a version: numbers as numbers, anything else (the confusion matrix) as JSON. The workflow
 * passes every metric of the evaluation, not only those the type names.
 */
export function metricTags(metrics: object): Record<string, string> {
  return Object.fromEntries(Object.entries(metrics).map(([key, value]) => [`metric.${key}`, typeof value === 'number' ? String(value) : JSON.stringify(value)]));
}

/**
 * Writes MLmodel, the environment, the input example and the pyfunc code next to model.onnx in the run's model/
 * folder. Idempotent: the same run writes the same files (a retry overwrites them with themselves).
 */
export async function logMlflowModel(access: MlflowAccess, train: RegisterInput['train']): Promise<void> {
  const { artifactUri, runId } = train.mlflow;
  const fetch = (name: string) => access.artifacts.fetchFile(artifactUri, name, train.files[name]!);
  const contract = JSON.parse(readFileSync(await fetch('model/input_contract.json'), 'utf8')) as InputContract;
  const columns = await heldOutColumns(contract, await fetch('data/test_rows.csv'));
  for (const file of mlflowModelFiles(contract, columns, runId, new Date())) {
    await access.artifacts.put(artifactUri, `model/${file.path}`, file.body);
  }
}

export function createRegistryActivities(deps: MlflowDeps) {
  const access = mlflowAccess(deps);
  const { mlflow: client } = access;
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
          'modelship.test_rows_sha256': train.files['data/test_rows.csv']!.sha256,
          'modelship.test_predictions_sha256': train.files['data/test_predictions.json']!.sha256,
          'modelship.code_version': input.codeVersion,
          'modelship.family': train.bestFamily,
          ...metricTags(input.metrics),
        };
        await logMlflowModel(access, train);
        version = await client.createVersion(name, `${train.mlflow.artifactUri}/model`, train.mlflow.runId, tags);
        created = true;
      }
      if (version.status && version.status !== 'READY') {
        throw ApplicationFailure.retryable(`model version ${version.version} is ${version.status}, not READY yet`, 'ModelVersionNotReady');
      }
      await client.setAlias(name, input.alias, version.version);
      return { name, version: version.version, modelUri: `models:/${name}/${version.version}`, source: version.source, created };
    },

    /** Resolves models:/NAME@ALIAS or models:/NAME/VERSION to a version registered by modelship and its files. */
    async resolveRegisteredModel(uri: string): Promise<RegisteredModel> {
      let version: ModelVersion;
      try {
        version = await client.resolve(uri);
      } catch (error) {
        throw ApplicationFailure.nonRetryable(`cannot use ${uri}: ${(error as Error).message}. Fix: train first, or name an existing version.`, 'ModelNotFound');
      }
      const digest = (key: string) => tagValue(version, `modelship.${key}_sha256`);
      const files = {
        'model/model.onnx': digest('model'),
        'model/input_contract.json': digest('contract'),
        'data/test_rows.csv': digest('test_rows'),
        'data/test_predictions.json': digest('test_predictions'),
      };
      const absent = Object.entries(files)
        .filter(([, sha]) => !sha)
        .map(([name]) => name);
      if (absent.length > 0 || !version.run_id) {
        throw ApplicationFailure.nonRetryable(
          `${uri} (version ${version.version}) lacks modelship's digests for ${absent.join(', ')}: it was not registered by modelship`,
          'ModelNotComparable',
        );
      }
      return {
        name: version.name,
        version: version.version,
        modelUri: `models:/${version.name}/${version.version}`,
        train: {
          files: Object.fromEntries(Object.entries(files).map(([name, sha256]) => [name, { path: '', sha256: sha256! }])),
          mlflow: { runId: version.run_id, experimentId: '', artifactUri: runArtifactUri(version) },
          bestFamily: tagValue(version, 'modelship.family') ?? 'unknown',
        },
      };
    },

    /** Records who decided on a version (and why) as tags on the version and on its run. */
    async tagApproval(input: ApprovalTags): Promise<void> {
      for (const [key, value] of Object.entries(input.tags)) {
        await client.setVersionTag(input.modelName, input.version, key, value);
        if (input.runId) await client.setRunTag(input.runId, key, value);
      }
    },

    /** Points an alias (or removes it) and returns what it pointed at before, for undo. */
    async setModelAlias(input: SetAliasInput): Promise<AliasChange> {
      const before = await client.getVersionByAlias(input.modelName, input.alias);
      if (input.version === undefined) await client.deleteAlias(input.modelName, input.alias);
      else await client.setAlias(input.modelName, input.alias, input.version);
      return { alias: input.alias, previousVersion: before?.version, version: input.version };
    },
  };
}
