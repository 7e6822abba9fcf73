// Verifying a signed approve/reject on the worker, called from the release workflow's Update handler: the verdict
// (valid, or refused with its reason) is recorded in the workflow history either way.
import { ApplicationFailure } from '@temporalio/common';
import { readAllowedSignersFile, verifySignedApproval, type ApprovalVerdict, type SignedApprovalCheck } from '../approval/verify';

export interface VerifyApprovalInput extends SignedApprovalCheck {
  /** Absolute path of the allowed-signers file (config allowed_signers). */
  allowedSigners: string;
}

export type VerifyApprovalResult = ApprovalVerdict & { allowedSignersSha256: string };

export function createApprovalActivities() {
  return {
    async verifyApprovalSignature(input: VerifyApprovalInput): Promise<VerifyApprovalResult> {
      let file: { text: string; sha256: string };
      try {
        file = readAllowedSignersFile(input.allowedSigners);
      } catch (error) {
        // Not retried: a missing file stays missing; the approver sees the message and the operator fixes the path.
        throw ApplicationFailure.nonRetryable((error as Error).message, 'AllowedSignersUnreadable');
      }
      return { ...verifySignedApproval(input, file.text, input.allowedSigners), allowedSignersSha256: file.sha256 };
    },
  };
}
