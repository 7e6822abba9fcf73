/** What JSON.stringify writes for a number (null for NaN and ±Infinity), without the call: for hot paths that write JSON text. */
export const jsonNumber = (n: number): string => (Number.isFinite(n) ? String(n) : 'null');
