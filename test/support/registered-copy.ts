// A second registered version without a second training: tests about rollouts, colours, aliases and locks tell
// versions apart, never models, so one trained model serves as several versions.
import { MlflowClient } from '../../src/registry/mlflow';
import { mlflowUri } from './temporal';

/**
 * Registers version `version` of `name` again (the same run, files and modelship tags) as the next version of `as`
 * (default `name`), and returns that version's number.
 */
export async function registerAgain(name: string, version: string, as = name): Promise<string> {
  const registry = new MlflowClient(mlflowUri());
  const trained = await registry.getVersion(name, version);
  const tags = Object.fromEntries((trained.tags ?? []).map((tag) => [tag.key, tag.value]));
  await registry.ensureRegisteredModel(as);
  return (await registry.createVersion(as, trained.source, trained.run_id!, tags)).version;
}
