// Endpoint benchmark (not a test: it prints numbers). Run: npm run bench:endpoint
// Throughput and latency of the local endpoint for 1-record and 100-record requests, against two references on
// the same 100-tree forest and records: the original's way (scikit-learn predict_proba behind a simple Python
// HTTP server) and the floor (bare node:http + onnxruntime-node, no auth/validation/routing). Then p99 at a fixed
// 500 requests/s, and the endpoint server's memory with two deployments loaded. Loopback only, bounded runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { freePort } from '../src/client/embedded-stack';
import { projectRoot, pythonChildEnv, venvExecutable } from '../src/config/environment';
import { generateBankingCsv } from '../src/data/generate';
import { LocalTarget } from '../src/targets/local';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 8);
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
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') || chunk.toString().includes('endpoint server on') ? resolve(child) : undefined);
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
  const server = await startChild(process.execPath, ['--import', 'tsx', join(projectRoot, 'src/client/cli.ts'), 'serve', '--port', String(endpointPort), '--state-dir', join(dir, 'serving')]);
  const target = new LocalTarget(`http://127.0.0.1:${endpointPort}`, join(dir, 'serving'));
  await target.ensureEndpoint('bench');
  const model = { name: 'bench', version: '1', modelPath, contractPath, sha256: 'bench' };
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

  const rows: Row[] = [];
  for (const [label, body] of [['1 record', single], ['100 records', hundred]] as const) {
    rows.push(await load(`python (scikit-learn)  ${label}`, `http://127.0.0.1:${pyPort}/`, body, {}));
    rows.push(await load(`node floor             ${label}`, `http://127.0.0.1:${floorPort}/`, body, {}));
    rows.push(await load(`modelship endpoint     ${label}`, `http://127.0.0.1:${endpointPort}/endpoints/bench/score`, body, auth));
  }
  console.log(`\n${DURATION_S} s per run, 8 connections, loopback, this machine (${cpus().length} cores${PIN_SERVERS ? '; servers pinned to core 0, load generator to core 1' : ''})`);
  console.log('server                               req/s     p50 ms   p99 ms   errors');
  for (const r of rows) console.log(`${r.name.padEnd(36)} ${r.rps.toFixed(0).padStart(7)} ${r.p50.toFixed(2).padStart(9)} ${r.p99.toFixed(2).padStart(8)} ${String(r.errors).padStart(8)}`);
  for (const [i, label] of [[0, '1 record'], [3, '100 records']] as const) {
    const [py, floor, ours] = [rows[i]!, rows[i + 1]!, rows[i + 2]!];
    console.log(`${label}: modelship/python ${(ours.rps / py.rps).toFixed(1)}×, modelship/floor ${(ours.rps / floor.rps).toFixed(2)}×`);
  }
  const paced = await load('modelship endpoint at 500 req/s', `http://127.0.0.1:${endpointPort}/endpoints/bench/score`, single, auth, { overallRate: 500, connections: 8 });
  const pacedFloor = await load('node floor at 500 req/s', `http://127.0.0.1:${floorPort}/`, single, {}, { overallRate: 500, connections: 8 });
  console.log(`at a fixed 500 req/s, 1 record: modelship p50 ${paced.p50.toFixed(2)} ms, p99 ${paced.p99.toFixed(2)} ms, ${paced.errors} errors` +
    ` (floor p50 ${pacedFloor.p50.toFixed(2)} ms, p99 ${pacedFloor.p99.toFixed(2)} ms)`);

  const oneDeployment = rssMiB(server.pid!);
  await target.createDeployment('bench', 'green', model);
  console.log(`endpoint server memory: ${oneDeployment.toFixed(0)} MiB with one deployment, ${rssMiB(server.pid!).toFixed(0)} MiB with two`);
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const child of children) child.kill('SIGTERM');
  });
