// Search attributes that modelship's workflows set, so runs can be filtered in the Web UI and with `temporal workflow
// list --query`. The embedded stack registers them at start; on a cluster, `temporal operator search-attribute
// create` does (docs/operations.md).
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const MODEL_NAME = defineSearchAttributeKey('ModelName', SearchAttributeType.KEYWORD);
export const RELEASE_STAGE = defineSearchAttributeKey('ReleaseStage', SearchAttributeType.KEYWORD);
export const RELEASE_OUTCOME = defineSearchAttributeKey('ReleaseOutcome', SearchAttributeType.KEYWORD);
/** The endpoint a monitor run watches: `Endpoint = "credit"` lists its runs, scheduled or started by hand. */
export const ENDPOINT = defineSearchAttributeKey('Endpoint', SearchAttributeType.KEYWORD);
/** A monitor run's verdict: running, ok, alarm, empty, too few (`MonitorVerdict = "alarm"` finds the alarms). */
export const MONITOR_VERDICT = defineSearchAttributeKey('MonitorVerdict', SearchAttributeType.KEYWORD);

export const searchAttributeKeys = [MODEL_NAME, RELEASE_STAGE, RELEASE_OUTCOME, ENDPOINT, MONITOR_VERDICT];
