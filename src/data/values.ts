// How raw CSV text becomes values. One place for both the data checks and the model's input mapping, so what
// validation accepts is exactly what training and scoring use. The Python trainer mirrors these rules
// (python/modelship_trainer/features.py); the evaluation's parity check proves the two agree.
import type { DataContract } from '../config/schema';

export type DateFormat = DataContract['date_format'];

const MISSING = new Set(['', 'na', 'n/a', 'nan', 'null', 'none']);

export function isMissing(raw: string | undefined | null): boolean {
  return raw === undefined || raw === null || MISSING.has(raw.trim().toLowerCase());
}

/** A finite number, null when missing, or NaN when the text is not a number. */
export function parseNumber(raw: string | undefined): number | null {
  if (isMissing(raw)) return null;
  const value = Number(raw!.trim());
  return Number.isFinite(value) ? value : Number.NaN;
}

const DATE_PATTERNS: Record<DateFormat, { regex: RegExp; order: [year: number, month: number, day: number] }> = {
  'M/D/YYYY': { regex: /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/, order: [3, 1, 2] },
  'D/M/YYYY': { regex: /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/, order: [3, 2, 1] },
  'YYYY-MM-DD': { regex: /^(\d{4})-(\d{1,2})-(\d{1,2})$/, order: [1, 2, 3] },
};

const DAY_MS = 86_400_000;

/** Days since 1970-01-01 (UTC), null when missing, NaN when not a real date in the given format. */
export function parseDate(raw: string | undefined, format: DateFormat): number | null {
  if (isMissing(raw)) return null;
  const { regex, order } = DATE_PATTERNS[format];
  const match = regex.exec(raw!.trim());
  if (!match) return Number.NaN;
  const [year, month, day] = order.map((group) => Number(match[group]));
  const ms = Date.UTC(year!, month! - 1, day!);
  const check = new Date(ms);
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month! - 1 || check.getUTCDate() !== day) return Number.NaN;
  return Math.round(ms / DAY_MS);
}

/** The numeric features a date yields, in this order, as suffixes of the column name. */
export const DATE_PARTS = ['year', 'month', 'day_of_week', 'day_number'] as const;
export type DatePart = (typeof DATE_PARTS)[number];

export function dateParts(dayNumber: number | null): Record<DatePart, number> {
  if (dayNumber === null || Number.isNaN(dayNumber)) {
    return { year: Number.NaN, month: Number.NaN, day_of_week: Number.NaN, day_number: Number.NaN };
  }
  const date = new Date(dayNumber * DAY_MS);
  return {
    year: date.getUTCFullYear(),
    month: date.getUTCMonth() + 1,
    day_of_week: (date.getUTCDay() + 6) % 7, // Monday = 0, as pandas
    day_number: dayNumber,
  };
}

/** Categorical values are trimmed strings; a missing one is this token (unseen at training time is fine). */
export const MISSING_CATEGORY = '__missing__';

export function categoryValue(raw: string | undefined): string {
  return isMissing(raw) ? MISSING_CATEGORY : raw!.trim();
}
