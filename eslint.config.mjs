// Lint rules, including the import rules that keep the layout: workflows see activities only through the
// `*Activities` proxy types, nothing outside src/workflows reaches into a workflow implementation, and src/ has no
// import cycle. `npm run lint` runs this and `prettier --check`.
import { readdirSync } from 'node:fs';
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const root = import.meta.dirname;

// Code that runs inside the workflow sandbox: the worker's workflows and the history corpus's other build.
const workflowCode = ['src/workflows/**/*.ts', 'test/fixtures/build-b/**/*.ts'];
const typeScript = ['**/*.ts'];

// What code outside src/workflows may import from it: the contracts (`<name>-api.ts`) and the pure rule modules
// listed here (no Temporal calls), which their fast unit tests and the CLI use too.
const sharedWorkflowModules = ['approval-rules.ts', 'environments.ts'];
const workflowContracts = [...readdirSync(`${root}/src/workflows`).filter((file) => file.endsWith('-api.ts')), ...sharedWorkflowModules];

/** Outside src/workflows: a workflow file may be imported only if it is a contract (or `extra` allows it). */
const workflowImplementationsZone = (extra = []) => ({
  target: '.',
  from: 'src/workflows',
  except: [...workflowContracts, ...extra].map((file) => `./${file}`),
  message: "Outside src/workflows import a workflow's contract (src/workflows/<name>-api.ts), not its implementation.",
});

export default defineConfig(
  globalIgnores(['dist/', '.venv/', '.venv-mlflow-only/', 'python/', 'test/histories/', '.modelship/', 'workflow_artifacts/', 'mlruns/']),
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      // `const { dropped: _dropped, ...rest } = value` is how the code omits a key.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // The metrics' counting loops use `cond ? a++ : b++` as a statement.
      '@typescript-eslint/no-unused-expressions': ['error', { allowTernary: true }],
      // package.json sits outside the build's rootDir, so it is read with require.
      '@typescript-eslint/no-require-imports': ['error', { allow: ['/package\\.json$'] }],
    },
  },
  {
    files: ['bin/**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: typeScript,
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js', '.mjs', '.cjs'],
      'import-x/external-module-folders': ['node_modules', 'node_modules/@types'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: `${root}/tsconfig.json` })],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'import-x/no-cycle': 'error' },
  },
  {
    files: workflowCode,
    rules: {
      // The workflow bundle is deterministic sandbox code: no Node APIs.
      'import-x/no-nodejs-modules': 'error',
      // Activities are reached through proxyActivities<…Activities>: a type from the activities index, never code.
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)activities(/index)?$',
              allowTypeImports: true,
              message: 'Workflows take only the *Activities proxy types from the activities index: use `import type`.',
            },
            {
              regex: '(^|/)activities/(?!index$)',
              message: 'Workflows do not import activity files; payload types live in src/workflows/*-api.ts.',
            },
          ],
        },
      ],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)activities(/index)?$',
              allowImportNamePattern: '^[A-Za-z]+Activities$',
              message: 'Workflows take only the *Activities proxy types from the activities index.',
            },
          ],
        },
      ],
    },
  },
  {
    files: typeScript,
    ignores: workflowCode,
    rules: {
      'import-x/no-restricted-paths': ['error', { basePath: root, zones: [workflowImplementationsZone()] }],
    },
  },
  {
    // The worker registers the workflows and the replay test replays them: both take the index.
    files: ['src/worker.ts', 'test/history-replay.test.ts'],
    rules: {
      'import-x/no-restricted-paths': ['error', { basePath: root, zones: [workflowImplementationsZone(['index.ts'])] }],
    },
  },
);
