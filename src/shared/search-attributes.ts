// Search attributes that release workflows set, so runs can be filtered in the Web UI and with `temporal workflow
// list --query`. The embedded stack registers them at start; on a cluster, `temporal operator search-attribute
// create` does (docs/operations.md).
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const MODEL_NAME = defineSearchAttributeKey('ModelName', SearchAttributeType.KEYWORD);
export const RELEASE_STAGE = defineSearchAttributeKey('ReleaseStage', SearchAttributeType.KEYWORD);
export const RELEASE_OUTCOME = defineSearchAttributeKey('ReleaseOutcome', SearchAttributeType.KEYWORD);

export const searchAttributeKeys = [MODEL_NAME, RELEASE_STAGE, RELEASE_OUTCOME];
