import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config/load';
import { projectRoot } from '../src/config/environment';

const dir = mkdtempSync(join(tmpdir(), 'modelship-config-'));
let counter = 0;
function writeConfig(text: string): string {
  const path = join(dir, `config-${counter++}.yaml`);
  writeFileSync(path, text);
  return path;
}

function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.problems;
  }
  assert.fail('expected the config to be refused');
}

describe('config loader', () => {
  it('config/demo.yaml is config/default.yaml with a shorter bake, nothing else', () => {
    const { config: standard } = loadConfig({ path: join(projectRoot, 'config', 'default.yaml') });
    const { config: demo } = loadConfig({ path: join(projectRoot, 'config', 'demo.yaml') });
    assert.equal(demo.bake_time, '2s');
    assert.deepEqual({ ...demo, bake_time: standard.bake_time }, standard);
  });

  it('loads the shipped default file with every key resolved', () => {
    const { config, path } = loadConfig({ path: join(projectRoot, 'config', 'default.yaml') });
    assert.equal(path, join(projectRoot, 'config', 'default.yaml'));
    assert.equal(config.n_iter, 20);
    assert.equal(config.cv_folds, 3);
    assert.equal(config.random_state, 42);
    assert.equal(config.min_accuracy, 0.8);
    assert.equal(config.deployment_name, 'blue');
    assert.equal(config.instance_type, 'Standard_F4s_v2');
    assert.equal(config.target, 'local');
    // Relative data paths are resolved against the config file's folder.
    assert.equal(config.input_data_path, join(projectRoot, 'data', 'Comprehensive_Banking_Database.csv'));
  });

  it('fills defaults for keys the file leaves out', () => {
    const { config } = loadConfig({ path: writeConfig('n_iter: 5\n') });
    assert.equal(config.n_iter, 5);
    assert.equal(config.test_data_split, 0.2);
    assert.equal(config.approval_timeout, '24h');
    assert.deepEqual(config.approvers, []);
  });

  const invalidFields: [string, string, RegExp][] = [
    ['test_data_split', 'test_data_split: 1.5', /test_data_split \(line 1\): too big.*got 1\.5.*between 0 and 1/],
    ['n_iter', 'n_iter: 0', /n_iter \(line 1\): too small.*whole number from 1/],
    ['n_iter (fraction)', 'n_iter: 2.5', /n_iter \(line 1\): expected a whole number.*got 2\.5/],
    ['cv_folds', 'cv_folds: 1', /cv_folds \(line 1\): too small \(must be ≥ 2\)/],
    ['min_accuracy', 'min_accuracy: high', /min_accuracy \(line 1\): expected a number.*got "high"/],
    ['max_latency_ms', 'max_latency_ms: -5', /max_latency_ms \(line 1\): too small.*> 0/],
    ['target', 'target: gcp', /target \(line 1\): must be one of "local", "azure".*got "gcp"/],
    ['endpoint_name', 'endpoint_name: 1-bad', /endpoint_name \(line 1\): not a valid endpoint name.*starting with a letter/],
    ['instance_count', 'instance_count: 0', /instance_count \(line 1\): too small/],
    ['skip_training', 'skip_training: "yes please"', /skip_training \(line 1\): expected a boolean.*true or/],
    ['approvers', 'approvers: alice', /approvers \(line 1\): expected a array.*list of names/],
    ['approval_timeout', 'approval_timeout: soon', /approval_timeout \(line 1\): not a duration.*e\.g\. 30m, 24h/],
    ['model_name', 'model_name: "bad name!"', /model_name \(line 1\): not a valid model name/],
  ];
  for (const [name, yaml, expected] of invalidFields) {
    it(`names the field and the fix for a bad ${name}`, () => {
      const problems = problemsOf(() => loadConfig({ path: writeConfig(yaml) }));
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0]!, expected);
    });
  }

  it('refuses unknown keys and suggests the nearest one', () => {
    const problems = problemsOf(() => loadConfig({ path: writeConfig('n_iter: 3\nn_iterr: 10\n') }));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /n_iterr \(line 2\): unknown key\. Fix: did you mean "n_iter"\?/);
  });

  it('reports every problem at once, each with its line', () => {
    const problems = problemsOf(() => loadConfig({ path: writeConfig('cv_folds: 0\nmin_accuracy: 2\ntypo_key: 1\n') }));
    assert.equal(problems.length, 3, problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('cv_folds (line 1)')));
    assert.ok(problems.some((p) => p.startsWith('min_accuracy (line 2)')));
    assert.ok(problems.some((p) => p.startsWith('typo_key (line 3)')));
  });

  it('lets command-line overrides win, and validates them too', () => {
    const path = writeConfig('n_iter: 5\nauto_approve_deployment: false\n');
    const { config } = loadConfig({ path, overrides: { n_iter: 7, auto_approve_deployment: true } });
    assert.equal(config.n_iter, 7);
    assert.equal(config.auto_approve_deployment, true);
    const problems = problemsOf(() => loadConfig({ path, overrides: { cv_folds: 1 } }));
    assert.match(problems[0]!, /cv_folds \(from the command line\): too small/);
  });

  it('refuses a shadow phase with target azure, at its line, before anything runs', () => {
    const problems = problemsOf(() => loadConfig({ path: writeConfig('target: azure\nshadow_percent: 20\n') }));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^shadow_percent \(line 2\): target azure cannot mirror traffic .*set shadow_percent to 0 with target: azure \(got 20\)/);
    assert.equal(loadConfig({ path: writeConfig('target: azure\nshadow_percent: 0\n') }).config.target, 'azure');
  });

  it('keeps the original skip_azure_deployment key as an alias of skip_deployment', () => {
    assert.equal(loadConfig({ path: writeConfig('skip_azure_deployment: true\n') }).config.skip_deployment, true);
    assert.equal(loadConfig({ path: writeConfig('skip_azure_deployment: false\n') }).config.skip_deployment, false);
    assert.equal('skip_azure_deployment' in loadConfig({ path: writeConfig('{}\n') }).config, false);
  });

  it('explains a missing file, bad YAML and a file that is not a mapping', () => {
    assert.match(problemsOf(() => loadConfig({ path: join(dir, 'nope.yaml') }))[0]!, /file not found.*--config/);
    assert.match(problemsOf(() => loadConfig({ path: writeConfig('n_iter: [1, 2\n') }))[0]!, /YAML syntax error at line \d/);
    assert.match(problemsOf(() => loadConfig({ path: writeConfig('- a\n- b\n') }))[0]!, /must be a mapping/);
  });

  it('accepts an empty file as all defaults', () => {
    const { config } = loadConfig({ path: writeConfig('') });
    assert.equal(config.n_iter, 20);
  });

  it('resolves a relative input_data_path without a file against the working directory', () => {
    const { config } = loadConfig({ overrides: { input_data_path: 'x.csv' } });
    assert.equal(config.input_data_path, resolve('x.csv'));
  });
});

describe('config paths', () => {
  it('takes --input-data relative to the working directory, not the config file', () => {
    const path = writeConfig('input_data_path: data.csv\n');
    assert.equal(loadConfig({ path }).config.input_data_path, join(dir, 'data.csv'));
    assert.equal(loadConfig({ path, overrides: { input_data_path: 'mine.csv' } }).config.input_data_path, resolve('mine.csv'));
  });
});
