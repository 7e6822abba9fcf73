// Endpoint benchmark (not a test: it prints numbers). Run: npm run bench:endpoint
// Throughput and latency of the local endpoint for 1-record and 100-record requests, against two references on
// the same 100-tree forest and records: the original's way (scikit-learn predict_proba behind a simple Python
// HTTP server) and the floor (bare node:http + onnxruntime-node, no auth/validation/routing). Then p99 at a fixed
// 500 requests/s, the cost of capture (A/B in the same server: capture at 0 % vs 100 %, goals from issue 17:
// throughput ≥ 0.95× off, p99 at 500 req/s ≤ off + 1 ms), and the endpoint server's memory with two deployments
// loaded. Loopback only, bounded runs. BENCH_ONLY=capture runs only the capture A/B (no Python, no floor).
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { freePort } from '../src/client/embedded-stack';
import { projectRoot } from '../src/config/environment';
import { adminToken } from '../src/serving/admin-token';
import { LocalTarget } from '../src/targets/local';
import { percentile } from '../src/shared/percentile';
import { cpuSeconds, median, timedPost } from './measure';
import { benchForest } from './forest';
import { benchDir, PIN_SERVERS, startChild, startEndpointServer, stopChildren } from './servers';
import type { ModelToDeploy } from '../src/targets/target';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 8);
const CAPTURE_ONLY = process.env.BENCH_ONLY === 'capture';

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
  const dir = benchDir('modelship-bench-endpoint-');
  const [pyPort, floorPort, endpointPort] = [await freePort(), await freePort(), await freePort()];
  console.log('training a 100-tree forest and starting the three servers…');
  const { modelPath, contractPath, records } = await benchForest(dir, pyPort);
  await startChild(process.execPath, ['--import', 'tsx', join(projectRoot, 'bench/floor-server.ts'), modelPath, contractPath, String(floorPort)]);
  const server = await startEndpointServer(endpointPort, join(dir, 'serving'));
  const target = new LocalTarget(`http://127.0.0.1:${endpointPort}`, join(dir, 'serving'));
  await target.ensureEndpoint('bench');
  const model = { name: 'bench', version: '1', modelPath, contractPath, sha256: 'bench' };
  // Off while the reference runs are measured, so they compare serving alone; the A/B below turns it on.
  await target.setCapture('bench', 0);
  await target.createDeployment('bench', 'blue', model);
  await target.setTraffic('bench', { blue: 100 });
  const key = await target.endpointKey('bench');
  const single = JSON.stringify(records[0]);
  const hundred = JSON.stringify(records);
  const auth = { authorization: `Bearer ${key}` };

  const scoreUrl = `http://127.0.0.1:${endpointPort}/endpoints/bench/score`;
  if (!CAPTURE_ONLY) await referenceRuns(pyPort, floorPort, scoreUrl, single, hundred, auth, server.pid!, target, model);
  await captureAB(target, scoreUrl, single, hundred, auth, join(dir, 'serving'), server.pid!);
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
 * Latencies (ms, fractional) of requests sent at a fixed rate whatever the answers do (an open loop: a slow answer
 * does not delay the next request), each timed from its send to the end of its answer with performance.now.
 */
async function pacedLatencies(url: string, body: string, headers: Record<string, string>, rate: number, seconds: number): Promise<{ latencies: number[]; errors: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const latencies: number[] = [];
  let errors = 0;
  const send = async () => {
    const { ms, ok } = await timedPost(agent, url, body, headers);
    if (ok) latencies.push(ms);
    else errors++;
  };
  const answers: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < rate * seconds; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    answers.push(send());
  }
  await Promise.all(answers);
  agent.destroy();
  return { latencies, errors };
}

/**
 * Capture off (0 %) vs on (100 %) on the same server and model. The machine may be shared, so the arms alternate
 * (off, on, on, off, …: a drift in the machine's load falls on both) and the server's own CPU time per request is
 * reported beside the throughput: it does not move when other processes take the core. p99 at a fixed 500 req/s
 * is measured by this process (autocannon's latencies are whole milliseconds), from alternating rounds.
 */
async function captureAB(target: LocalTarget, scoreUrl: string, single: string, hundred: string, auth: Record<string, string>, servingDir: string, serverPid: number) {
  interface Arm {
    rps: number[];
    cpuMsPerRequest: number[];
    p99: number[];
    errors: number;
  }
  const arms = () => ({ off: { rps: [], cpuMsPerRequest: [], p99: [], errors: 0 } as Arm, on: { rps: [], cpuMsPerRequest: [], p99: [], errors: 0 } as Arm });
  const setArm = (on: boolean) => target.setCapture('bench', on ? 100 : 0);
  const throughput = async (body: string) => {
    const ab = arms();
    for (const on of [false, true, true, false]) {
      await setArm(on);
      const cpuBefore = cpuSeconds(serverPid);
      const result = await autocannon({ url: scoreUrl, method: 'POST', body, headers: { 'content-type': 'application/json', ...auth }, connections: 8, duration: DURATION_S });
      const arm = on ? ab.on : ab.off;
      arm.rps.push(result.requests.average);
      arm.cpuMsPerRequest.push(((cpuSeconds(serverPid) - cpuBefore) * 1000) / result.requests.total);
      arm.p99.push(result.latency.p99);
      arm.errors += result.errors + result.non2xx;
    }
    return ab;
  };
  const singleAB = await throughput(single);
  const hundredAB = await throughput(hundred);
  const pacedAB = arms();
  const pacedSeconds = Math.max(2, Math.round(DURATION_S / 2));
  for (const on of [false, true, true, false, false, true]) {
    await setArm(on);
    const { latencies, errors } = await pacedLatencies(scoreUrl, single, auth, 500, pacedSeconds);
    const arm = on ? pacedAB.on : pacedAB.off;
    // No answer at all (every request failed) has no p99: NaN says so in the table.
    arm.p99.push(
      latencies.length
        ? percentile(
            latencies.sort((a, b) => a - b),
            0.99,
          )
        : Number.NaN,
    );
    arm.errors += errors;
  }
  await target.setCapture('bench', 100);
  const state = (await (
    await fetch(`${scoreUrl.replace(/\/endpoints\/.*$/, '')}/admin/endpoints/bench/capture`, { headers: { authorization: `Bearer ${adminToken(servingDir)}` } })
  ).json()) as { written: number; dropped: number; queued: number };

  const verdict = (ok: boolean) => (ok ? 'meets the goal' : 'MISSES the goal');
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  console.log(`\ncapture cost, A/B on one server (${DURATION_S} s per run, 8 connections; runs off, on, on, off; means)`);
  console.log('run            off req/s   on req/s   on/off   off CPU ms/req   on CPU ms/req   CPU on/off   errors');
  const ratios: Record<string, { rps: number; cpu: number }> = {};
  for (const [label, ab] of [
    ['1 record', singleAB],
    ['100 records', hundredAB],
  ] as const) {
    const [offRps, onRps, offCpu, onCpu] = [mean(ab.off.rps), mean(ab.on.rps), mean(ab.off.cpuMsPerRequest), mean(ab.on.cpuMsPerRequest)];
    ratios[label] = { rps: onRps / offRps, cpu: onCpu / offCpu };
    console.log(
      `${label.padEnd(12)} ${offRps.toFixed(0).padStart(11)} ${onRps.toFixed(0).padStart(10)} ${(onRps / offRps).toFixed(3).padStart(8)}` +
        ` ${offCpu.toFixed(4).padStart(16)} ${onCpu.toFixed(4).padStart(15)} ${(onCpu / offCpu).toFixed(3).padStart(12)} ${String(ab.off.errors + ab.on.errors).padStart(8)}`,
    );
  }
  for (const label of ['1 record', '100 records']) {
    const { rps, cpu } = ratios[label]!;
    console.log(
      `throughput with capture at 100 %, ${label}: ${rps.toFixed(3)}× off (goal ≥ 0.95×): ${verdict(rps >= 0.95)}; ` +
        `on a core of its own (1 / CPU per request): ${(1 / cpu).toFixed(3)}× off: ${verdict(1 / cpu >= 0.95)}`,
    );
  }
  const [offP99, onP99] = [median(pacedAB.off.p99), median(pacedAB.on.p99)];
  const rounds = (values: number[]) => values.map((v) => v.toFixed(2)).join(', ');
  console.log(
    `p99 at a fixed 500 req/s, 1 record (${pacedAB.off.p99.length} rounds of ${pacedSeconds} s per arm, alternating; measured here, not by autocannon):` +
      ` off ${rounds(pacedAB.off.p99)} ms, on ${rounds(pacedAB.on.p99)} ms; medians ${onP99.toFixed(2)} on vs ${offP99.toFixed(2)} off,` +
      ` ${onP99 - offP99 >= 0 ? '+' : ''}${(onP99 - offP99).toFixed(2)} ms (goal ≤ off + 1 ms): ${verdict(onP99 <= offP99 + 1)}; errors ${pacedAB.off.errors + pacedAB.on.errors}`,
  );
  console.log(`capture lines written ${state.written}, dropped ${state.dropped}, still queued ${state.queued}`);
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => stopChildren());
