// The release's review report from the workflow's side: one activity call that writes review.html/review.json
// (locally and to the MLflow run), and the markdown that points people at it. A review that cannot be written
// is reported, not fatal: the release's own evidence (steps, metrics, gates) still stands in its status.
import { proxyActivities } from '@temporalio/workflow';
import type { OrchestrationActivities } from '../activities';
import { HEAVY } from './activity-profiles';
import { innermostFailure } from './failures';
import type { ReviewInput, ReviewRef } from './review-api';

const reviewActivities = proxyActivities<OrchestrationActivities>(HEAVY);

export async function writeReleaseReview(input: ReviewInput): Promise<ReviewRef> {
  try {
    const written = await reviewActivities.writeReview(input);
    return {
      phase: input.phase,
      path: written.htmlPath,
      jsonPath: written.jsonPath,
      mlflowUrl: written.mlflow?.reviewUrl,
      runUrl: written.mlflow?.runUrl,
      ...(written.mlflowError && { error: `written locally but not to MLflow: ${written.mlflowError}` }),
    };
  } catch (error) {
    return { phase: input.phase, error: `the review could not be written: ${innermostFailure(error).message}` };
  }
}

/** Markdown for the workflow's current details (the Temporal Web UI renders it; links open in a new tab). */
export function reviewMarkdown(review: ReviewRef | undefined): string {
  if (!review) return '';
  const links = [review.mlflowUrl && `[review in MLflow](${review.mlflowUrl})`, review.runUrl && `[MLflow run](${review.runUrl})`].filter(Boolean).join(' · ');
  const where = review.path ? `\`${review.path}\`` : '';
  const error = review.error ? `\n\n⚠ ${review.error}` : '';
  return `\n\n**review${review.phase === 'final' ? '' : ' (read before approving)'}**: ${[links, where].filter(Boolean).join(' · ')}${error}`;
}
