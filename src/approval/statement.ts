// The approval statement: the exact text an approver signs. Pure code (no Node APIs): the CLI builds it, the worker
// parses it, the workflow and `audit` read it.
//
// Canonical form (version 1): ten lines, each "key: value", in this fixed order, every line ending with "\n":
//
//   modelship approval statement v1
//   workflow_id: release-financial-behavior-model-20261126-112541-ab12
//   model_name: financial-behavior-model
//   model_version: 3
//   model_sha256: <64 lower-case hex digits: the ONNX model file>
//   data_sha256: <64 lower-case hex digits: the training CSV validated by this release>
//   decision: approved | rejected
//   principal: alice@example.com
//   comment: <the approval's comment or the rejection's reason; may be empty>
//   time: 2026-11-26T11:25:41.123Z   (UTC, ISO 8601 with milliseconds)
//
// Values are one line each with no control characters and no leading or trailing spaces, so there is exactly one
// text per set of fields: a statement is accepted only if rendering its parsed fields gives back the same bytes.

export const APPROVAL_NAMESPACE = 'modelship-approval';
export const STATEMENT_HEADER = 'modelship approval statement v1';

export type StatementDecision = 'approved' | 'rejected';

export interface ApprovalStatement {
  workflowId: string;
  modelName: string;
  modelVersion: string;
  modelSha256: string;
  dataSha256: string;
  decision: StatementDecision;
  principal: string;
  comment: string;
  /** ISO 8601 UTC with milliseconds, e.g. 2026-11-26T11:25:41.123Z. */
  time: string;
}

const FIELDS: [keyof ApprovalStatement, string][] = [
  ['workflowId', 'workflow_id'],
  ['modelName', 'model_name'],
  ['modelVersion', 'model_version'],
  ['modelSha256', 'model_sha256'],
  ['dataSha256', 'data_sha256'],
  ['decision', 'decision'],
  ['principal', 'principal'],
  ['comment', 'comment'],
  ['time', 'time'],
];

const SHA256 = /^[0-9a-f]{64}$/;
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why a field value cannot go into a statement, or undefined when it can. */
function fieldProblem(key: string, value: string): string | undefined {
  if (CONTROL.test(value)) return `${key} contains a line break or another control character: it must be one line`;
  if (value !== value.trim()) return `${key} has leading or trailing spaces`;
  const required = key !== 'comment';
  if (required && value === '') return `${key} is empty`;
  if ((key === 'model_sha256' || key === 'data_sha256') && !SHA256.test(value)) return `${key} is not 64 lower-case hex digits`;
  if (key === 'decision' && value !== 'approved' && value !== 'rejected') return `decision is "${value}", not "approved" or "rejected"`;
  if (key === 'time' && (!TIME.test(value) || Number.isNaN(Date.parse(value))))
    return `time "${value}" is not an ISO 8601 UTC time with milliseconds (e.g. 2026-11-26T11:25:41.123Z)`;
  return undefined;
}

/** The canonical text of a statement. Throws, naming the field, when a value cannot be written canonically. */
export function renderStatement(statement: ApprovalStatement): string {
  const problems = FIELDS.map(([field, key]) => fieldProblem(key, String(statement[field] ?? ''))).filter(Boolean);
  if (problems.length > 0) throw new Error(`cannot build the approval statement: ${problems.join('; ')}`);
  return [STATEMENT_HEADER, ...FIELDS.map(([field, key]) => `${key}: ${statement[field]}`)].join('\n') + '\n';
}

/** Parses a statement; throws with the first problem when the text is not a canonical version-1 statement. */
export function parseStatement(text: string): ApprovalStatement {
  if (typeof text !== 'string' || !text.endsWith('\n')) throw new Error('the statement is not canonical: it must end with a line break');
  const lines = text.slice(0, -1).split('\n');
  if (lines[0] !== STATEMENT_HEADER) throw new Error(`the statement does not start with "${STATEMENT_HEADER}"`);
  if (lines.length !== FIELDS.length + 1) throw new Error(`the statement has ${lines.length} lines, expected ${FIELDS.length + 1}`);
  const values: Record<string, string> = {};
  FIELDS.forEach(([field, key], index) => {
    const line = lines[index + 1]!;
    const prefix = `${key}: `;
    if (line.startsWith(prefix)) values[field] = line.slice(prefix.length);
    else throw new Error(`line ${index + 2} of the statement should be "${key}: …", found "${line.slice(0, 60)}"`);
  });
  const statement = values as unknown as ApprovalStatement;
  const canonical = renderStatement(statement);
  if (canonical !== text) throw new Error('the statement is not canonical (spacing or layout differs from what modelship writes)');
  return statement;
}

/** The fields of `actual` that differ from `expected`, as "key: signed X, expected Y" lines. */
export function statementMismatches(actual: ApprovalStatement, expected: Partial<ApprovalStatement>): string[] {
  const out: string[] = [];
  for (const [field, key] of FIELDS) {
    const want = expected[field];
    if (want !== undefined && actual[field] !== want) out.push(`${key}: signed "${actual[field]}", expected "${want}"`);
  }
  return out;
}

/** The candidate a decision is about, as a release reports it. */
export interface StatementSubject {
  name: string;
  version: string;
  modelSha256?: string;
  dataSha256?: string;
}

/**
 * Every field a decision on `candidate` signs except its time: one definition for the CLI that signs, the gate that
 * checks a signature and `audit` that checks it again. `text` is the approval's comment or the rejection's reason.
 */
export function statementFields(
  workflowId: string,
  candidate: StatementSubject,
  decision: StatementDecision,
  principal: string,
  text: string | undefined,
): Omit<ApprovalStatement, 'time'> {
  return {
    workflowId,
    modelName: candidate.name,
    modelVersion: candidate.version,
    modelSha256: candidate.modelSha256 ?? '',
    dataSha256: candidate.dataSha256 ?? '',
    decision,
    principal,
    comment: text ?? '',
  };
}
