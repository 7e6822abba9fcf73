// The files a release's training data came from: recorded by data validation, listed on the review and in the report.

/** One source of the training data: a CSV file (or one partition of a folder), or the endpoint's captured records with outcomes. */
export interface DataSource {
  kind: 'file' | 'feedback';
  /** The file read (for feedback: the joined file written into the release's artifacts). */
  path: string;
  sha256: string;
  rows: number;
  /** For a partition: the date it covers (from its name) or its modification time, ISO. */
  date?: string;
  /** For feedback: the endpoint whose captured records (with outcomes) these rows are. */
  endpoint?: string;
}
