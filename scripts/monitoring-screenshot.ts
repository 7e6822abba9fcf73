// Screenshot of a monitoring page (the README's docs/monitoring.png), no servers:
//   node --import tsx scripts/monitoring-screenshot.ts OUT.png [PAGE.html]
// The page shows six hourly windows of a seeded endpoint, counted by the monitor's own WindowCounts from stand-in
// capture records: four calm windows with outcomes (performance with its interval), then a shift in two features
// that raises a drift alarm, and a window where it persists (not raised again) with too few outcomes to judge.
// test/monitoring-browser.test.ts opens the same page.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium, visitReview } from '../test/support/browser';
import { renderMonitoringHtml, type MonitoringPage } from '../src/monitoring/report';
import { DEFAULT_MONITOR_SETTINGS } from '../src/monitoring/defaults';
import { rocAucInterval, type MonitorReference } from '../src/monitoring/statistics';
import { WindowCounts } from '../src/monitoring/window';
import { Random } from '../src/data/generate';
import { CAPTURE_FORMAT, type CaptureRecord } from '../src/shared/capture';
import { alarmSignature, type MonitorWindow, type WindowResult } from '../src/workflows/monitor-api';

const ENDPOINT = 'credit-endpoint';
const MODEL = { name: 'credit-model', version: '7', sha256: 'c0ffee'.padEnd(64, '0') };
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const FIRST_WINDOW_START = Date.UTC(2026, 2, 2, 6);
const CITIES = ['Denver', 'Dallas', 'Boston', 'Chicago', 'Seattle'];
const ACCOUNT_TYPES = ['Checking', 'Savings', 'Business'];
const OPENED_FROM = Date.UTC(2015, 0, 1) / DAY_MS;

/** The banking generator's seeded PRNG, as a function. */
function random(seed: number): () => number {
  const generator = new Random(seed);
  return () => generator.next();
}

/** One applicant as the endpoint receives it, its score and its eventual outcome. */
interface Applicant {
  input: { Age: number; 'Account Balance': number; 'Loan Amount': number; 'Account Type': string; City: string; 'Date Of Account Opening': string };
  probability: number;
  outcome: number;
}

/** `shift` moves Account Balance up by that many standard deviations and Denver's share up by 20 points per unit. */
function applicants(n: number, seed: number, shift = 0): Applicant[] {
  const next = random(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return Array.from({ length: n }, () => {
    const age = Math.round(Math.min(85, Math.max(18, 42 + 12 * normal())));
    const balance = Math.round(5200 + 2100 * (normal() + shift));
    const loan = Math.round(Math.exp(10 + 0.6 * normal()));
    const city = next() < 0.2 * shift ? 'Denver' : CITIES[Math.floor(next() * CITIES.length)]!;
    const accountType = ACCOUNT_TYPES[Math.floor(next() * next() * ACCOUNT_TYPES.length)]!;
    const opened = new Date((OPENED_FROM + Math.floor(next() * 2000)) * DAY_MS).toISOString().slice(0, 10);
    const risk = 0.9 * normal() - 0.035 * (age - 42) - (balance - 5200) / 2500 + (loan - 26000) / 30000 + (accountType === 'Business' ? 0.4 : 0);
    const probability = 1 / (1 + Math.exp(-(risk - 1.4)));
    // After the shift the relation weakens: a fifth of outcomes no longer follow the score.
    const outcome = shift && next() < 0.2 ? Number(next() < 0.2) : Number(next() < 1 / (1 + Math.exp(-(1.6 * risk - 1.6))));
    return {
      input: { Age: age, 'Account Balance': balance, 'Loan Amount': loan, 'Account Type': accountType, City: city, 'Date Of Account Opening': opened },
      probability,
      outcome,
    };
  });
}

/** The deployed version's training sketch and held-out scores, from the unshifted population. */
function reference(): MonitorReference {
  const training = applicants(2000, 1);
  const columns = Object.keys(training[0]!.input) as (keyof Applicant['input'])[];
  const kind = (column: string) => (column === 'City' || column === 'Account Type' ? 'categorical' : column.startsWith('Date') ? 'date' : 'numeric');
  const heldOut = applicants(1000, 2);
  const scores = heldOut.map((a) => a.probability);
  return {
    sketch: {
      sketch_version: 1,
      data_sha256: 'da7a'.padEnd(64, '0'),
      rows: training.length,
      sample_rows: training.length,
      features: columns.map((column) => ({ column, kind: kind(column) })),
      values: columns.map((column) => training.map((a) => (kind(column) === 'date' ? Date.parse(a.input[column] as string) / DAY_MS : a.input[column]))),
    },
    dateFormat: 'YYYY-MM-DD',
    scores,
    threshold: 0.3,
    positiveClass: 1,
    rocAuc: rocAucInterval(
      heldOut.map((a) => a.outcome),
      scores,
    ).value,
  };
}

/** Per window: records, the share with outcomes joined so far, the shift, refused requests and extra latency. */
const WINDOWS = [
  { records: 820, labelled: 0.45, shift: 0, refused: 3, slow: 0 },
  { records: 1140, labelled: 0.4, shift: 0, refused: 1, slow: 0.3 },
  { records: 1310, labelled: 0.35, shift: 0, refused: 6, slow: 0.8 },
  { records: 960, labelled: 0.4, shift: 0, refused: 2, slow: 0.2 },
  { records: 1220, labelled: 0.35, shift: 1, refused: 4, slow: 0.5 },
  { records: 1080, labelled: 0.12, shift: 1, refused: 2, slow: 0.1 },
];

/** Six hourly windows of a seeded endpoint, counted and judged by the monitor's own code, oldest first. */
export function standInMonitoringPage(): MonitoringPage {
  const ref = reference();
  let lastAlarm = '';
  const windows = WINDOWS.map((spec, index): WindowResult => {
    const start = FIRST_WINDOW_START + index * HOUR_MS;
    const window: MonitorWindow = { id: '', index, start: new Date(start).toISOString(), end: new Date(start + HOUR_MS).toISOString() };
    window.id = `${window.start}_${window.end}`;
    const next = random(100 + index);
    const served = applicants(spec.records, 10 + index, spec.shift);
    const records: CaptureRecord[] = served.map((a, k) => ({
      format: CAPTURE_FORMAT,
      inference_id: `w${index}-${k}`,
      time: new Date(start + Math.floor((k / spec.records) * HOUR_MS)).toISOString(),
      endpoint: ENDPOINT,
      deployment: 'green',
      model: MODEL,
      input: a.input,
      prediction: { label: Number(a.probability >= ref.threshold), probability: a.probability },
      latency_ms: 1.6 + spec.slow + 0.9 * next() + (next() < 0.02 ? 4 + 6 * next() : 0),
    }));
    const outcomes = new Map(served.flatMap((a, k) => (next() < spec.labelled ? [[`w${index}-${k}`, a.outcome] as const] : [])));
    const range = { start, end: start + HOUR_MS };
    const counts = new WindowCounts(ref, range, range, outcomes);
    for (const record of records) counts.addRecord(record);
    for (let k = 0; k < spec.refused; k++) {
      counts.addRefusal({
        format: CAPTURE_FORMAT,
        time: new Date(start + k * 600_000).toISOString(),
        endpoint: ENDPOINT,
        status: 400,
        reason: k % 3 ? 'bad_number' : 'missing_field',
      });
    }
    const { skippedLines, ...result } = counts.result(ENDPOINT, window, DEFAULT_MONITOR_SETTINGS, { torn: 0, invalid: 0, unknownFormat: 0 });
    // Raised when its kinds and features differ from the last alarm raised: the workflow's rule.
    const signature = alarmSignature(result.alarms);
    const alarmRaised = signature !== '' && signature !== lastAlarm;
    if (signature) lastAlarm = signature;
    return { ...result, skippedLines, alarmRaised };
  });
  return {
    endpoint: ENDPOINT,
    generatedAt: new Date(FIRST_WINDOW_START + WINDOWS.length * HOUR_MS + 120_000).toISOString(),
    qualityRate: DEFAULT_MONITOR_SETTINGS.qualityRate,
    windows,
  };
}

async function main(output: string | undefined, pagePath = join(mkdtempSync(join(tmpdir(), 'modelship-monitoring-')), 'monitoring.html')) {
  if (!output?.endsWith('.png')) throw new Error('usage: node --import tsx scripts/monitoring-screenshot.ts OUT.png [PAGE.html]');
  writeFileSync(pagePath, await renderMonitoringHtml(standInMonitoringPage()));
  const browser = await launchChromium();
  try {
    const visit = await visitReview(browser, pagePath, { width: 1360, height: 900 });
    await visit.page.screenshot({ path: output, fullPage: true });
    console.log(`${output} (from ${pagePath}): charts ${JSON.stringify(visit.marks)}; console errors ${visit.consoleErrors.length}; requests ${visit.foreignRequests.length}`);
  } finally {
    await browser.close();
  }
}

if (require.main === module) {
  main(process.argv[2], process.argv[3]).catch((error: unknown) => {
    console.error((error as Error).message);
    process.exit(1);
  });
}
