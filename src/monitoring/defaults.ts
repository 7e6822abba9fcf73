// A monitor's defaults, apart from the statistics (and the libraries they load), so the config schema reads them
// without loading those.
import type { MonitorSettings } from '../workflows/monitor-api';

/**
 * Defaults of a monitor. minLabelled 200: SageMaker reports model quality deviations only from 200 samples, and
 * below it ROC AUC's interval on a 5 % positive class rests on about ten positives. minRecords 100: ten expected
 * records per decile bin, where PSI's chi-squared approximation starts to hold. falseAlarmRate 0.05 for all
 * features together. qualityRate 0.05: a rate five points above training's own is a broken feed, not noise.
 * decayTolerance 0.02: the gap between evaluations that modelship's champion/challenger already treats as real.
 */
export const DEFAULT_MONITOR_SETTINGS: MonitorSettings = {
  every: '1h',
  labelDelay: '0s',
  minLabelled: 200,
  minRecords: 100,
  falseAlarmRate: 0.05,
  qualityRate: 0.05,
  decayTolerance: 0.02,
};
