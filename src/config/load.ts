// Loading a release configuration: YAML file → overrides from CLI flags → one zod parse. Every problem is reported
// at once, each naming the key, where it came from (file and line, or the flag) and what a valid value looks like.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument, isMap } from 'yaml';
import type { z } from 'zod';
import { dataContractKeys, describeKey, normalizeConfig, releaseConfigKeys, releaseConfigSchema, type ReleaseConfig, type ReleaseConfigInput } from './schema';

/** A bad configuration: `problems` lists every field that is wrong, each with its fix. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source} is not a valid modelship configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: ReleaseConfig;
  /** Absolute path of the file read, or undefined when only defaults and overrides were used. */
  path?: string;
}

export interface LoadConfigOptions {
  /** Path of the YAML file; omit for defaults only. */
  path?: string;
  /** Values from CLI flags; they win over the file. Keys are config keys. */
  overrides?: Partial<ReleaseConfigInput>;
}

export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const path = options.path ? resolve(options.path) : undefined;
  let fileValues: Record<string, unknown> = {};
  let lineOf: (keyPath: string) => number | undefined = () => undefined;

  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
      throw new ConfigError(path, [`cannot read the file (${reason}). Fix: pass an existing file with --config.`]);
    }
    const lineCounter = new LineCounter();
    const document = parseDocument(text, { lineCounter, prettyErrors: false });
    if (document.errors.length > 0) {
      throw new ConfigError(
        path,
        document.errors.map((e) => `YAML syntax error at line ${lineCounter.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`),
      );
    }
    const contents = document.contents;
    if (contents !== null && !isMap(contents)) {
      throw new ConfigError(path, ['the file must be a mapping of keys to values (key: value lines), not a list or a scalar.']);
    }
    fileValues = (document.toJS() as Record<string, unknown> | null) ?? {};
    lineOf = (keyPath) => {
      const node = document.getIn(keyPath.split('.'), true) as { range?: [number, number, number] } | undefined;
      const offset = node?.range?.[0];
      return offset === undefined ? undefined : lineCounter.linePos(offset).line;
    };
    // Relative paths are relative to the config file, so a config and its data can move together.
    for (const key of ['input_data_path', 'allowed_signers'] as const) {
      const value = fileValues[key];
      if (typeof value === 'string' && value && !isAbsolute(value)) fileValues[key] = resolve(dirname(path), value);
    }
    const environments = fileValues.environments;
    if (Array.isArray(environments)) {
      for (const environment of environments as Record<string, unknown>[]) {
        const signers = environment?.allowed_signers;
        if (typeof signers === 'string' && signers && !isAbsolute(signers)) environment.allowed_signers = resolve(dirname(path), signers);
      }
    }
  }

  const overrides = Object.fromEntries(Object.entries(options.overrides ?? {}).filter(([, value]) => value !== undefined));
  const merged = { ...fileValues, ...overrides };
  const parsed = releaseConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const where = (keyPath: string) => {
      if (keyPath.split('.')[0]! in overrides) return ' (from the command line)';
      const line = lineOf(keyPath);
      return line ? ` (line ${line})` : '';
    };
    throw new ConfigError(path ?? 'the configuration', describeIssues(parsed.error.issues, merged, where));
  }
  const config = normalizeConfig(parsed.data);
  // Paths from the file were made absolute above; from flags or defaults they are relative to the working directory.
  config.input_data_path = resolve(config.input_data_path);
  if (config.allowed_signers) config.allowed_signers = resolve(config.allowed_signers);
  for (const environment of config.environments ?? []) if (environment.allowed_signers) environment.allowed_signers = resolve(environment.allowed_signers);
  return { config, path };
}

function describeIssues(issues: z.core.$ZodIssue[], values: Record<string, unknown>, where: (key: string) => string): string[] {
  const problems: string[] = [];
  for (const issue of issues) {
    const parent = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const keyPath = [...parent, key].join('.');
        const suggestion = closestKey(key, knownKeys(parent));
        problems.push(
          `${keyPath}${where(keyPath)}: unknown key. Fix: ${suggestion ? `did you mean "${suggestion}"? ` : ''}` +
            `remove it or use one of the keys listed by 'modelship config reference'.`,
        );
      }
      continue;
    }
    const keyPath = parent.join('.');
    const value = valueAt(values, parent);
    const got = value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
    const expected = describeKey(parent);
    problems.push(`${keyPath}${where(keyPath)}: ${plainMessage(issue)}${got}. Fix: ${expected ?? 'see modelship config reference'}.`);
  }
  return problems;
}

function plainMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected === 'int' ? 'a whole number' : `a ${issue.expected}`}`;
    case 'too_small':
      return `too small (must be ${issue.inclusive === false ? '>' : '≥'} ${String(issue.minimum)})`;
    case 'too_big':
      return `too big (must be ${issue.inclusive === false ? '<' : '≤'} ${String(issue.maximum)})`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return issue.message;
  }
}

function valueAt(values: Record<string, unknown>, path: string[]): unknown {
  let current: unknown = values;
  for (const key of path) current = current && typeof current === 'object' ? (current as Record<string, unknown>)[key] : undefined;
  return current;
}

function knownKeys(parent: string[]): readonly string[] {
  return parent[0] === 'data' ? dataContractKeys : releaseConfigKeys;
}

/** The known key nearest to a misspelt one (edit distance ≤ 3), for "did you mean". */
function closestKey(unknown: string, keys: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const key of keys) {
    const distance = editDistance(unknown.toLowerCase(), key);
    if (distance <= 3 && (!best || distance < best.distance)) best = { key, distance };
  }
  return best?.key;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
