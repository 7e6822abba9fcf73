// Workflow bundles for tests: this checkout's workflows ("current") and the same with the fixture's new step
// ("build B", test/fixtures/build-b), bundled once per test file. Under run-tests.ts "current" is the bundle it
// built once for the whole run (MODELSHIP_TEST_WORKFLOW_BUNDLE), and spawned workers take it too
// (workerNodeArgs): bundling costs seconds of CPU each time.
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger, type WorkflowBundle, type WorkflowBundleOption } from '@temporalio/worker';

export type BuildVariant = 'current' | 'build-b-guarded' | 'build-b-unguarded';

const cache = new Map<BuildVariant, Promise<WorkflowBundleOption>>();

export function workflowBundle(variant: BuildVariant): Promise<WorkflowBundleOption> {
  let bundle = cache.get(variant);
  if (!bundle) {
    const prebuilt = process.env.MODELSHIP_TEST_WORKFLOW_BUNDLE;
    bundle = variant === 'current' && prebuilt ? Promise.resolve({ codePath: prebuilt }) : bundleVariant(variant);
    cache.set(variant, bundle);
  }
  return bundle;
}

/** Bundles the workflows of this checkout, with build B's interceptor for its variants. */
export function bundleVariant(variant: BuildVariant): Promise<WorkflowBundle> {
  const interceptor = variant === 'current' ? [] : [require.resolve(`../fixtures/build-b/${variant.replace('build-b-', '')}`)];
  return bundleWorkflowCode({
    workflowsPath: require.resolve('../../src/workflows'),
    workflowInterceptorModules: interceptor,
    logger: new DefaultLogger('WARN'),
  });
}

/** Node flags for a spawned worker process (or a CLI that starts one): tsx, and the run's prebuilt workflow bundle. */
export function workerNodeArgs(): string[] {
  return ['--require', join(__dirname, 'prebuilt-workflows.cjs'), '--import', 'tsx'];
}
