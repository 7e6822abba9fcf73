// Loaded with --require by the worker processes tests spawn (`src/worker.ts`, `modelship worker`, `modelship dev`
// and its children): their worker runs the workflow bundle run-tests.ts built once for the whole run
// (MODELSHIP_TEST_WORKFLOW_BUNDLE) instead of bundling src/workflows at start, which costs seconds of CPU per worker
// on a 2-core machine. Only a worker of this checkout's workflows without interceptors is changed; with the variable
// unset (a test file run outside run-tests.ts) nothing is. Plain CommonJS: the SDK's workflow threads inherit the
// process's flags and load this before any TypeScript loader; there it does nothing.
/* eslint-disable @typescript-eslint/no-require-imports -- a --require preload is CommonJS */
'use strict';
const { isMainThread } = require('node:worker_threads');
const { join } = require('node:path');

const bundlePath = process.env.MODELSHIP_TEST_WORKFLOW_BUNDLE;

if (bundlePath && isMainThread) {
  const { Worker } = require('@temporalio/worker');
  // What src/worker.ts passes: require.resolve('./workflows') under tsx.
  const workflowsPath = join(__dirname, '../../src/workflows/index.ts');
  const create = Worker.create.bind(Worker);
  Worker.create = (options) => {
    if (options.workflowsPath !== workflowsPath || options.workflowBundle || options.interceptors?.workflowModules?.length) return create(options);
    const { workflowsPath: _bundledAlready, ...rest } = options;
    return create({ ...rest, workflowBundle: { codePath: bundlePath } });
  };
}
