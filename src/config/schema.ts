// The one schema of a release configuration file. Every key has a default and a description; the description is
// what error messages and `modelship config reference` show, so it says what a valid value looks like.
// Secrets and connection settings (Temporal address, MLflow URI, Azure ids) never live here: see environment.ts.
import { z } from 'zod';
import { durationMs } from '../shared/duration';
import { DEFAULT_MONITOR_SETTINGS as MONITOR } from '../monitoring/defaults';
import { DEFAULT_COMPUTE_SPEC, DEFAULT_DEPLOYMENT_TIMEOUT, TARGET_KINDS } from '../shared/deployment';

const durationString = z.string().refine(
  (value) => {
    try {
      return durationMs(value) >= 0;
    } catch {
      return false;
    }
  },
  { message: 'not a duration' },
);

// Azure ML online endpoint names: 3–32 characters, letters, digits and hyphens, starting with a letter.
const endpointName = z.string().regex(/^[a-zA-Z][a-zA-Z0-9-]{2,31}$/, { message: 'not a valid endpoint name' });

const columnList = z.array(z.string().min(1)).default([]);

/**
 * One environment of a release (staging, production…), in the order the candidate passes through them. Keys left
 * out take the top-level value (target, endpoint_name and the approval keys), so a one-environment config behaves
 * as the top-level keys alone.
 */
export const environmentSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,31}$/, { message: 'not a valid environment name' })
    .describe('the environment and its MLflow alias (@staging, @production): lower-case letters, digits and hyphens'),
  target: z.enum(TARGET_KINDS).optional().describe('where this environment serves: "local" or "azure" (default: the top-level target)'),
  endpoint_name: endpointName.optional().describe("this environment's endpoint (default: the top-level endpoint_name); each endpoint has its own lock"),
  auto_approve_deployment: z.boolean().optional().describe('true or false: enter this environment without waiting for a person (default: the top-level key)'),
  approvers: z.array(z.string().min(1)).optional().describe('who may approve entry to this environment (default: the top-level approvers)'),
  required_approvals: z.int().min(1).max(20).optional().describe('distinct approvals this environment needs (default: the top-level key)'),
  allowed_signers: z.string().min(1).optional().describe("this environment's allowed-signers file, relative to the config file (default: the top-level key)"),
  forbid_self_approval: z.boolean().optional().describe('true or false: refuse an approval from whoever started the release (default: the top-level key)'),
  approval_timeout: durationString.optional().describe('how long to wait for the approval of this environment (default: the top-level key)'),
  soak_time: durationString.default('0s').describe('how long the candidate serves here, then is checked again, before the next environment (default 0s)'),
  smoke_tests: z.boolean().default(true).describe('true or false: after the rollout and the soak, score held-out rows through the endpoint and check the answers (default true)'),
});

export type EnvironmentConfig = z.output<typeof environmentSchema>;

/**
 * The data contract: which columns are what. Every column of the file must appear in exactly one list (or be the
 * target), so a new or renamed column is noticed instead of silently ignored.
 */
export const dataContractSchema = z.strictObject({
  target: z.string().min(1).describe('the binary target column, e.g. HighAmount'),
  positive_class: z.union([z.string(), z.number(), z.boolean()]).transform(String).default('1').describe('the target value that counts as positive (default 1)'),
  numeric_features: columnList.describe('numeric feature columns'),
  categorical_features: columnList.describe('categorical feature columns (unseen values at scoring time are allowed)'),
  date_features: columnList.describe('date feature columns; each yields year, month, day of week and day number'),
  date_format: z.enum(['M/D/YYYY', 'D/M/YYYY', 'YYYY-MM-DD']).default('M/D/YYYY').describe('how dates are written: M/D/YYYY, D/M/YYYY or YYYY-MM-DD (default M/D/YYYY)'),
  id_columns: columnList.describe('identifier columns: checked for duplicates, never used as features'),
  ignored_columns: columnList.describe('columns that are neither features nor ids (free text, personal data…)'),
  forbidden_features: columnList.describe('columns that leak the target and may never be features'),
  max_null_rate: z.number().min(0).max(1).default(0.5).describe('highest accepted share of empty values in a feature column'),
  leakage_auc_threshold: z.number().gt(0.5).max(1).default(0.98).describe('a feature that alone reaches this ROC AUC on the target is refused as leakage (default 0.98)'),
  ranges: z
    .record(z.string(), z.strictObject({ min: z.number().optional(), max: z.number().optional() }))
    .default({})
    .describe('accepted [min, max] per numeric column, e.g. {Age: {min: 18, max: 120}}'),
});

export type DataContract = z.output<typeof dataContractSchema>;

export const releaseConfigSchema = z
  .strictObject({
    // --- data (the original's keys)
    input_data_path: z.string().min(1).default('data/Comprehensive_Banking_Database.csv').describe('path of the training CSV, relative to the config file (e.g. data/banking.csv)'),
    input_window: z
      .union([z.int().min(1), durationString])
      .optional()
      .describe(
        'with input_data_path a folder of CSV files: the newest N files (a whole number) or the files of the last period (e.g. 90d, by the date in the file name, else its modification time); unset: every file',
      ),
    include_feedback: z
      .boolean()
      .default(false)
      .describe(
        "true or false: add the endpoint's captured records that have joined outcomes (modelship feedback) to the training data, validated by the same contract (default false)",
      ),
    test_data_split: z.number().gt(0).lt(1).default(0.2).describe('fraction of rows held out for evaluation, a number between 0 and 1 exclusive (default 0.2)'),

    data: dataContractSchema.optional().describe("the data contract (target, feature columns by kind, ids, forbidden columns); 'modelship data infer-schema FILE' proposes one"),

    // --- training
    model_name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, { message: 'not a valid model name' })
      .default('financial-behavior-model')
      .describe('registered model name in MLflow: letters, digits, ".", "_" and "-" (default financial-behavior-model)'),
    n_iter: z.int().min(1).max(10_000).default(20).describe('hyperparameter settings tried per model family, a whole number from 1 (default 20)'),
    cv_folds: z.int().min(2).max(20).default(3).describe('cross-validation folds, a whole number from 2 to 20 (default 3)'),
    random_state: z.int().min(0).default(42).describe('seed for splits and searches, a whole number ≥ 0 (default 42)'),
    scoring: z
      .enum(['roc_auc', 'average_precision', 'f1', 'balanced_accuracy'])
      .default('roc_auc')
      .describe('the primary metric: the search optimises it and champion/challenger compares it (default roc_auc)'),
    model_families: z
      .array(z.enum(['random_forest', 'hist_gradient_boosting', 'logistic_regression']))
      .min(1)
      .default(['random_forest', 'hist_gradient_boosting', 'logistic_regression'])
      .describe('model families searched: random_forest, hist_gradient_boosting, logistic_regression (default all three)'),
    training_budget: z
      .union([z.enum(['fast', 'default', 'thorough']), durationString])
      .default('default')
      .describe(
        'how much compute the search spends: fast (search on a 20,000-row sample, stops starting candidates after 2m), ' +
          'default (60,000 rows, 5m) or thorough (300,000 rows, no limit); or a duration such as 20m: the default sample with that search time limit. ' +
          'The winner is always refitted on every training row (default: the default preset)',
      ),

    // --- validation gates
    min_accuracy: z.number().min(0).max(1).default(0.8).describe('lowest accepted accuracy on held-out rows, between 0 and 1 (default 0.8)'),
    min_roc_auc: z.number().min(0).max(1).default(0.75).describe('lowest accepted held-out ROC AUC, between 0 and 1 (default 0.75)'),
    min_f1: z.number().min(0).max(1).default(0.2).describe('lowest accepted held-out F1 of the positive class, between 0 and 1 (default 0.2)'),
    max_regression: z.number().min(0).max(1).default(0.01).describe('how much worse than @production the candidate may be on the primary metric (default 0.01)'),
    max_latency_ms: z.number().positive().default(100).describe('highest accepted p95 single-record latency in milliseconds, a number > 0 (default 100)'),

    // --- deployment (the original's keys)
    target: z.enum(TARGET_KINDS).default('local').describe('where models are served: "local" (embedded endpoint) or "azure" (Azure ML managed online endpoint)'),
    endpoint_name: endpointName.default('financial-behavior-endpoint').describe('online endpoint name: 3–32 letters, digits or hyphens, starting with a letter'),
    deployment_name: z
      .string()
      .regex(/^[a-z][a-z0-9-]{2,31}$/, { message: 'not a valid deployment name' })
      .default('blue')
      .describe('colour the first release deploys to: lower-case letters, digits or hyphens, 3–32 long (default blue)'),
    instance_type: z
      .string()
      .min(1)
      .default(DEFAULT_COMPUTE_SPEC.instanceType)
      .describe('Azure VM size per deployment (default Standard_F4s_v2; F2s_v2 is often too small to start)'),
    instance_count: z.int().min(1).max(100).default(DEFAULT_COMPUTE_SPEC.instanceCount).describe('instances per deployment, a whole number from 1 (default 1)'),
    traffic_plan: z
      .array(z.int().min(1).max(100))
      .min(1)
      .refine((steps) => steps[steps.length - 1] === 100 && steps.every((v, i) => i === 0 || v > steps[i - 1]!), { message: 'not an increasing list ending at 100' })
      .default([100])
      .describe('traffic percentages to the new colour, increasing, ending at 100: [100] all at once, or e.g. [10, 50, 100]'),
    shadow_percent: z
      .int()
      .min(0)
      .max(50)
      .default(0)
      .describe('before any live traffic, mirror this % of requests to the new colour and report how often it agrees with the live one (0: no shadow phase; at most 50)'),
    shadow_time: durationString.default('30s').describe('how long the shadow phase runs (default 30s)'),
    bake_time: durationString.default('10s').describe('how long each traffic step runs before its error rate and latency are analysed, e.g. 0s, 30s, 5m (default 10s)'),
    max_error_rate: z.number().min(0).max(1).default(0.01).describe('highest accepted share of failed requests in a health check or bake, 0–1 (default 0.01)'),
    no_cleanup: z.boolean().default(false).describe('true or false: keep the old colour deployed (at 0 %) after a successful rollout (default false)'),
    deployment_timeout: durationString
      .default(DEFAULT_DEPLOYMENT_TIMEOUT)
      .describe('bound on each long target operation (provisioning a deployment, a traffic change, a deletion), e.g. 20m, 1h (default 30m)'),
    capture_percent: z
      .number({ message: 'capture_percent must be a number from 0 to 100 (the share of scored records the endpoint captures)' })
      .min(0, { message: 'capture_percent must be a number from 0 to 100 (0 captures nothing)' })
      .max(100, { message: 'capture_percent must be a number from 0 to 100 (100 captures every record)' })
      .default(100)
      .describe('share of scored records the local endpoint captures for monitoring, 0–100 (default 100: every record); see docs/capture-and-metrics.md'),
    termination_wait: durationString.default('5s').describe('wait before deleting the old colour, so in-flight requests finish (default 5s)'),

    // --- workflow control (the original's flags)
    skip_training: z.boolean().default(false).describe('true or false: reuse an existing model instead of training (default false)'),
    skip_local_testing: z.boolean().default(false).describe('true or false: skip the local test suite (default false)'),
    skip_deployment: z.boolean().default(false).describe('true or false: stop after approval without deploying (default false)'),
    skip_azure_deployment: z.boolean().optional().describe('the original name of skip_deployment, kept as an alias: true or false'),
    auto_approve_deployment: z.boolean().default(false).describe('true or false: approve automatically (recorded as automatic) instead of waiting for a person (default false)'),
    unattended_approval: z
      .enum(['person', 'automatic'])
      .default('person')
      .describe(
        '"person" or "automatic": how a release started by a schedule or an alarm is approved; "automatic" is the only way one deploys unattended, auto_approve_deployment does not apply to it (default person)',
      ),
    environments: z
      .array(environmentSchema)
      .min(1)
      .optional()
      .describe(
        'the environments a release passes through in order, e.g. [{name: staging, endpoint_name: fb-staging, auto_approve_deployment: true, soak_time: 10m}, {name: production, required_approvals: 2}]; unset: one, production, from the top-level keys',
      ),
    approvers: z.array(z.string().min(1)).default([]).describe('who may approve or reject, a list of names; empty means anyone (default [])'),
    approval_timeout: durationString.default('24h').describe('how long to wait for approval before the run ends as "approval expired", e.g. 30m, 24h (default 24h)'),
    allowed_signers: z
      .string()
      .min(1)
      .optional()
      .describe(
        "path of an allowed-signers file (git's gpg.ssh.allowedSignersFile format: principals [options] ssh-ed25519 KEY), relative to the config file; " +
          'when set, approve and reject need an SSH signature (modelship approve ID --by NAME --key ~/.ssh/id_ed25519) by a key it lists; unset: names only, unverified',
      ),
    required_approvals: z
      .int()
      .min(1)
      .max(20)
      .default(1)
      .describe('how many distinct principals must approve before the release deploys, a whole number from 1 (default 1); one rejection ends the release'),
    forbid_self_approval: z
      .boolean()
      .default(false)
      .describe('true or false: refuse an approval from the principal who started the release (modelship start --by NAME) (default false)'),

    // --- monitoring (modelship monitor enable): what each window of the endpoint is judged by
    monitor: z
      .strictObject({
        every: durationString.default(MONITOR.every).describe(`how often the monitor runs, and so its window, e.g. 15m, 1h, 1d (default ${MONITOR.every})`),
        label_delay: durationString
          .default(MONITOR.labelDelay)
          .describe(`how long after a prediction its outcome arrives: performance is judged on the window shifted back by this (default ${MONITOR.labelDelay})`),
        min_records: z.int().min(1).default(MONITOR.minRecords).describe(`no drift or quality verdict below this many records in a window (default ${MONITOR.minRecords})`),
        min_labelled: z.int().min(1).default(MONITOR.minLabelled).describe(`no performance below this many labelled records in a window (default ${MONITOR.minLabelled})`),
        false_alarm_rate: z
          .number()
          .gt(0)
          .lt(1)
          .default(MONITOR.falseAlarmRate)
          .describe(`chance that a window of unchanged data raises a drift alarm, all features together (default ${MONITOR.falseAlarmRate})`),
        quality_rate: z
          .number()
          .min(0)
          .max(1)
          .default(MONITOR.qualityRate)
          .describe(`data quality alarms above this share of missing, unseen, out-of-range or refused (default ${MONITOR.qualityRate})`),
        decay_tolerance: z
          .number()
          .min(0)
          .max(1)
          .default(MONITOR.decayTolerance)
          .describe(`decay alarms when ROC AUC's upper bound is this far below the deployed version's evaluation (default ${MONITOR.decayTolerance})`),
        on_alarm: z
          .enum(['alert', 'retrain'])
          .default('alert')
          .describe(
            '"alert" or "retrain": on a new alarm, only tell (alert), or also start a retraining release with this config (one release per model at a time) (default alert)',
          ),
      })
      .prefault({})
      .describe('the endpoint monitor: every, label_delay, min_records, min_labelled, false_alarm_rate, quality_rate, decay_tolerance, on_alarm (docs/monitoring.md)'),
  })
  .superRefine((config, context) => {
    if (config.approvers.length > 0 && config.required_approvals > config.approvers.length) {
      context.addIssue({
        code: 'custom',
        path: ['required_approvals'],
        message: `${config.required_approvals} approvals are required but approvers lists only ${config.approvers.length}: lower required_approvals or add approvers`,
      });
    }
    const names = (config.environments ?? []).map((e) => e.name);
    names.forEach((name, index) => {
      if (names.indexOf(name) !== index)
        context.addIssue({ code: 'custom', path: ['environments', index, 'name'], message: `environment ${name} is listed twice: give each a distinct name` });
    });
    // Azure ML API 2022-10-01 (what @azure/arm-machinelearning 2.1.1 speaks) has no mirror traffic.
    if (config.target === 'azure' && config.shadow_percent > 0) {
      context.addIssue({
        code: 'custom',
        path: ['shadow_percent'],
        message: 'target azure cannot mirror traffic (Azure ML API 2022-10-01): set shadow_percent to 0 with target: azure',
      });
    }
  });

export type ReleaseConfigInput = z.input<typeof releaseConfigSchema>;
type ParsedReleaseConfig = z.output<typeof releaseConfigSchema>;

/** A validated configuration, with the alias folded into its canonical key. */
export type ReleaseConfig = Omit<ParsedReleaseConfig, 'skip_azure_deployment'>;

export const releaseConfigKeys = Object.keys(releaseConfigSchema.shape) as (keyof ParsedReleaseConfig)[];

export const dataContractKeys = Object.keys(dataContractSchema.shape);

/** The description of a key, for a top-level key or a data-contract key (path ['data', 'target']). */
export function describeKey(path: string | string[]): string | undefined {
  const [first, second] = typeof path === 'string' ? [path] : path;
  if (first === 'data' && second !== undefined) return (dataContractSchema.shape as Record<string, z.ZodType>)[second]?.description;
  return (releaseConfigSchema.shape as Record<string, z.ZodType>)[first ?? '']?.description;
}

/** Folds `skip_azure_deployment` into `skip_deployment` (either being true skips). */
export function normalizeConfig(parsed: ParsedReleaseConfig): ReleaseConfig {
  const { skip_azure_deployment, ...rest } = parsed;
  return { ...rest, skip_deployment: rest.skip_deployment || skip_azure_deployment === true };
}
