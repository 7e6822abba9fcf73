// onnxruntime-node's GPU download stays skipped, and npm says nothing about it on every command.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { projectRoot } from '../src/config/environment';

describe('npm install of onnxruntime-node', () => {
  it('installed no CUDA libraries (its install script is denied, the CPU binaries ship in the package)', () => {
    const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
    assert.equal(pkg.allowScripts?.['onnxruntime-node'], false);
    const bin = join(projectRoot, 'node_modules/onnxruntime-node/bin/napi-v6', process.platform, process.arch);
    assert.ok(existsSync(join(bin, 'onnxruntime_binding.node')), 'the CPU binding is there');
    assert.equal(existsSync(join(bin, 'libonnxruntime_providers_cuda.so')), false, 'no CUDA provider was downloaded');
  });

  it('`npx modelship` prints no npm warning', () => {
    const run = spawnSync('npx', ['--no-install', 'modelship', '--help'], { cwd: projectRoot, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /npm warn/i, run.stderr);
  });
});
