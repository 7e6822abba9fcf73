// Reading failure chains in workflow code (ChildWorkflowFailure / ActivityFailure → … → ApplicationFailure): the
// innermost failure says what went wrong and carries its evidence as details.
export function innermostFailure(error: unknown): { message: string; details?: unknown } {
  let current = error as { message?: string; cause?: unknown; details?: unknown[] } | undefined;
  while (current?.cause) current = current.cause as typeof current;
  return { message: current?.message ?? String(error), details: current?.details?.[0] };
}
