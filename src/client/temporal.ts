// One way to reach Temporal from the CLI: Temporal's standard environment configuration, with a clear error.
import { Client, Connection } from '@temporalio/client';
import { temporalConnectConfig } from '../config/environment';

export async function connectClient(env: NodeJS.ProcessEnv = process.env): Promise<{ client: Client; connection: Connection; namespace: string }> {
  const { connectionOptions, namespace } = temporalConnectConfig(env);
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...connectionOptions, connectTimeout: 5_000 });
  } catch (error) {
    throw new Error(
      `cannot reach Temporal at ${connectionOptions.address} (${(error as Error).message}). ` + `Start the embedded stack with 'npm run dev', or set TEMPORAL_ADDRESS.`,
      { cause: error },
    );
  }
  return { client: new Client({ connection, namespace }), connection, namespace };
}

/**
 * Runs `fn` with a client and closes the connection when it ends, however it ends. `leaveOpen` is for a command
 * that exits the process right after (start --wait): closing the channel under a call the client is about to retry
 * after a transient error would throw from gRPC's timer and crash the command.
 */
export async function withClient<T>(fn: (client: Client, namespace: string) => Promise<T>, options: { leaveOpen?: boolean } = {}): Promise<T> {
  const { client, connection, namespace } = await connectClient();
  try {
    return await fn(client, namespace);
  } finally {
    if (!options.leaveOpen) await connection.close();
  }
}

/** The innermost message of a Temporal failure chain (WorkflowFailedError → … → ApplicationFailure). */
export function failureMessage(error: unknown): string {
  let current = error as { message?: string; cause?: unknown };
  while (current?.cause) current = current.cause as typeof current;
  return current?.message ?? String(error);
}
