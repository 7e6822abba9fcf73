// The corpus of recorded workflow histories (test/histories/<build id>/): what the recorder writes and the replay
// test reads. One folder per build that recorded it; old folders stay, so every build's in-flight runs are covered.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { temporal } from '@temporalio/proto';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';

export const HISTORIES_ROOT = resolve(__dirname, '..', 'histories');
export const MANIFEST_FILE = 'manifest.json';

export interface RecordedWorkflow {
  /** Path of the history JSON inside the build folder: <scenario>/<workflow type>.json */
  file: string;
  scenario: string;
  /** Needed to replay: the workflow derives child ids and paths from it, and histories do not carry it. */
  workflowId: string;
  workflowType: string;
  /** How the run closed (COMPLETED, FAILED, CANCELLED, …). */
  status: string;
}

export interface HistoryManifest {
  build: string;
  recordedAt: string;
  temporal: string;
  /** Scenario name → what path it takes. */
  scenarios: Record<string, string>;
  workflows: RecordedWorkflow[];
}

export interface CorpusEntry extends RecordedWorkflow {
  build: string;
  /** Relative to the project root, for messages. */
  path: string;
  history: temporal.api.history.v1.IHistory;
}

/** Every build folder's manifest. */
export function readManifests(root = HISTORIES_ROOT): HistoryManifest[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => JSON.parse(readFileSync(join(root, entry.name, MANIFEST_FILE), 'utf8')) as HistoryManifest);
}

/** Every history of the corpus with what is needed to replay it. */
export function readCorpus(root = HISTORIES_ROOT): CorpusEntry[] {
  return readManifests(root).flatMap((manifest) =>
    manifest.workflows.map((workflow) => ({
      ...workflow,
      build: manifest.build,
      path: `test/histories/${manifest.build}/${workflow.file}`,
      history: historyFromJSON(JSON.parse(readFileSync(join(root, manifest.build, workflow.file), 'utf8'))),
    })),
  );
}

/** History JSON files on disk that no manifest lists (a file added by hand would otherwise never be replayed). */
export function unlistedFiles(root = HISTORIES_ROOT): string[] {
  const listed = new Set(readManifests(root).flatMap((m) => m.workflows.map((w) => `${m.build}/${w.file}`)));
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.json') && !file.endsWith(MANIFEST_FILE))
    .filter((file) => !listed.has(file));
}
