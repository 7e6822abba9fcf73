// monitoring.html: every window of an endpoint's monitor on one self-contained page (inline CSS and SVG, no script, no
// network), drawn with the review's chart pipeline (Vega-Lite specs rendered to SVG in Node): drift per feature,
// prediction drift, data quality rates, performance with its interval, volume and latency, and the alarms.
import { chartBase as reviewChartBase, COLOURS, renderSvg, type VegaLiteSpec } from '../review/charts';
import { escapeHtml, PAGE_CSS } from '../review/page';
import type { WindowResult } from '../workflows/monitor-api';

export type MonitoringWindow = WindowResult;

export interface MonitoringPage {
  endpoint: string;
  generatedAt: string;
  mlflowRun?: string;
  /** The data quality alarm's rate (the monitor's qualityRate), drawn on the quality chart. */
  qualityRate: number;
  /** Oldest first. */
  windows: MonitoringWindow[];
}

type Rows = Record<string, unknown>[];
type Axis = Record<string, unknown>;

const num = (v: number | undefined, digits = 3) => (v === undefined || !Number.isFinite(v) ? '–' : Number(v.toPrecision(digits)).toString());
const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : `${(100 * v).toFixed(1)} %`);

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

// The review's look, and what only this page has: verdict badges in tables, alarm text, cards for missing charts.
const STYLE = `${PAGE_CSS}
header a{color:#93c5fd}.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:12px;font-weight:600;vertical-align:middle}
.badge.alarm{background:#ef4444;color:#fff}.badge.empty,.badge.too.few{background:#94a3b8;color:#0f172a}
th,td{vertical-align:top}td.time{white-space:nowrap}.bad{color:#b91c1c;font-weight:600}figure.chart-missing{max-width:420px}`;

/** The review's chart frame, wider, with the many-feature legend in columns. */
const chartBase = (title: string) => {
  const base = reviewChartBase(title, 420, 220);
  return { ...base, config: { ...base.config, legend: { ...base.config.legend, columns: 3, labelLimit: 260 } } };
};

/**
 * The window-end axis in UTC (as the tables write times), labelled at the precision the windows' spread needs:
 * vega's default labels a single window, or windows seconds apart, by milliseconds (".193").
 */
export function windowEndAxis(ends: readonly string[]): Axis {
  const times = ends.map((end) => Date.parse(end)).filter(Number.isFinite);
  if (!times.length) return { field: 'end', type: 'temporal', title: 'window end (UTC)', scale: { type: 'utc' } };
  const [first, last] = [Math.min(...times), Math.max(...times)];
  const day = (t: number) => new Date(t).toISOString().slice(0, 10);
  const oneDay = day(first) === day(last);
  const span = last - first;
  const format = span < 10 * MINUTE_MS ? '%H:%M:%S' : oneDay ? '%H:%M' : span < 3 * DAY_MS ? '%b %d %H:%M' : '%b %d';
  return {
    field: 'end',
    type: 'temporal',
    title: oneDay ? `window end (UTC, ${day(first)})` : 'window end (UTC)',
    scale: { type: 'utc' },
    axis: { format, tickCount: 5, labelOverlap: true },
  };
}

/** Date features are binned on day numbers (days since 1970-01-01, as the data contract parses dates): shown as dates. */
export function dateBinLabel(label: string): string {
  return label.replace(/–/g, ' – ').replace(/-?\d+(\.\d+)?/g, (day) => new Date(Math.round(Number(day)) * DAY_MS).toISOString().slice(0, 10));
}

function lineSpec(title: string, x: Axis, rows: Rows, y: { field: string; title: string }, series: string, rule?: { value: number; label: string }): VegaLiteSpec {
  const line = {
    mark: { type: 'line', point: true },
    encoding: { x, y: { field: y.field, type: 'quantitative', title: y.title }, color: { field: series, type: 'nominal', title: null } },
  };
  const layers: object[] = [{ data: { values: rows }, ...line }];
  if (rule)
    layers.push({
      data: { values: [{ y: rule.value, label: rule.label }] },
      mark: { type: 'rule', strokeDash: [4, 4], color: COLOURS.bad },
      encoding: { y: { field: 'y', type: 'quantitative' } },
    });
  return { ...chartBase(title), layer: layers };
}

/** PSI over its threshold per feature and window: every feature on one scale, the alarm line at 1. */
function driftOverTimeSpec(x: Axis, rows: Rows): VegaLiteSpec {
  return lineSpec('Feature drift per window (PSI ÷ its threshold)', x, rows, { field: 'ratio', title: 'PSI / threshold' }, 'feature', { value: 1, label: 'alarm' });
}

function predictionSpec(x: Axis, rows: Rows): VegaLiteSpec {
  return lineSpec('Prediction drift', x, rows, { field: 'value', title: 'value' }, 'series', { value: 1, label: 'alarm (PSI ratio)' });
}

function qualitySpec(x: Axis, rows: Rows, limit: number): VegaLiteSpec {
  return lineSpec('Data quality: worst rate per kind', x, rows, { field: 'rate', title: 'share of records' }, 'rate kind', { value: limit, label: 'qualityRate' });
}

/** ROC AUC per window with its interval (band, and a bar that shows for a lone window), and the deployed version's evaluation (dashed). */
function performanceSpec(x: Axis, rows: Rows): VegaLiteSpec {
  return {
    ...chartBase('Performance on labelled records: ROC AUC'),
    data: { values: rows },
    layer: [
      {
        mark: { type: 'area', opacity: 0.2, color: COLOURS.candidate },
        encoding: { x, y: { field: 'low', type: 'quantitative', title: 'ROC AUC', scale: { zero: false } }, y2: { field: 'high' } },
      },
      { mark: { type: 'rule', strokeWidth: 2, color: COLOURS.candidate, opacity: 0.5 }, encoding: { x, y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' } } },
      { mark: { type: 'line', point: true, color: COLOURS.candidate }, encoding: { x, y: { field: 'value', type: 'quantitative' } } },
      { mark: { type: 'line', strokeDash: [4, 4], color: COLOURS.champion }, encoding: { x, y: { field: 'reference', type: 'quantitative' } } },
    ],
  };
}

/** One bar per window: the window-end axis as bands, labelled like the time axes. */
function volumeSpec(x: Axis, rows: Rows): VegaLiteSpec {
  const { format } = (x.axis ?? {}) as { format?: string };
  return {
    ...chartBase('Volume per window'),
    data: { values: rows },
    mark: 'bar',
    encoding: {
      x: {
        field: 'end',
        type: 'ordinal',
        title: x.title,
        timeUnit: 'utcyearmonthdatehoursminutesseconds',
        axis: { format: format ?? '%b %d %H:%M', labelAngle: 0, labelOverlap: true },
      },
      y: { field: 'count', type: 'quantitative', title: 'requests', stack: true },
      color: { field: 'kind', type: 'nominal', title: null, scale: { domain: ['scored records', 'refused requests'], range: [COLOURS.ok, COLOURS.bad] } },
    },
  };
}

function latencySpec(x: Axis, rows: Rows): VegaLiteSpec {
  return lineSpec('Latency per window', x, rows, { field: 'ms', title: 'milliseconds' }, 'percentile');
}

async function figure(id: string, rows: Rows, spec: () => VegaLiteSpec, caption: string, empty: string): Promise<string> {
  if (!rows.length)
    return `<figure class="card chart-missing" data-chart="${id}"><figcaption><strong>${escapeHtml(id.replace(/_/g, ' '))}</strong>: <span class="note">${escapeHtml(empty)}</span></figcaption></figure>`;
  return `<figure class="card chart" data-chart="${id}">${await renderSvg(spec())}<figcaption>${caption}</figcaption></figure>`;
}

function windowsTable(windows: MonitoringWindow[]): string {
  const rows = [...windows]
    .reverse()
    .map(
      (w) =>
        `<tr><td class="time">${escapeHtml(w.window.start)}</td><td class="time">${escapeHtml(w.window.end)}</td><td class="num">${w.records}</td><td class="num">${w.refused}</td><td><span class="badge ${escapeHtml(w.verdict)}">${escapeHtml(w.verdict)}</span></td>` +
        `<td>${w.alarms.map((a) => `<div class="${w.alarmRaised ? 'bad' : ''}">${escapeHtml(a.kind)}: ${escapeHtml(a.detail)}</div>`).join('')}${w.alarmRaised ? '<div class="note">raised (sent)</div>' : w.alarms.length ? '<div class="note">same as the last alarm: not repeated</div>' : ''}` +
        `${w.performance.reported ? '' : `<div class="note">performance: ${escapeHtml(w.performance.why)}</div>`}</td></tr>`,
    )
    .join('');
  return `<table class="card" data-table="windows"><tr><th>start</th><th>end</th><th>records</th><th>refused</th><th>verdict</th><th>alarms and notes</th></tr>${rows}</table>`;
}

function latestDetail(latest: MonitoringWindow): string {
  const drift = latest.drift
    .map((d) => {
      const top = [...d.bins].sort((a, b) => Math.abs(b.current - b.reference) - Math.abs(a.current - a.reference)).slice(0, 3);
      return `<tr><td>${escapeHtml(d.feature)}</td><td>${d.kind}</td><td class="num ${d.drifted ? 'bad' : ''}">${num(d.psi)}</td><td class="num">${num(d.threshold)}</td><td>${top.map((b) => `${escapeHtml(d.kind === 'date' ? dateBinLabel(b.bin) : b.bin)}: ${pct(b.reference)} → ${pct(b.current)}`).join('; ')}</td></tr>`;
    })
    .join('');
  const quality = latest.quality
    .map((q) => `<tr><td>${escapeHtml(q.feature)}</td><td class="num">${pct(q.missing)}</td><td class="num">${pct(q.unseen)}</td><td class="num">${pct(q.outOfRange)}</td></tr>`)
    .join('');
  const perf = latest.performance;
  const performance = perf.reported
    ? `<table class="card" data-table="performance"><tr><th>metric (labelled records: ${perf.labelled})</th><th>value</th><th>95 % interval</th></tr>${(
        [
          ['ROC AUC', perf.rocAuc],
          ['precision', perf.precision],
          ['recall', perf.recall],
          ['F1', perf.f1],
        ] as const
      )
        .map(([name, i]) => `<tr><td>${name}</td><td class="num">${num(i.value)}</td><td class="num">[${num(i.low)}, ${num(i.high)}]</td></tr>`)
        .join('')}<tr><td>deployed version's ROC AUC (evaluation)</td><td class="num">${num(perf.reference.rocAuc)}</td><td></td></tr></table>`
    : `<p class="note">Performance not reported: ${escapeHtml(perf.why)}.</p>`;
  return `<h2 id="latest">Latest window: ${escapeHtml(latest.window.start)} → ${escapeHtml(latest.window.end)}</h2>
${latest.model ? `<p>Scored by <code>${escapeHtml(latest.model.name)} v${escapeHtml(latest.model.version)}</code>.</p>` : ''}
${drift ? `<table class="card" data-table="drift"><tr><th>feature</th><th>kind</th><th>PSI</th><th>threshold</th><th>largest shifts (training → window)</th></tr>${drift}</table>` : `<p class="note">No drift judged (${latest.records} records; verdict ${escapeHtml(latest.verdict)}).</p>`}
${quality ? `<table class="card" data-table="quality" style="margin-top:14px"><tr><th>feature</th><th>missing</th><th>unseen category</th><th>out of training range</th></tr>${quality}</table>` : ''}
<div style="margin-top:14px">${performance}</div>`;
}

export async function renderMonitoringHtml(page: MonitoringPage): Promise<string> {
  const { windows } = page;
  const latest = windows[windows.length - 1];
  const end = (w: MonitoringWindow) => w.window.end;
  const x = windowEndAxis(windows.map(end));
  const driftRows = windows.flatMap((w) => w.drift.map((d) => ({ end: end(w), feature: d.feature, ratio: d.psi / d.threshold, psi: d.psi })));
  const predictionRows = windows.flatMap((w) =>
    w.prediction
      ? [
          { end: end(w), series: 'score PSI ÷ threshold', value: w.prediction.psi / w.prediction.threshold },
          { end: end(w), series: 'positive rate', value: w.prediction.positiveRate },
          { end: end(w), series: 'positive rate in training', value: w.prediction.referencePositiveRate },
        ]
      : [],
  );
  const worst = (values: (number | undefined)[]) => Math.max(0, ...values.map((v) => v ?? 0));
  const qualityRows = windows
    .filter((w) => w.records + w.refused > 0)
    .flatMap((w) => [
      { end: end(w), 'rate kind': 'missing', rate: worst(w.quality.map((q) => q.missing)) },
      { end: end(w), 'rate kind': 'unseen category', rate: worst(w.quality.map((q) => q.unseen)) },
      { end: end(w), 'rate kind': 'out of range', rate: worst(w.quality.map((q) => q.outOfRange)) },
      { end: end(w), 'rate kind': 'refused', rate: w.refused / (w.records + w.refused) },
    ]);
  const performanceRows = windows.flatMap((w) =>
    w.performance.reported
      ? [{ end: end(w), value: w.performance.rocAuc.value, low: w.performance.rocAuc.low, high: w.performance.rocAuc.high, reference: w.performance.reference.rocAuc }]
      : [],
  );
  const volumeRows = windows.flatMap((w) => [
    { end: end(w), kind: 'scored records', count: w.records },
    { end: end(w), kind: 'refused requests', count: w.refused },
  ]);
  const latencyRows = windows.flatMap((w) => (w.latencyMs ? (['p50', 'p95', 'p99'] as const).map((p) => ({ end: end(w), percentile: p, ms: w.latencyMs![p] })) : []));
  const charts = [
    await figure(
      'drift',
      driftRows,
      () => driftOverTimeSpec(x, driftRows),
      'Each feature’s PSI against the deployed version’s training data, divided by the threshold for that window’s size: above 1 (dashed) it drifted.',
      'no window had enough records to judge drift',
    ),
    await figure(
      'prediction',
      predictionRows,
      () => predictionSpec(x, predictionRows),
      'The score distribution’s PSI ratio, and the share predicted positive against training’s.',
      'no window had enough records',
    ),
    await figure(
      'quality',
      qualityRows,
      () => qualitySpec(x, qualityRows, page.qualityRate),
      'Per window, the worst feature’s missing, unseen and out-of-range shares, and the share of requests refused.',
      'no traffic yet',
    ),
    await figure(
      'performance',
      performanceRows,
      () => performanceSpec(x, performanceRows),
      'Band: 95 % interval. Dashed: the deployed version’s ROC AUC on held-out data.',
      'no window had enough labelled records (modelship feedback adds them)',
    ),
    await figure(
      'volume',
      volumeRows.filter((r) => r.count > 0),
      () => volumeSpec(x, volumeRows),
      'Scored records and refused requests per window.',
      'no traffic yet',
    ),
    await figure('latency', latencyRows, () => latencySpec(x, latencyRows), 'Scoring latency of the captured requests.', 'no traffic yet'),
  ].join('');
  const badge = latest ? `<span class="badge ${escapeHtml(latest.verdict)}">${escapeHtml(latest.verdict)}</span>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Monitoring: ${escapeHtml(page.endpoint)}</title><style>${STYLE}</style></head>
<body data-windows="${windows.length}">
<header><h1>Monitoring: ${escapeHtml(page.endpoint)} ${badge}</h1>
<div class="sub">${windows.length} window${windows.length === 1 ? '' : 's'} · generated ${escapeHtml(page.generatedAt)}${page.mlflowRun ? ` · <a href="${escapeHtml(page.mlflowRun)}" target="_blank" rel="noopener">MLflow run</a>` : ''}</div></header>
<main>
<h2 id="over-time">Over time</h2>
<div class="grid">${charts}</div>
${latest ? latestDetail(latest) : '<p class="note">No window analysed yet.</p>'}
<h2 id="windows">Windows</h2>
${windowsTable(windows)}
<p class="note" style="margin-top:28px">Each window's numbers are in the MLflow run (a step per window) and in monitor/windows/&lt;id&gt;.json there.</p>
</main></body></html>
`;
}
