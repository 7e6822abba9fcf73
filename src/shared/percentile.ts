// Nearest-rank percentiles of latency samples, as the local tests, the health checks and the review report give
// them. A leaf module: it imports nothing of ours.

/** The nearest-rank q-quantile (0 < q ≤ 1) of ascending, non-empty `sorted`. */
export function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
