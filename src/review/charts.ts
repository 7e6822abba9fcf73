// The review's charts as Vega-Lite specs (declarative: data + encoding, never hand-drawn SVG), compiled with
// vega-lite and rendered to SVG by vega's headless View in Node (no browser, no canvas).
import { importEsm } from './esm';

export type VegaLiteSpec = Record<string, unknown>;
type Rows = Record<string, unknown>[];

interface VegaModule {
  View: new (runtime: unknown, options: { renderer: 'none' }) => { toSVG(): Promise<string>; finalize(): void };
  parse: (spec: unknown) => unknown;
}
interface VegaLiteModule {
  compile: (spec: VegaLiteSpec) => { spec: unknown };
}

let modules: Promise<[VegaModule, VegaLiteModule]> | undefined;
const load = () => (modules ??= Promise.all([importEsm<VegaModule>('vega'), importEsm<VegaLiteModule>('vega-lite')]));

export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const [vega, vegaLite] = await load();
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export const COLOURS = { candidate: '#2563eb', champion: '#9ca3af', positive: '#dc2626', negative: '#2563eb', ok: '#16a34a', bad: '#dc2626', neutral: '#6b7280' };
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';

/** The review's chart frame (title, size, font, axes, legend), shared by the monitor's page. */
export const chartBase = (title: string, width = 300, height = 230) => ({
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: { text: title, anchor: 'start', fontSize: 13, fontWeight: 600 },
  width,
  height,
  background: 'white',
  config: {
    font: FONT,
    view: { stroke: '#e5e7eb' },
    axis: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: 500, gridColor: '#f1f5f9' },
    legend: { labelFontSize: 11, titleFontSize: 11, orient: 'bottom' },
  },
});

const modelColour = (models: string[]) => ({
  field: 'model',
  type: 'nominal',
  title: null,
  scale: { domain: models, range: models.map((m) => (m.startsWith('candidate') ? COLOURS.candidate : COLOURS.champion)) },
});

const unit = (field: string, title: string) => ({ field, type: 'quantitative', title, scale: { domain: [0, 1] } });
const diagonal = {
  data: {
    values: [
      { a: 0, b: 0 },
      { a: 1, b: 1 },
    ],
  },
  mark: { type: 'line', strokeDash: [4, 4], color: '#cbd5e1' },
  encoding: { x: { field: 'a', type: 'quantitative' }, y: { field: 'b', type: 'quantitative' } },
};

/** ROC curves of the candidate and @production on the same held-out rows. */
export function rocSpec(rows: Rows, models: string[]): VegaLiteSpec {
  return {
    ...chartBase('ROC curve (held-out rows)'),
    layer: [
      diagonal,
      {
        data: { values: rows },
        mark: { type: 'line', strokeWidth: 2, interpolate: 'step-after' },
        encoding: { x: unit('fpr', 'false positive rate'), y: unit('tpr', 'true positive rate'), color: modelColour(models), order: { field: 'fpr' } },
      },
    ],
  };
}

export function prSpec(rows: Rows, models: string[], positiveRate: number): VegaLiteSpec {
  return {
    ...chartBase('Precision–recall curve (held-out rows)'),
    layer: [
      { data: { values: [{ y: positiveRate }] }, mark: { type: 'rule', strokeDash: [4, 4], color: '#cbd5e1' }, encoding: { y: { field: 'y', type: 'quantitative' } } },
      {
        data: { values: rows },
        mark: { type: 'line', strokeWidth: 2, interpolate: 'step-after' },
        encoding: { x: unit('recall', 'recall'), y: unit('precision', 'precision'), color: modelColour(models), order: { field: 'recall' } },
      },
    ],
  };
}

export function calibrationSpec(rows: Rows, models: string[]): VegaLiteSpec {
  return {
    ...chartBase('Calibration (10 probability bins)'),
    layer: [
      diagonal,
      {
        data: { values: rows },
        mark: { type: 'line', point: { filled: true, size: 40 }, strokeWidth: 2 },
        encoding: {
          x: unit('predicted', 'mean predicted probability'),
          y: unit('observed', 'observed positive rate'),
          color: modelColour(models),
          tooltip: [{ field: 'model' }, { field: 'count', type: 'quantitative' }],
        },
      },
    ],
  };
}

export function confusionSpec(rows: Rows, threshold: number): VegaLiteSpec {
  const axis = (field: string, title: string) => ({ field, type: 'nominal', title, sort: ['positive', 'negative'], axis: { labelAngle: 0 } });
  return {
    ...chartBase(`Confusion matrix at threshold ${threshold.toFixed(3)}`, 230, 200),
    data: { values: rows },
    encoding: { x: axis('predicted', 'predicted'), y: axis('actual', 'actual') },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 2 },
        encoding: { color: { field: 'count', type: 'quantitative', scale: { scheme: 'blues', type: 'sqrt' }, legend: null } },
      },
      {
        mark: { type: 'text', fontSize: 14, fontWeight: 600 },
        encoding: { text: { field: 'label' }, color: { condition: { test: 'datum.dark', value: 'white' }, value: '#111827' } },
      },
    ],
  };
}

export function scoreDistributionSpec(rows: Rows): VegaLiteSpec {
  return {
    ...chartBase('Candidate scores by actual class'),
    data: { values: rows },
    mark: { type: 'bar', opacity: 0.6, binSpacing: 0 },
    encoding: {
      x: { field: 'start', type: 'quantitative', title: 'predicted probability', scale: { domain: [0, 1] } },
      x2: { field: 'end' },
      y: { field: 'share', type: 'quantitative', title: 'share of the class', stack: null, axis: { format: '%' } },
      y2: { datum: 0 },
      color: { field: 'class', type: 'nominal', title: null, scale: { domain: ['negative', 'positive'], range: [COLOURS.negative, COLOURS.positive] } },
    },
  };
}

export function importanceSpec(rows: Rows, metric: string): VegaLiteSpec {
  return {
    ...chartBase(`Permutation importance (drop in ${metric}, held-out rows)`, 420, Math.max(120, 18 * rows.length)),
    // Sorted here (largest first) rather than by the encoding: the two layers would disagree on the sort.
    data: { values: [...rows].sort((a, b) => Number(b.importance_mean) - Number(a.importance_mean)) },
    encoding: { y: { field: 'feature', type: 'nominal', title: null, sort: null, axis: { labelLimit: 260 } } },
    layer: [
      { mark: { type: 'bar', color: COLOURS.candidate }, encoding: { x: { field: 'importance_mean', type: 'quantitative', title: `mean drop in ${metric}` } } },
      { mark: { type: 'rule', color: '#111827' }, encoding: { x: { field: 'low', type: 'quantitative' }, x2: { field: 'high' } } },
    ],
  };
}

export function driftSpec(rows: Rows, flag: number): VegaLiteSpec {
  return {
    ...chartBase("Data drift vs @production's training data (PSI per feature)", 420, Math.max(120, 18 * rows.length)),
    layer: [
      {
        data: { values: rows },
        mark: { type: 'bar' },
        encoding: {
          y: { field: 'feature', type: 'nominal', title: null, sort: '-x', axis: { labelLimit: 260 } },
          x: { field: 'psi', type: 'quantitative', title: 'population stability index' },
          color: { field: 'status', type: 'nominal', title: null, scale: { domain: ['stable', `drift (PSI > ${flag})`], range: [COLOURS.ok, COLOURS.bad] } },
        },
      },
      { data: { values: [{ x: flag }] }, mark: { type: 'rule', strokeDash: [4, 4], color: COLOURS.bad }, encoding: { x: { field: 'x', type: 'quantitative' } } },
    ],
  };
}

export function latencySpec(rows: Rows, marks: { label: string; ms: number }[]): VegaLiteSpec {
  return {
    ...chartBase('Local-test latency, single-record calls', 420, 200),
    layer: [
      {
        data: { values: rows },
        mark: { type: 'bar', color: COLOURS.candidate, binSpacing: 1 },
        encoding: {
          x: { field: 'start', type: 'quantitative', title: 'milliseconds' },
          x2: { field: 'end' },
          y: { field: 'count', type: 'quantitative', title: 'calls' },
          y2: { datum: 0 },
        },
      },
      {
        data: { values: marks },
        mark: { type: 'rule', strokeDash: [4, 4] },
        // The first mark (p95) grey, the second (the limit) red, whatever their labels sort as.
        encoding: {
          x: { field: 'ms', type: 'quantitative' },
          color: { field: 'label', type: 'nominal', title: null, scale: { domain: marks.map((m) => m.label), range: [COLOURS.neutral, COLOURS.bad] } },
        },
      },
    ],
  };
}

const COLOUR_OF: Record<string, string> = { blue: '#2563eb', green: '#16a34a' };

export function trafficSpec(rows: Rows, events: Rows): VegaLiteSpec {
  const colours = [...new Set(rows.map((r) => String(r.colour)))].sort();
  return {
    ...chartBase('Rollout: traffic per colour over time', 560, 200),
    layer: [
      {
        data: { values: rows },
        mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2.5, point: true },
        encoding: {
          x: { field: 'seconds', type: 'quantitative', title: 'seconds since the rollout started' },
          y: { field: 'percent', type: 'quantitative', title: 'traffic %', scale: { domain: [0, 100] } },
          color: { field: 'colour', type: 'nominal', title: null, scale: { domain: colours, range: colours.map((c) => COLOUR_OF[c] ?? COLOURS.neutral) } },
        },
      },
      {
        data: { values: events },
        mark: { type: 'rule', strokeDash: [3, 3], strokeWidth: 2 },
        encoding: { x: { field: 'seconds', type: 'quantitative' }, color: { value: COLOURS.bad }, tooltip: [{ field: 'label' }] },
      },
    ],
  };
}

export function bakeSpec(rows: Rows): VegaLiteSpec {
  return {
    ...chartBase('Bake analysis per traffic step', 560, 180),
    data: { values: rows },
    encoding: { x: { field: 'step', type: 'ordinal', title: 'traffic step (new colour %)', sort: null, axis: { labelAngle: 0 } } },
    layer: [
      {
        mark: { type: 'bar', color: COLOURS.candidate, width: { band: 0.5 } },
        // A fixed domain with room for the labels, also when no request came in (p95 0 everywhere).
        encoding: {
          y: { field: 'p95_ms', type: 'quantitative', title: 'p95 latency (ms)', scale: { domain: [0, 1.25 * Math.max(1, ...rows.map((r) => Number(r.p95_ms) || 0))] } },
        },
      },
      { mark: { type: 'text', dy: -8, fontSize: 11 }, encoding: { y: { field: 'p95_ms', type: 'quantitative' }, text: { field: 'label' } } },
    ],
  };
}
