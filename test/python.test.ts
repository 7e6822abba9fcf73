// The Python trainer's own tests (pytest, python/tests), and the TypeScript side of the trainer protocol checked
// against the schema generated from python/modelship_trainer/protocol.py: both sides read and write the same shapes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { TRAINER_CONTRACT_VERSION, TRAINER_MESSAGES } from '../src/activities/trainer-protocol';
import { projectRoot, pythonChildEnv, venvExecutable } from '../src/config/environment';

type Schema = { [key: string]: unknown };

/** A JSON Schema as both generators can agree on it: references inlined, titles and descriptions dropped, a
 * nullable spelled one way, integer bounds zod adds for safe integers dropped. */
function normalized(schema: unknown, defs: Record<string, Schema>): unknown {
  if (Array.isArray(schema)) return schema.map((item) => normalized(item, defs));
  if (typeof schema !== 'object' || schema === null) return schema;
  const node = schema as Schema;
  if (typeof node.$ref === 'string') return normalized(defs[node.$ref.replace('#/$defs/', '')], defs);
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (['title', 'description', '$schema', 'discriminator', 'propertyNames'].includes(key)) continue;
    if ((key === 'minimum' || key === 'maximum') && Math.abs(value as number) === Number.MAX_SAFE_INTEGER) continue;
    if (key === 'required') out.required = [...(value as string[])].sort();
    else if (key === 'oneOf') out.anyOf = normalized(value, defs);
    else if (key === 'additionalProperties' && typeof value === 'object' && value !== null && Object.keys(value).length === 0) out[key] = true;
    else out[key] = normalized(value, defs);
  }
  if ('const' in out) delete out.type; // a literal's own type says it
  // anyOf of bare types (pydantic's `float | None`) is zod's `type: [...]`.
  const anyOf = out.anyOf as Schema[] | undefined;
  if (anyOf?.every((member) => Object.keys(member).length === 1 && typeof member.type === 'string')) {
    delete out.anyOf;
    out.type = anyOf.map((member) => member.type);
  }
  if (Array.isArray(out.type)) out.type = [...(out.type as string[])].sort();
  return out;
}

describe('python trainer', () => {
  it('passes its pytest suite (python/tests)', () => {
    const run = spawnSync(venvExecutable('python'), ['-m', 'pytest', 'python/tests', '-q'], { cwd: projectRoot, env: pythonChildEnv(), encoding: 'utf8' });
    assert.equal(run.status, 0, `pytest failed (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /\d+ passed/);
  });

  it('the TypeScript trainer protocol is exactly protocol.schema.json, generated from protocol.py', () => {
    const schema = JSON.parse(readFileSync(join(projectRoot, 'python/modelship_trainer/protocol.schema.json'), 'utf8')) as {
      description: string;
      messages: Record<string, Schema>;
      $defs: Record<string, Schema>;
    };
    assert.match(schema.description, new RegExp(`contract version ${TRAINER_CONTRACT_VERSION}\\)`));
    assert.deepEqual(Object.keys(TRAINER_MESSAGES).sort(), Object.keys(schema.messages).sort());
    for (const [name, zodSchema] of Object.entries(TRAINER_MESSAGES)) {
      assert.deepEqual(normalized(z.toJSONSchema(zodSchema), {}), normalized(schema.messages[name], schema.$defs), `${name} differs between trainer-protocol.ts and protocol.py`);
    }
  });
});
