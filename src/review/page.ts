// review.html: one self-contained page (inline CSS and SVG, no script, no network) from a review document. The
// charts are rendered from the same rows review.json holds.
import {
  bakeSpec,
  calibrationSpec,
  confusionSpec,
  driftSpec,
  importanceSpec,
  latencySpec,
  prSpec,
  renderSvg,
  rocSpec,
  scoreDistributionSpec,
  trafficSpec,
  type VegaLiteSpec,
} from './charts';
import type { Panel, ReviewDocument, RolloutView } from './document';

/** Text for HTML content and attribute values. */
export const escapeHtml = (text: unknown) => String(text ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const fixed = (v: number | undefined, digits = 4) => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));

/** The review's look (palette, type, cards, tables), shared by the monitor's page. */
export const PAGE_CSS = `
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#111827;background:#f8fafc}
header{background:#0f172a;color:#f8fafc;padding:20px 32px}header h1{margin:0 0 4px;font-size:22px}header .sub{color:#cbd5e1;font-size:13px}
header .badge{display:inline-block;margin-left:10px;padding:2px 10px;border-radius:999px;font-size:12px;font-weight:600;vertical-align:middle}
.badge.wait{background:#fbbf24;color:#111827}.badge.ok{background:#22c55e;color:#052e16}.badge.bad{background:#ef4444;color:#fff}.badge.neutral{background:#94a3b8;color:#0f172a}
main{padding:20px 32px 40px;max-width:1440px}h2{font-size:17px;margin:28px 0 10px;padding-bottom:4px;border-bottom:2px solid #e2e8f0}
.grid{display:flex;flex-wrap:wrap;gap:14px}.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:12px 14px}
figure{margin:0}figure svg{display:block;max-width:100%;height:auto}figcaption{font-size:12px;color:#475569;margin-top:4px}figure.chart figcaption{width:0;min-width:100%}
table{border-collapse:collapse;font-size:13px}th,td{padding:4px 10px;border-bottom:1px solid #e5e7eb;text-align:left}th{color:#475569;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.pass{color:#15803d;font-weight:600}.fail{color:#b91c1c;font-weight:600}
.warn{color:#b91c1c;font-weight:600}.note{color:#64748b;font-style:italic}.kv td:first-child{color:#475569}
a{color:#2563eb}code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f1f5f9;padding:1px 4px;border-radius:4px}
.up{color:#15803d}.down{color:#b91c1c}`;

async function chart(id: string, panel: Panel<object> | undefined, spec: () => VegaLiteSpec, caption: string): Promise<string> {
  if (!panel) return '';
  if (!panel.available) {
    return `<figure class="card chart-missing" data-chart="${id}"><figcaption><strong>${escapeHtml(id.replace(/_/g, ' '))}</strong>: <span class="note">${escapeHtml(panel.note)}</span></figcaption></figure>`;
  }
  return `<figure class="card chart" data-chart="${id}">${await renderSvg(spec())}<figcaption>${caption}</figcaption></figure>`;
}

function metricsTable(doc: ReviewDocument): string {
  const champion = 'version' in doc.champion ? doc.champion.version : undefined;
  const rows = doc.metrics
    .map((m) => {
      const delta = m.champion === undefined ? undefined : m.candidate - m.champion;
      const better = delta === undefined ? '' : (m.name.startsWith('log loss') ? delta < 0 : delta > 0) ? 'up' : delta === 0 ? '' : 'down';
      return `<tr><td>${escapeHtml(m.name)}</td><td class="num">${fixed(m.candidate)}</td>${champion ? `<td class="num">${fixed(m.champion)}</td><td class="num ${better}">${delta === undefined ? '' : (delta >= 0 ? '+' : '') + fixed(delta)}</td>` : ''}</tr>`;
    })
    .join('');
  return `<table class="card" data-table="metrics"><tr><th>metric (held-out rows)</th><th>candidate v${escapeHtml(doc.model.version)}</th>${champion ? `<th>@production v${escapeHtml(champion)}</th><th>Δ</th>` : ''}</tr>${rows}</table>`;
}

function gatesTable(doc: ReviewDocument): string {
  if (!doc.gates.available) return `<p class="note">${escapeHtml(doc.gates.note)}</p>`;
  const rows = doc.gates.rows
    .map(
      (g) =>
        `<tr><td>${escapeHtml(g.name)}</td><td class="num">${fixed(g.value)}</td><td class="num">${escapeHtml(g.comparison)} ${fixed(g.threshold)}</td><td class="${g.result}">${g.result}</td><td>${escapeHtml(g.detail)}</td></tr>`,
    )
    .join('');
  return `<table class="card" data-table="gates"><tr><th>gate</th><th>value</th><th>threshold</th><th>result</th><th>what it checks</th></tr>${rows}</table>`;
}

function approvalsSection(doc: ReviewDocument): string {
  const { approvals } = doc;
  const unsigned = approvals.signed_setup
    ? ''
    : '<p class="warn" data-warning="unsigned">approvals are not signed: names only (set <code>allowed_signers</code> in the config to require SSH signatures)</p>';
  const rows = approvals.records
    .map(
      (a) =>
        `<tr><td>${escapeHtml(a.by)}${a.automatic ? ' <span class="note">(automatic)</span>' : ''}</td><td>${escapeHtml(a.decision)}</td><td>${escapeHtml(a.at)}</td><td class="${a.signed ? 'pass' : 'fail'}">${a.signed ? `signed${a.signature ? `: ${escapeHtml(a.signature)}` : ''}` : 'not signed'}</td><td>${escapeHtml(a.note ?? '')}</td></tr>`,
    )
    .join('');
  const table = rows
    ? `<table class="card" data-table="approvals"><tr><th>who</th><th>decision</th><th>when</th><th>signature</th><th>comment / reason</th></tr>${rows}</table>`
    : '';
  const waiting = approvals.waiting ? `<p><strong>Waiting for a decision.</strong> ${escapeHtml(approvals.waiting)}</p>` : '';
  return `<h2 id="approval">Approval</h2>${unsigned}${waiting}${table || (waiting ? '' : '<p class="note">no decision recorded</p>')}`;
}

function driftTable(doc: ReviewDocument): string {
  if (!doc.drift.available) return '';
  const flagged = doc.drift.features.filter((f) => f.flagged);
  if (!flagged.length) return `<p>No feature drifts above PSI ${doc.drift.threshold} (reference: ${escapeHtml(doc.drift.reference)}).</p>`;
  const rows = flagged
    .map((f) => {
      const top = [...f.bins].sort((a, b) => Math.abs(b.current - b.reference) - Math.abs(a.current - a.reference)).slice(0, 3);
      return `<tr><td>${escapeHtml(f.feature)}</td><td>${f.kind}</td><td class="num fail">${fixed(f.psi, 3)}</td><td>${top.map((b) => `${escapeHtml(b.bin)}: ${(100 * b.reference).toFixed(1)} % → ${(100 * b.current).toFixed(1)} %`).join('; ')}</td></tr>`;
    })
    .join('');
  return `<table class="card" data-table="drift"><tr><th>drifted feature</th><th>kind</th><th>PSI</th><th>largest shifts (reference → candidate data)</th></tr>${rows}</table>`;
}

async function rolloutSection(doc: ReviewDocument): Promise<string> {
  const panel = doc.rollout;
  if (!panel) return '';
  if (!panel.available) return `<h2 id="rollout">Rollout</h2><p class="note">${escapeHtml(panel.note)}</p>`;
  const r: RolloutView = panel;
  const events = r.compensations.map((c) => ({ seconds: c.seconds, label: `compensations: ${c.undone.join('; ') || 'nothing to undo'}` }));
  const charts = r.traffic.length
    ? [
        await chart(
          'traffic',
          panel,
          () => trafficSpec(r.traffic, events),
          `Traffic per colour after each change.${events.length ? ' <span class="warn">Red line: compensations ran (rolled back).</span>' : ''}`,
        ),
        r.bakes.length
          ? await chart(
              'bake',
              panel,
              () => bakeSpec(r.bakes.map((b) => ({ ...b, label: `${(100 * b.error_rate).toFixed(2)} % errors, ${b.requests} req` }))),
              'p95 latency of the new colour per bake step, labelled with its error rate.',
            )
          : '',
      ].join('')
    : '';
  const compensations = r.compensations
    .map(
      (c) =>
        `<p class="warn" data-compensation>compensations ran at ${escapeHtml(c.at)} (+${c.seconds} s): ${escapeHtml(c.undone.join('; ') || 'nothing to undo')}${c.failures.length ? `; UNDO FAILURES: ${escapeHtml(c.failures.join('; '))}` : ''}</p>`,
    )
    .join('');
  const steps = r.steps.map((s) => `<tr><td class="num">+${s.seconds} s</td><td>${escapeHtml(s.action)}</td><td>${escapeHtml(s.detail ?? '')}</td></tr>`).join('');
  const outcomeClass = r.outcome === 'succeeded' ? 'ok' : r.outcome === 'rolled back' ? 'bad' : 'neutral';
  return `<h2 id="rollout">Rollout <span class="badge ${outcomeClass}">${escapeHtml(r.outcome)}</span></h2><p>${escapeHtml(r.summary)}</p>${compensations}
<div class="grid">${charts}</div>${steps ? `<table class="card" data-table="rollout-steps" style="margin-top:14px"><tr><th>time</th><th>step</th><th>detail</th></tr>${steps}</table>` : ''}`;
}

const short = (sha256: string) => `<code title="${escapeHtml(sha256)}">${escapeHtml(sha256.slice(0, 12))}…</code>`;

/** Why the release started, first on the page: the person, the schedule, the alarm with its numbers, or the promotion. */
function triggerSection(doc: ReviewDocument): string {
  const trigger = doc.trigger;
  if (!trigger) return '';
  let headline: string;
  let details = '';
  switch (trigger.kind) {
    case 'person':
      headline = trigger.by ? `Started by <strong>${escapeHtml(trigger.by)}</strong>.` : 'Started by a person (no name recorded).';
      break;
    case 'schedule':
      headline = `Started by the schedule <strong>${escapeHtml(trigger.schedule)}</strong> at ${escapeHtml(trigger.at)}.`;
      break;
    case 'alarm': {
      headline =
        `Started by the monitor's alarm on endpoint <strong>${escapeHtml(trigger.endpoint)}</strong> at ${escapeHtml(trigger.at)}: ` +
        `window ${escapeHtml(trigger.window.start)} – ${escapeHtml(trigger.window.end)}, monitor run <code>${escapeHtml(trigger.monitorWorkflowId)}</code>.`;
      const alarms = trigger.alarms
        .map((a) => `<tr><td class="fail">${escapeHtml(a.kind)}</td><td>${escapeHtml(a.features.join(', '))}</td><td>${escapeHtml(a.detail)}</td></tr>`)
        .join('');
      const drift = trigger.drift
        .map(
          (d) =>
            `<tr><td>${escapeHtml(d.feature)}</td><td class="num${d.psi > d.threshold ? ' fail' : ''}">${fixed(d.psi, 3)}</td><td class="num">${fixed(d.threshold, 3)}</td><td class="num">${d.threshold > 0 ? `${(d.psi / d.threshold).toFixed(1)}×` : '–'}</td></tr>`,
        )
        .join('');
      details =
        (alarms ? `<table class="card" data-table="trigger-alarms"><tr><th>alarm</th><th>features</th><th>detail</th></tr>${alarms}</table>` : '') +
        (drift
          ? `<table class="card" data-table="trigger-drift" style="margin-top:10px"><tr><th>drifted feature</th><th>PSI</th><th>threshold</th><th>PSI / threshold</th></tr>${drift}</table>`
          : '');
      break;
    }
    case 'promotion':
      headline = `Promotion of version <strong>${escapeHtml(trigger.version)}</strong> from ${escapeHtml(trigger.from)} to ${escapeHtml(trigger.to.join(', '))}${trigger.by ? ` by <strong>${escapeHtml(trigger.by)}</strong>` : ''}.`;
      break;
  }
  return `<h2 id="trigger">Why this release started</h2><p data-trigger="${escapeHtml(trigger.kind)}">${headline}</p>${details}`;
}

const STAGE_CLASS: Partial<Record<string, string>> = { live: 'pass', rejected: 'fail', failed: 'fail', approval_expired: 'fail' };

/** Where the candidate stands in each environment, in the order it passes through them. */
function environmentsSection(doc: ReviewDocument): string {
  if (!doc.environments?.length) return '';
  const rows = doc.environments
    .map(
      (e) =>
        `<tr><td><strong>${escapeHtml(e.name)}</strong></td><td>${escapeHtml(e.target)}</td><td><code>${escapeHtml(e.endpoint)}</code></td><td${STAGE_CLASS[e.stage] ? ` class="${STAGE_CLASS[e.stage]}"` : ''}>${escapeHtml(e.stage.replace(/_/g, ' '))}</td><td>${escapeHtml(e.approval ?? '–')}</td><td>${e.alias ? `<code>${escapeHtml(e.alias)}</code>` : '–'}</td><td>${escapeHtml(e.summary ?? '')}</td></tr>`,
    )
    .join('');
  return `<h2 id="environments">Environments</h2><table class="card" data-table="environments"><tr><th>environment</th><th>target</th><th>endpoint</th><th>stage</th><th>approval</th><th>alias</th><th>detail</th></tr>${rows}</table>`;
}

/** Sources listed beyond this many are folded under their total. */
const SOURCES_SHOWN = 12;

/** The files (and feedback rows) the training data was joined from, each with its date, rows and sha256. */
function sourcesSection(doc: ReviewDocument): string {
  const sources = doc.sources;
  if (!sources?.length) return '';
  const rows = sources
    .map(
      (s) =>
        `<tr><td>${s.kind === 'feedback' ? `feedback${s.endpoint ? ` of <code>${escapeHtml(s.endpoint)}</code>` : ''}` : 'file'}</td><td><code>${escapeHtml(s.path)}</code></td><td>${escapeHtml(s.date ?? '–')}</td><td class="num">${s.rows}</td><td>${short(s.sha256)}</td></tr>`,
    )
    .join('');
  const total = sources.reduce((n, s) => n + s.rows, 0);
  const dates = sources.map((s) => s.date).filter((d): d is string => Boolean(d));
  const span = dates.length ? `, ${escapeHtml(dates[0]!)} to ${escapeHtml(dates[dates.length - 1]!)}` : '';
  const summary = `${sources.length} source(s)${span}: ${total} rows in all.`;
  const table = `<table class="card" data-table="sources"><tr><th>source</th><th>path</th><th>date</th><th>rows</th><th>sha256</th></tr>${rows}</table>`;
  return `<h2 id="data">Training data</h2><p>${summary}</p>${sources.length > SOURCES_SHOWN ? `<details><summary>every source</summary>${table}</details>` : table}`;
}

/** p95, and the limit when it is near enough to be drawn without squashing the histogram. */
function latencyMarks(latency: { p95_ms: number; p99_ms: number; max_latency_ms: number } | undefined) {
  if (!latency) return [];
  const marks = [{ label: `p95 ${latency.p95_ms.toFixed(2)} ms`, ms: latency.p95_ms }];
  if (latency.max_latency_ms <= 3 * latency.p99_ms) marks.push({ label: `max_latency_ms ${latency.max_latency_ms}`, ms: latency.max_latency_ms });
  return marks;
}

export async function renderReviewHtml(doc: ReviewDocument): Promise<string> {
  const candidate = `candidate v${doc.model.version}`;
  const champion = 'version' in doc.champion ? doc.champion.version : undefined;
  const models = champion ? [candidate, `@production v${champion}`] : [candidate];
  const badge =
    doc.phase === 'awaiting_approval'
      ? '<span class="badge wait">awaiting approval</span>'
      : `<span class="badge ${doc.outcome === 'succeeded' ? 'ok' : doc.outcome === 'rejected' || doc.outcome === 'approval_expired' ? 'neutral' : 'bad'}">${escapeHtml(doc.outcome ?? 'final')}</span>`;
  const link = (href: string | undefined, text: string) => (href ? `<a href="${escapeHtml(href)}" target="_blank" rel="noopener">${text}</a>` : '');
  const links = [link(doc.links.mlflow_run, 'MLflow run'), link(doc.links.review_in_mlflow, 'this review in MLflow'), link(doc.links.temporal, 'Temporal workflow')]
    .filter(Boolean)
    .join(' · ');
  const comparison = champion
    ? `Candidate v${escapeHtml(doc.model.version)} (blue) against the current <strong>@production v${escapeHtml(champion)}</strong> (grey), both scored on the candidate's held-out rows.`
    : `<span class="note">${escapeHtml('none' in doc.champion ? doc.champion.none : '')}</span>`;
  const evidence = [
    await chart('roc', doc.roc, () => rocSpec(doc.roc.available ? doc.roc.rows : [], models), 'Dashed: a random model.'),
    await chart(
      'precision_recall',
      doc.precision_recall,
      () => prSpec(doc.precision_recall.available ? doc.precision_recall.rows : [], models, doc.precision_recall.available ? doc.precision_recall.positive_rate : 0),
      'Dashed: the positive rate (a random model).',
    ),
    await chart(
      'calibration',
      doc.calibration,
      () => calibrationSpec(doc.calibration.available ? doc.calibration.rows : [], models),
      'On the diagonal: predicted probabilities mean what they say.',
    ),
    await chart(
      'confusion',
      doc.confusion,
      () =>
        confusionSpec(
          doc.confusion.available
            ? doc.confusion.rows.map((r) => ({
                ...r,
                label: String(r.count),
                dark: r.count > 0.5 * Math.max(...(doc.confusion.available ? doc.confusion.rows.map((x) => x.count) : [0])),
              }))
            : [],
          doc.confusion.available ? doc.confusion.threshold : 0,
        ),
      'Candidate, at the decision threshold chosen in training.',
    ),
    await chart(
      'score_distribution',
      doc.score_distribution,
      () => scoreDistributionSpec(doc.score_distribution.available ? doc.score_distribution.rows : []),
      'Well separated classes make a good model; overlap is where it errs.',
    ),
  ].join('');
  const importance = doc.importance.available ? doc.importance : undefined;
  const latency = doc.latency.available ? doc.latency : undefined;
  const drift = doc.drift.available ? doc.drift : undefined;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Review: ${escapeHtml(doc.model.name)} v${escapeHtml(doc.model.version)}</title><style>${PAGE_CSS}</style></head>
<body data-phase="${doc.phase}">
<header><h1>Release review: ${escapeHtml(doc.model.name)} v${escapeHtml(doc.model.version)} ${badge}</h1>
<div class="sub">${escapeHtml(doc.workflow_id)} · generated ${escapeHtml(doc.generated_at)} · ${links}</div></header>
<main>
${triggerSection(doc)}
<table class="card kv" data-table="summary"${doc.trigger ? ' style="margin-top:14px"' : ''}>
<tr><td>model</td><td><code>${escapeHtml(doc.model.uri)}</code>${doc.model.family ? ` (${escapeHtml(doc.model.family)})` : ''}</td></tr>
<tr><td>model sha256</td><td><code>${escapeHtml(doc.model.model_sha256 ?? '–')}</code></td></tr>
<tr><td>data sha256</td><td><code>${escapeHtml(doc.model.data_sha256)}</code></td></tr>
<tr><td>compared with</td><td>${champion ? `@production v${escapeHtml(champion)}` : escapeHtml('none' in doc.champion ? doc.champion.none : '')}</td></tr>
</table>
${environmentsSection(doc)}
${approvalsSection(doc)}
<h2 id="quality">Quality: candidate vs @production</h2><p>${comparison}</p>
${metricsTable(doc)}
<div class="grid" style="margin-top:14px">${evidence}</div>
<h2 id="gates">Gates</h2>${gatesTable(doc)}
<h2 id="importance">Feature importance</h2>
<div class="grid">${await chart(
    'importance',
    doc.importance,
    () =>
      importanceSpec(
        (importance?.rows ?? []).map((r) => ({ ...r, low: r.importance_mean - r.importance_std, high: r.importance_mean + r.importance_std })),
        importance?.metric ?? '',
      ),
    "Computed by the trainer: how much the held-out score drops when a feature's values are shuffled (bar: mean, line: ± one standard deviation).",
  )}</div>
${sourcesSection(doc)}
<h2 id="drift">Data drift</h2>
<div class="grid">${await chart(
    'drift',
    doc.drift,
    () =>
      driftSpec(
        (drift?.features ?? []).map((f) => ({ feature: f.feature, psi: f.psi, status: f.flagged ? `drift (PSI > ${drift!.threshold})` : 'stable' })),
        drift?.threshold ?? 0.2,
      ),
    `Population stability index of each feature, this release's data against ${escapeHtml(drift?.reference ?? 'the reference')}; flagged above ${drift?.threshold ?? 0.2}.`,
  )}</div>
${driftTable(doc)}
<h2 id="latency">Local-test latency</h2>
<div class="grid">${await chart('latency', doc.latency, () => latencySpec(latency?.rows ?? [], latencyMarks(latency)), latency ? `p50 ${latency.p50_ms.toFixed(2)} ms · p95 ${latency.p95_ms.toFixed(2)} ms · p99 ${latency.p99_ms.toFixed(2)} ms (limit ${latency.max_latency_ms} ms), ONNX Runtime in the worker.` : '')}</div>
${await rolloutSection(doc)}
<p class="note" style="margin-top:28px">The numbers behind every chart are in review.json beside this page.</p>
</main></body></html>
`;
}
