// Workflow bundles for tests that compare builds: this checkout's workflows ("build A") and the same with the
// fixture's new step ("build B", test/fixtures/build-b), bundled once per test file.
import { bundleWorkflowCode, DefaultLogger, type WorkflowBundle } from '@temporalio/worker';

export type BuildVariant = 'current' | 'build-b-guarded' | 'build-b-unguarded';

const cache = new Map<BuildVariant, Promise<WorkflowBundle>>();

export function workflowBundle(variant: BuildVariant): Promise<WorkflowBundle> {
  let bundle = cache.get(variant);
  if (!bundle) {
    const interceptor = variant === 'current' ? [] : [require.resolve(`../fixtures/build-b/${variant.replace('build-b-', '')}`)];
    bundle = bundleWorkflowCode({
      workflowsPath: require.resolve('../../src/workflows'),
      workflowInterceptorModules: interceptor,
      logger: new DefaultLogger('WARN'),
    });
    cache.set(variant, bundle);
  }
  return bundle;
}
