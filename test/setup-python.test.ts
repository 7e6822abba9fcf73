// The set-up script that `npm install` runs: creates the venv once, skips it when nothing changed, reinstalls when
// the requirements change, and explains a missing or old Python. Runs against a scratch venv with an empty
// requirements file, so it needs no package index.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { projectRoot } from '../src/config/environment';

const script = join(projectRoot, 'scripts', 'setup-python.mjs');

function runSetup(env: Record<string, string>) {
  const result = spawnSync(process.execPath, [script], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('python set-up (npm install)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-setup-'));
  const requirements = join(dir, 'requirements.txt');
  const venv = join(dir, 'venv');
  const env = { MODELSHIP_VENV: venv, MODELSHIP_REQUIREMENTS: requirements };

  it('creates the venv and records a stamp the first time', () => {
    writeFileSync(requirements, '# no packages\n');
    const { code, output } = runSetup(env);
    assert.equal(code, 0, output);
    assert.match(output, /creating a virtual environment/);
    assert.match(output, /installing Python packages/);
    assert.ok(existsSync(join(venv, 'bin', 'python')));
    const stamp = JSON.parse(readFileSync(join(venv, '.modelship-stamp.json'), 'utf8')) as { fingerprint: string };
    assert.match(stamp.fingerprint, /^[0-9a-f]{64}$/);
  });

  it('does nothing on a second run with nothing changed', () => {
    const stampBefore = statSync(join(venv, '.modelship-stamp.json')).mtimeMs;
    const { code, output } = runSetup(env);
    assert.equal(code, 0, output);
    assert.match(output, /up to date.*nothing to install/);
    assert.doesNotMatch(output, /installing/);
    assert.equal(statSync(join(venv, '.modelship-stamp.json')).mtimeMs, stampBefore);
  });

  it('installs again when the requirements change', () => {
    writeFileSync(requirements, '# no packages\n# changed\n');
    const { code, output } = runSetup(env);
    assert.equal(code, 0, output);
    assert.doesNotMatch(output, /creating a virtual environment/, 'the existing venv is reused');
    assert.match(output, /installing Python packages/);
    assert.match(runSetup(env).output, /up to date/);
  });

  it('recreates a venv whose interpreter no longer runs', () => {
    // bin/python is a symlink to the base interpreter: replace the link, never write through it.
    rmSync(join(venv, 'bin', 'python'));
    writeFileSync(join(venv, 'bin', 'python'), '#!/bin/sh\nexit 1\n');
    chmodSync(join(venv, 'bin', 'python'), 0o755);
    const { code, output } = runSetup(env);
    assert.equal(code, 0, output);
    assert.match(output, /does not run; recreating it/);
  });

  it('says exactly what to install when Python is too old (3.10 too: the trainer uses add_note, the pinned numpy needs 3.11)', () => {
    for (const [version, name] of [
      ['3.8.10', 'python-old'],
      ['3.10.14', 'python-3.10'],
    ] as const) {
      const fake = join(dir, name);
      writeFileSync(fake, `#!/bin/sh\necho '{"version": [${version.split('.').join(', ')}], "executable": "/usr/bin/python3"}'\n`);
      chmodSync(fake, 0o755);
      const { code, output } = runSetup({ ...env, MODELSHIP_PYTHON: fake });
      assert.equal(code, 1);
      assert.match(output, new RegExp(`is Python ${version.replaceAll('.', '\\.')}, but modelship needs Python 3\\.11 or newer`));
      assert.match(output, /apt-get install python3\.11 python3\.11-venv/);
    }
  });

  it('says exactly what to install when there is no Python at all', () => {
    const { code, output } = runSetup({ ...env, MODELSHIP_PYTHON: join(dir, 'no-such-python') });
    assert.equal(code, 1);
    assert.match(output, /no Python interpreter found.*needs Python 3\.11\+/);
    assert.match(output, /apt-get install python3 python3-venv/);
  });
});
