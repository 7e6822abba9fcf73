// The approval decisions a release records: what the workflow keeps, the CLI prints, the audit checks and the
// review report shows. A leaf module: it imports nothing of ours.

/** The proof of one signed decision, as verified by the worker. */
export interface ApprovalSignature {
  statement: string;
  signature: string;
  /** SHA256:… of the signing key, as ssh-keygen -l prints it. */
  keyFingerprint: string;
  /** The allowed-signers file the signature was checked against, and its sha256 at that moment. */
  allowedSigners: string;
  allowedSignersSha256: string;
}

/** One accepted approve or reject, by one principal. */
export interface ApprovalVote {
  decision: 'approved' | 'rejected';
  by: string;
  /** When the workflow accepted it. */
  at: string;
  comment?: string;
  reason?: string;
  /** Present when allowed_signers was set. */
  signed?: ApprovalSignature;
}

export interface ApprovalRecord {
  decision: 'approved' | 'rejected' | 'expired';
  automatic: boolean;
  /** Who decided (several approvers joined by ", "). */
  by?: string;
  at: string;
  modelVersion: string;
  comment?: string;
  reason?: string;
  /** Every accepted approve/reject in order, with its signature when signatures are required. */
  approvals?: ApprovalVote[];
  /** Whether decisions had to be signed: "required" (allowed_signers set) or "not required" (names only, unverified). */
  signatures?: 'required' | 'not required';
}
