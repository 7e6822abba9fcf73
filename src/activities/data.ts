// Data validation as an activity: every problem in one non-retryable failure; the profile saved as an artifact.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { DataContract } from '../config/schema';
import type { DataSource } from '../shared/data-sources';
import { validateDataset, type DataProfile } from '../data/validate';

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
  sha256: string;
  rows: number;
  positives: number;
  positiveRate: number;
}

export function createDataActivities() {
  return {
    async validateData(input: ValidateDataInput): Promise<ValidateDataResult> {
      const context = Context.current();
      const { profile, problems } = await validateDataset(input.dataPath, {
        contract: input.contract,
        cvFolds: input.cvFolds,
        testSplit: input.testSplit,
        onProgress: (rows) => context.heartbeat({ message: `read ${rows} rows` }),
      });
      if (profile) writeProfile(input.artifactsDir, profile);
      if (problems.length > 0 || !profile) {
        throw ApplicationFailure.nonRetryable(
          `data validation found ${problems.length} problem(s) in ${input.dataPath}:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
          'DataValidationFailed',
          { problems },
        );
      }
      return {
        profilePath: join(input.artifactsDir, 'data_profile.json'),
        sha256: profile.sha256,
        rows: profile.rows,
        positives: profile.target.positives,
        positiveRate: profile.target.positive_rate,
      };
    },
  };
}

function writeProfile(artifactsDir: string, profile: DataProfile): void {
  mkdirSync(artifactsDir, { recursive: true });
  writeFileSync(join(artifactsDir, 'data_profile.json'), JSON.stringify(profile, null, 2));
}
