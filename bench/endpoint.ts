// Endpoint benchmark (not a test: it prints numbers). Run: npm run bench:endpoint
// Throughput and latency of the local endpoint for 1-record and 100-record requests, against two references on
// the same 100-tree forest and records: the original's way (scikit-learn predict_proba behind a simple Python
// HTTP server) and the floor (bare node:http + onnxruntime-node, no auth/validation/routing). Then p99 at a fixed
// 500 requests/s, the cost of capture (A/B in the same server: capture at 0 % vs 100 %, goals from issue 17:
// throughput ≥ 0.95× off, p99 at 500 req/s ≤ off + 1 ms), and the endpoint server's memory with two deployments
// loaded. Loopback only, bounded runs. BENCH_ONLY=capture runs only the capture A/B (no Python, no floor).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { freePort } from '../src/client/embedded-stack';
import { projectRoot, pythonChildEnv, venvExecutable } from '../src/config/environment';
import { generateBankingCsv } from '../src/data/generate';
import { adminToken } from '../src/serving/endpoint-server';
import { LocalTarget } from '../src/targets/local';
import type { ModelToDeploy } from '../src/targets/target';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 8);
const CAPTURE_ONLY = process.env.BENCH_ONLY === 'capture';
const children: ChildProcess[] = [];

// With two or more cores, servers run on core 0 and the load generator (this process) on core 1, so the load
// generator does not steal the server's CPU; run this script under `taskset -c 1` (npm run bench:endpoint does).
const PIN_SERVERS = process.env.BENCH_PIN !== '0' && cpus().length >= 2;

function startChild(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ChildProcess> {
  const child = PIN_SERVERS
    ? spawn('taskset', ['-c', '0', command, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(command, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => (chunk.toString().includes('ready') || chunk.toString().includes('endpoint server on') ? resolve(child) : undefined));
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code}`)));
  });
}

interface Row {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function load(name: string, url: string, body: string, headers: Record<string, string>, options: Partial<autocannon.Options> = {}): Promise<Row> {
  const result = await autocannon({ url, method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, connections: 8, duration: DURATION_S, ...options });
  return { name, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx };
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-bench-endpoint-'));
  await generateBankingCsv({ rows: 5_000, seed: 42, out: join(dir, 'bank.csv') });
  const [pyPort, floorPort, endpointPort] = [await freePort(), await freePort(), await freePort()];
  console.log('training a 100-tree forest and starting the three servers…');
  await startChild(venvExecutable('python'), [join(projectRoot, 'bench/python_reference_server.py'), join(dir, 'bank.csv'), join(dir, 'model'), String(pyPort)], pythonChildEnv());
  const modelPath = join(dir, 'model', 'model.onnx');
  const contractPath = join(dir, 'model', 'input_contract.json');
  await startChild(process.execPath, ['--import', 'tsx', join(projectRoot, 'bench/floor-server.ts'), modelPath, contractPath, String(floorPort)]);
  const server = await startChild(process.execPath, [
    '--import',
    'tsx',
    join(projectRoot, 'src/client/cli.ts'),
    'serve',
    '--port',
    String(endpointPort),
    '--state-dir',
    join(dir, 'serving'),
  ]);
  const target = new LocalTarget(`http://127.0.0.1:${endpointPort}`, join(dir, 'serving'));
  await target.ensureEndpoint('bench');
  const model = { name: 'bench', version: '1', modelPath, contractPath, sha256: 'bench' };
  // Off while the reference runs are measured, so they compare serving alone; the A/B below turns it on.
  await target.setCapture('bench', 0);
  await target.createDeployment('bench', 'blue', model);
  await target.setTraffic('bench', { blue: 100 });
  const key = await target.endpointKey('bench');

  const csv = readFileSync(join(dir, 'bank.csv'), 'utf8').trim().split('\n');
  const header = csv[0]!.split(',');
  const contract = JSON.parse(readFileSync(contractPath, 'utf8')) as { features: { column: string }[] };
  const records = csv.slice(1, 101).map((line) => {
    const fields = line.split(',');
    return Object.fromEntries(contract.features.map((f) => [f.column, fields[header.indexOf(f.column)]]));
  });
  const single = JSON.stringify(records[0]);
  const hundred = JSON.stringify(records);
  const auth = { authorization: `Bearer ${key}` };

  const scoreUrl = `http://127.0.0.1:${endpointPort}/endpoints/bench/score`;
  if (!CAPTURE_ONLY) await referenceRuns(pyPort, floorPort, scoreUrl, single, hundred, auth, server.pid!, target, model);
  await captureAB(target, scoreUrl, single, hundred, auth, join(dir, 'serving'));
}

async function referenceRuns(
  pyPort: number,
  floorPort: number,
  scoreUrl: string,
  single: string,
  hundred: string,
  auth: Record<string, string>,
  serverPid: number,
  target: LocalTarget,
  model: ModelToDeploy,
) {
  const rows: Row[] = [];
  for (const [label, body] of [
    ['1 record', single],
    ['100 records', hundred],
  ] as const) {
    rows.push(await load(`python (scikit-learn)  ${label}`, `http://127.0.0.1:${pyPort}/`, body, {}));
    rows.push(await load(`node floor             ${label}`, `http://127.0.0.1:${floorPort}/`, body, {}));
    rows.push(await load(`modelship endpoint     ${label}`, scoreUrl, body, auth));
  }
  console.log(
    `\n${DURATION_S} s per run, 8 connections, loopback, this machine (${cpus().length} cores${PIN_SERVERS ? '; servers pinned to core 0, load generator to core 1' : ''})`,
  );
  console.log('server                               req/s     p50 ms   p99 ms   errors');
  for (const r of rows)
    console.log(`${r.name.padEnd(36)} ${r.rps.toFixed(0).padStart(7)} ${r.p50.toFixed(2).padStart(9)} ${r.p99.toFixed(2).padStart(8)} ${String(r.errors).padStart(8)}`);
  for (const [i, label] of [
    [0, '1 record'],
    [3, '100 records'],
  ] as const) {
    const [py, floor, ours] = [rows[i]!, rows[i + 1]!, rows[i + 2]!];
    console.log(`${label}: modelship/python ${(ours.rps / py.rps).toFixed(1)}×, modelship/floor ${(ours.rps / floor.rps).toFixed(2)}×`);
  }
  const paced = await load('modelship endpoint at 500 req/s', scoreUrl, single, auth, { overallRate: 500, connections: 8 });
  const pacedFloor = await load('node floor at 500 req/s', `http://127.0.0.1:${floorPort}/`, single, {}, { overallRate: 500, connections: 8 });
  console.log(
    `at a fixed 500 req/s, 1 record: modelship p50 ${paced.p50.toFixed(2)} ms, p99 ${paced.p99.toFixed(2)} ms, ${paced.errors} errors` +
      ` (floor p50 ${pacedFloor.p50.toFixed(2)} ms, p99 ${pacedFloor.p99.toFixed(2)} ms)`,
  );

  const oneDeployment = rssMiB(serverPid);
  await target.createDeployment('bench', 'green', model);
  console.log(`endpoint server memory: ${oneDeployment.toFixed(0)} MiB with one deployment, ${rssMiB(serverPid).toFixed(0)} MiB with two`);
  await target.deleteDeployment('bench', 'green');
}

/**
 * Capture off (0 %) vs on (100 %) on the same server and model. Throughput runs go off, on, on, off for 1 record
 * (so a drift in the machine's load cancels out), then off, on for 100 records and at a fixed 500 req/s.
 */
async function captureAB(target: LocalTarget, scoreUrl: string, single: string, hundred: string, auth: Record<string, string>, servingDir: string) {
  const run = async (percent: number, body: string, options: Partial<autocannon.Options> = {}) => {
    await target.setCapture('bench', percent);
    return load(`capture ${percent} %`, scoreUrl, body, auth, options);
  };
  const mean = (a: Row, b: Row): Row => ({ ...a, rps: (a.rps + b.rps) / 2, p50: (a.p50 + b.p50) / 2, p99: (a.p99 + b.p99) / 2, errors: a.errors + b.errors });
  const [off1, on1, on2, off2] = [await run(0, single), await run(100, single), await run(100, single), await run(0, single)];
  const [offSingle, onSingle] = [mean(off1!, off2!), mean(on1!, on2!)];
  const [offHundred, onHundred] = [await run(0, hundred), await run(100, hundred)];
  const pacedOptions = { overallRate: 500, connections: 8 };
  const [offPaced, onPaced] = [await run(0, single, pacedOptions), await run(100, single, pacedOptions)];
  const state = (await (
    await fetch(`${scoreUrl.replace(/\/endpoints\/.*$/, '')}/admin/endpoints/bench/capture`, { headers: { authorization: `Bearer ${adminToken(servingDir)}` } })
  ).json()) as { written: number; dropped: number; queued: number };

  const verdict = (ok: boolean) => (ok ? 'meets the goal' : 'MISSES the goal');
  console.log(`\ncapture cost, A/B on one server (${DURATION_S} s per run, 8 connections; 1 record: mean of off, on, on, off)`);
  console.log('run                          capture off req/s   capture on req/s   on/off   p99 off ms   p99 on ms   errors');
  for (const [label, off, on] of [
    ['1 record', offSingle, onSingle],
    ['100 records', offHundred, onHundred],
    ['1 record at 500 req/s', offPaced, onPaced],
  ] as const) {
    console.log(
      `${label.padEnd(28)} ${off.rps.toFixed(0).padStart(19)} ${on.rps.toFixed(0).padStart(18)} ${(on.rps / off.rps).toFixed(3).padStart(8)}` +
        ` ${off.p99.toFixed(2).padStart(12)} ${on.p99.toFixed(2).padStart(11)} ${String(off.errors + on.errors).padStart(8)}`,
    );
  }
  const ratio = onSingle.rps / offSingle.rps;
  console.log(`throughput with capture at 100 %, 1 record: ${ratio.toFixed(3)}× off (goal ≥ 0.95×): ${verdict(ratio >= 0.95)}`);
  console.log(
    `throughput with capture at 100 %, 100 records: ${(onHundred.rps / offHundred.rps).toFixed(3)}× off (goal ≥ 0.95×): ${verdict(onHundred.rps / offHundred.rps >= 0.95)}`,
  );
  console.log(
    `p99 at a fixed 500 req/s: ${onPaced.p99.toFixed(2)} ms on vs ${offPaced.p99.toFixed(2)} ms off, +${(onPaced.p99 - offPaced.p99).toFixed(2)} ms (goal ≤ off + 1 ms): ${verdict(onPaced.p99 <= offPaced.p99 + 1)}`,
  );
  console.log(`capture lines written ${state.written}, dropped ${state.dropped}, still queued ${state.queued}`);
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const child of children) child.kill('SIGTERM');
  });
