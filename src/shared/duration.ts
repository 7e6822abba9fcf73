// Durations as the config and Temporal write them ('30m', '2 hours', '90s'), parsed by the same library and version
// Temporal's SDK uses, so a duration the config accepts is one Temporal accepts. A leaf module, safe in workflow code.
import ms, { type StringValue } from 'ms';

/** Milliseconds of a duration; throws a TypeError naming the text when it is not one. */
export function durationMs(text: string | number): number {
  if (typeof text === 'number') return text;
  const millis = ms(text as StringValue);
  if (millis === undefined || Number.isNaN(millis)) throw new TypeError(`Invalid duration string: '${text}'`);
  return millis;
}
