// Data validation as an activity: the input resolved to its files (a file, or a folder's partitions in the window),
// joined with the endpoint's feedback rows when asked, every problem in one non-retryable failure; the profile
// saved as an artifact, and every source recorded with its sha256 and row count.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { stateDir } from '../config/environment';
import type { DataContract } from '../config/schema';
import { CsvFileError } from '../data/csv';
import { FeedbackDataError, writeFeedbackRows } from '../data/feedback-rows';
import { DataSourceError, joinCsvFiles, partitionDate, selectInput, type AppendedCsv, type Selection } from '../data/sources';
import { validateDataset } from '../data/validate-engine';
import { CAPTURE_DIR, FEEDBACK_DIR } from '../shared/capture';
import type { DataSource } from '../shared/data-sources';
import { localEndpointStateDir } from './monitoring';

export interface ValidateDataInput {
  /** A CSV file, or a folder of CSV partitions (input_window picks which). */
  dataPath: string;
  /** With a folder: the newest N files, or the files of the last period (e.g. '90d'). */
  inputWindow?: number | string;
  /** include_feedback: the endpoint whose captured records with joined outcomes are added. */
  feedback?: { endpoint: string };
  contract: DataContract;
  cvFolds: number;
  testSplit: number;
  /** workflow_artifacts/<workflow id>: the profile is written there as data_profile.json. */
  artifactsDir: string;
}

export interface ValidateDataResult {
  /** The CSV training reads: dataPath itself for one file, else the sources joined into the release's artifacts. */
  dataPath?: string;
  /** Every file used, with its sha256 and row count. */
  sources?: DataSource[];
  profilePath: string;
  /** The data sketch the review compares with the champion's data, from the same pass (data_sketch.json). */
  sketchPath?: string;
  sha256: string;
  rows: number;
  positives: number;
  positiveRate: number;
}

/** Where the training CSV of a release is joined to, in its artifacts dir (a folder's files, or a file and feedback). */
export const TRAINING_DATA_FILE = 'training_data.csv';
/** Where validation writes the review's data sketch, in the release's artifacts dir. */
export const DATA_SKETCH_FILE = 'data_sketch.json';
/** Where the feedback rows are written before they are joined, in the release's artifacts dir. */
export const FEEDBACK_DATA_FILE = 'feedback_data.csv';

export interface DataActivityDeps {
  /** The worker's state dir: the local endpoint's captures and outcomes live below it (feedback). */
  stateDir?: string;
}

export function createDataActivities(deps: DataActivityDeps = {}) {
  return {
    async validateData(input: ValidateDataInput): Promise<ValidateDataResult> {
      const context = Context.current();
      const beat = (message: string) => context.heartbeat({ message });
      const refuse = (problems: string[], where: string) =>
        ApplicationFailure.nonRetryable(`data validation found ${problems.length} problem(s) in ${where}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, 'DataValidationFailed', {
          problems,
        });

      let dataPath: string;
      let sources: DataSource[] | undefined;
      let selection: Selection;
      try {
        selection = await selectInput(input.dataPath, input.inputWindow);
        if (selection.files.length === 1 && !input.feedback) dataPath = selection.files[0]!.path;
        else {
          // Several files, or feedback to add: joined into one file training reads (rewritten whole by a retry).
          mkdirSync(input.artifactsDir, { recursive: true });
          dataPath = join(input.artifactsDir, TRAINING_DATA_FILE);
          const count = selection.files.length;
          const joined = await joinCsvFiles(selection.files, dataPath, {
            watchColumn: input.contract.target,
            onProgress: (done, rows) => beat(`joined ${Math.min(done, count)}/${count} file(s)${done > count ? ' and the feedback rows' : ''}: ${rows} rows`),
            append: input.feedback && feedbackRows(input.feedback.endpoint, input, selection.since),
          });
          sources = joined.sources;
        }
      } catch (error) {
        if (error instanceof FeedbackDataError) throw refuse(error.problems, `the feedback of endpoint ${input.feedback!.endpoint}`);
        if (error instanceof DataSourceError || error instanceof CsvFileError) throw refuse([error.message], input.dataPath);
        throw error;
      }

      const { profile, problems, sketch } = await validateDataset(dataPath, {
        contract: input.contract,
        cvFolds: input.cvFolds,
        testSplit: input.testSplit,
        onProgress: (rows) => beat(`validated ${rows} rows`),
        onPercent: (percent) => beat(`read ${percent.toFixed(0)} % of the file`),
      });
      if (profile) writeArtifact(input.artifactsDir, 'data_profile.json', JSON.stringify(profile, null, 2));
      const sketchPath = sketch && writeArtifact(input.artifactsDir, DATA_SKETCH_FILE, JSON.stringify(sketch));
      if (problems.length > 0 || !profile) throw refuse(problems, dataPath === input.dataPath ? input.dataPath : `${dataPath} (joined from ${input.dataPath})`);
      sources ??= [{ kind: 'file', path: dataPath, sha256: profile.sha256, rows: profile.rows, date: partitionDate(selection.files[0]!) }];
      return {
        dataPath,
        sources,
        profilePath: join(input.artifactsDir, 'data_profile.json'),
        ...(sketchPath ? { sketchPath } : {}),
        sha256: profile.sha256,
        rows: profile.rows,
        positives: profile.target.positives,
        positiveRate: profile.target.positive_rate,
      };
    },
  };

  /** The feedback rows of an endpoint, written under the files' header once they are read, as the last part of the join. */
  function feedbackRows(endpoint: string, input: ValidateDataInput, since: number | undefined): AppendedCsv {
    return async ({ header, watchedValues }) => {
      const endpointState = localEndpointStateDir(deps.stateDir ?? stateDir());
      const path = join(input.artifactsDir, FEEDBACK_DATA_FILE);
      await writeFeedbackRows({
        captureRoot: join(endpointState, CAPTURE_DIR),
        feedbackRoot: join(endpointState, FEEDBACK_DIR),
        endpoint,
        header,
        contract: input.contract,
        classes: watchedValues,
        since,
        out: path,
      });
      return { kind: 'feedback', path, endpoint };
    };
  }
}
function writeArtifact(artifactsDir: string, name: string, text: string): string {
  mkdirSync(artifactsDir, { recursive: true });
  const path = join(artifactsDir, name);
  writeFileSync(path, text);
  return path;
}
