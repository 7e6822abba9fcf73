// The release's step recorder: each step's status, times and one-line summary in the status query, the stage in
// the search attributes, and the Web UI's current details. Deterministic (workflow code).
import { setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import { innermostFailure } from './failures';
import type { ReleaseStatus, StepName, StepRecord } from './release-api';
import { reviewMarkdown } from './release-review';
import { RELEASE_STAGE } from '../shared/search-attributes';

export interface StepRecorder {
  /** The record of one step. */
  record(name: StepName): StepRecord;
  /** Refreshes the Web UI's current details from the state. */
  show(): void;
  /** Runs one step, recording its start, end and summary (or its error). */
  step<T>(name: StepName, run: () => Promise<T>, summarize: (result: T) => string): Promise<T>;
  skip(name: StepName, why: string): void;
}

export function createStepRecorder(state: ReleaseStatus): StepRecorder {
  const record = (name: StepName) => state.steps.find((s) => s.name === name)!;
  const show = () =>
    setCurrentDetails(
      `**${state.stage}** · ${state.outcome}${state.candidate ? ` · candidate ${state.candidate.name} v${state.candidate.version}` : ''}` +
        `${state.waitingFor ? `\n\nwaiting for: ${state.waitingFor}` : ''}${reviewMarkdown(state.review)}`,
    );
  async function step<T>(name: StepName, run: () => Promise<T>, summarize: (result: T) => string): Promise<T> {
    const entry = record(name);
    state.stage = name;
    entry.status = 'running';
    entry.startedAt = new Date().toISOString();
    upsertSearchAttributes([{ key: RELEASE_STAGE, value: name }]);
    show();
    const started = Date.now();
    try {
      const result = await run();
      entry.status = 'succeeded';
      entry.summary = summarize(result);
      return result;
    } catch (error) {
      entry.status = 'failed';
      entry.summary = innermostFailure(error).message;
      throw error;
    } finally {
      entry.endedAt = new Date().toISOString();
      entry.seconds = (Date.now() - started) / 1000;
    }
  }
  const skip = (name: StepName, why: string) => {
    const entry = record(name);
    entry.status = 'skipped';
    entry.summary = why;
  };
  return { record, show, step, skip };
}
