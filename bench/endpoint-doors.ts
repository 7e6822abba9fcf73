// The endpoint's doors side by side (not a test: it prints numbers). Run: npm run bench:endpoint:doors
// Throughput and latency of each request format on the same server, model and rows, for 1 and 100 records:
// modelship's records (the reference), MLflow's dataframe_split / dataframe_records / instances / inputs, Azure ML's
// input_data, and the Open Inference Protocol's infer with JSON and with binary tensors (tritonclient's default).
// Goal (issue 21): every door ≥ 0.90× the records door. Every door's arm runs between two records arms and is
// compared with them, over several rounds in one run, so a slow spell of the machine falls on both sides of a
// comparison; capture is on (100 %), as an endpoint runs by default. BENCH_SIDE_BY_SIDE=1 measures server CPU per
// request the other way: every door on a server of its own, all loaded at the same time (sideBySide).
import { Agent } from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { freePort } from '../src/client/embedded-stack';
import type { InputContract, RawRecord } from '../src/model/input-contract';
import { dataframeSplitOf } from '../src/serving/protocols/dataframe';
import { BINARY_HEADER } from '../src/serving/protocols/open-inference';
import { LocalTarget } from '../src/targets/local';
import { percentile } from '../src/shared/percentile';
import { cpuSeconds, median, threadSeconds, timedPost } from './measure';
import { benchForest } from './forest';
import { benchDir, PIN_SERVERS, startEndpointServer, stopChildren } from './servers';

// Arms are short and many: the machine's speed drifts by up to 2× over seconds (a shared host), and a door's arm is
// only compared with the records arms right before and after it.
const ARM_S = Number(process.env.BENCH_ARM_S ?? 0.4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12);
const SIZES = (process.env.BENCH_SIZES ?? '1,100').split(',').map(Number);
// BENCH_DOORS: only the doors whose names contain one of these (comma-separated); the reference always runs.
const ONLY = (process.env.BENCH_DOORS ?? '').split(',').filter(Boolean);
// BENCH_VERBOSE=1: every arm's numbers as it ends.
const VERBOSE = process.env.BENCH_VERBOSE === '1';
const CONNECTIONS = 8;
const CAPTURE_PERCENT = Number(process.env.BENCH_CAPTURE ?? 100);
// BENCH_SIDE_BY_SIDE=1: the second design (see sideBySide), one server per door, all loaded at once.
const SIDE_BY_SIDE = process.env.BENCH_SIDE_BY_SIDE === '1';
const SIDE_BY_SIDE_S = Number(process.env.BENCH_ARM_S ?? 8);
// Servers on core 0, this load generator on core 1 (npm run bench:endpoint:doors runs it under taskset -c 1).

interface Door {
  name: string;
  path: string;
  body: string | Buffer;
  headers?: Record<string, string>;
}

/** An Open Inference request: one input per column, numbers FP64 and the rest BYTES, as JSON data, or binary as tritonclient sends it. */
function inferBody(records: RawRecord[], contract: InputContract, binary: boolean): { body: string | Buffer; headers?: Record<string, string> } {
  const tensors = contract.features.map((feature) => {
    const numeric = feature.kind === 'numeric';
    const values = records.map((record) => record[feature.column]);
    return {
      name: feature.column,
      shape: [records.length],
      datatype: numeric ? 'FP64' : 'BYTES',
      values: numeric ? values.map((v) => Number(v)) : values.map((v) => String(v ?? '')),
    };
  });
  if (!binary) return { body: JSON.stringify({ inputs: tensors.map(({ values, ...tensor }) => ({ ...tensor, data: values })) }) };
  const chunks = tensors.map(({ datatype, values }) => {
    if (datatype === 'FP64') return Buffer.from(new Float64Array(values as number[]).buffer);
    return Buffer.concat(
      (values as string[]).flatMap((text) => {
        const bytes = Buffer.from(text, 'utf8');
        const length = Buffer.alloc(4);
        length.writeUInt32LE(bytes.length);
        return [length, bytes];
      }),
    );
  });
  // As tritonclient sends by default: binary inputs, and binary outputs asked for (binary_data_output).
  const header = Buffer.from(
    JSON.stringify({
      inputs: tensors.map(({ values: _values, ...tensor }, i) => ({ ...tensor, parameters: { binary_data_size: chunks[i]!.length } })),
      parameters: { binary_data_output: true },
    }),
  );
  return { body: Buffer.concat([header, ...chunks]), headers: { [BINARY_HEADER]: String(header.length), 'content-type': 'application/octet-stream' } };
}

function doorsFor(records: RawRecord[], contract: InputContract): Door[] {
  const columns = contract.features.map((feature) => feature.column);
  return [
    { name: 'records (reference)', path: 'score', body: JSON.stringify(records.length === 1 ? records[0] : records) },
    { name: 'records (control)', path: 'score', body: JSON.stringify(records.length === 1 ? records[0] : records) },
    { name: 'mlflow dataframe_split', path: 'score', body: JSON.stringify(dataframeSplitOf(records, contract)) },
    { name: 'mlflow dataframe_records', path: 'score', body: JSON.stringify({ dataframe_records: records }) },
    { name: 'mlflow instances', path: 'score', body: JSON.stringify({ instances: records }) },
    { name: 'mlflow inputs (columns)', path: 'score', body: JSON.stringify({ inputs: Object.fromEntries(columns.map((c) => [c, records.map((r) => r[c] ?? null)])) }) },
    { name: 'azureml input_data', path: 'score', body: JSON.stringify(dataframeSplitOf(records, contract, 'input_data')) },
    { name: 'oip infer (JSON)', path: 'v2/models/bench/infer', ...inferBody(records, contract, false) },
    { name: 'oip infer (binary)', path: 'v2/models/bench/infer', ...inferBody(records, contract, true) },
  ];
}

/** One arm: a door for DURATION_S seconds. */
interface Arm {
  rps: number;
  /** The endpoint server's CPU time (user + system) per request, in seconds. */
  cpuPerRequest: number;
  p50: number;
  p99: number;
  errors: number;
}

const keepAlive = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });

/**
 * `amount` requests over CONNECTIONS kept-alive connections, timed to the microsecond (autocannon ends a run on its
 * 1 s sampling tick, too coarse for short arms).
 */
async function burst(options: { url: string; body: string | Buffer; headers: Record<string, string> }, amount: number) {
  const latencies: number[] = [];
  let errors = 0;
  let sent = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (sent < amount) {
        sent++;
        const { ms, ok } = await timedPost(keepAlive, options.url, options.body, options.headers);
        latencies.push(ms);
        if (!ok) errors++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { seconds, errors, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
}

/** A running endpoint server with the bench model deployed (capture at CAPTURE_PERCENT), and how to post to it. */
interface BenchServer {
  pid: number;
  request(door: Door): { url: string; method: 'POST'; body: string | Buffer; headers: Record<string, string>; connections: number };
}

async function startBenchServer(stateDir: string, model: { modelPath: string; contractPath: string }, nodeOptions: string[] = []): Promise<BenchServer> {
  const port = await freePort();
  const server = await startEndpointServer(port, stateDir, nodeOptions);
  const target = new LocalTarget(`http://127.0.0.1:${port}`, stateDir);
  await target.ensureEndpoint('bench');
  await target.createDeployment('bench', 'blue', { name: 'bench', version: '1', ...model, sha256: 'bench' });
  await target.setTraffic('bench', { blue: 100 });
  // BENCH_CAPTURE: the share of records captured (default 100, as an endpoint runs by default).
  await target.setCapture('bench', CAPTURE_PERCENT);
  const auth = { authorization: `Bearer ${await target.endpointKey('bench')}` };
  return {
    pid: server.pid!,
    request: (door) => ({
      url: `http://127.0.0.1:${port}/endpoints/bench/${door.path}`,
      method: 'POST',
      body: door.body,
      headers: { 'content-type': 'application/json', ...auth, ...door.headers },
      connections: CONNECTIONS,
    }),
  };
}

/**
 * The second design: every door on a server of its own, all servers on core 0 at once, each under its own
 * autocannon load for SIDE_BY_SIDE_S seconds (BENCH_ARM_S, default 8), BENCH_ROUNDS times (default 3). A slow
 * spell of the machine falls on every door in the same instant, so each round's ratio of server CPU per request
 * (every thread's schedstat; the main thread's apart) compares like with like. Throughput is not compared: the
 * servers share the core by the scheduler's choice.
 */
async function sideBySide(dir: string, model: { modelPath: string; contractPath: string }, records: RawRecord[], contract: InputContract): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  for (const size of SIZES) {
    const doors = doorsFor(records.slice(0, size), contract).filter((door, i) => i === 0 || ONLY.length === 0 || ONLY.some((name) => door.name.includes(name)));
    const servers = await Promise.all(doors.map((door, i) => startBenchServer(join(dir, `serving-${size}-${i}`), model)));
    await Promise.all(doors.map((door, i) => autocannon({ ...servers[i]!.request(door), amount: 2_000 })));
    console.log(
      `\n${size} record${size === 1 ? '' : 's'} per request, ${doors.length} servers side by side, ${rounds} rounds of ${SIDE_BY_SIDE_S} s, capture ${CAPTURE_PERCENT} %`,
    );
    const perRequest = doors.map(() => ({ all: [] as number[], main: [] as number[], ratio: [] as number[] }));
    for (let round = 0; round < rounds; round++) {
      const before = servers.map((server) => [cpuSeconds(server.pid), threadSeconds(server.pid, server.pid)]);
      const results = await Promise.all(doors.map((door, i) => autocannon({ ...servers[i]!.request(door), duration: SIDE_BY_SIDE_S })));
      servers.forEach((server, i) => {
        const requests = results[i]!.requests.total;
        perRequest[i]!.all.push((cpuSeconds(server.pid) - before[i]![0]!) / requests);
        perRequest[i]!.main.push((threadSeconds(server.pid, server.pid) - before[i]![1]!) / requests);
      });
      perRequest.forEach((door) => door.ratio.push(perRequest[0]!.all[round]! / door.all[round]!));
    }
    console.log(`${''.padEnd(28)} server µs/req   main thread   ×records by CPU (median, min–max over rounds)`);
    doors.forEach((door, i) => {
      const { all, main, ratio } = perRequest[i]!;
      console.log(
        `${door.name.padEnd(28)} ${(median(all) * 1e6).toFixed(0).padStart(14)} ${(median(main) * 1e6).toFixed(0).padStart(13)}   ${median(ratio).toFixed(2)}× (${Math.min(...ratio).toFixed(2)}–${Math.max(...ratio).toFixed(2)})`,
      );
    });
  }
}

async function main() {
  if (process.env.BENCH_ONLY === 'capture') return console.log('BENCH_ONLY=capture: the doors are not measured');
  const dir = benchDir('modelship-bench-doors-');
  console.log('training the 100-tree forest of bench:endpoint and starting the endpoint server…');
  const { modelPath, contractPath, contract, records, python } = await benchForest(dir, await freePort());
  python.kill('SIGTERM'); // only its ONNX export is needed here

  if (SIDE_BY_SIDE) return sideBySide(dir, { modelPath, contractPath }, records, contract);
  // BENCH_PROFILE_DIR: the server writes a V8 CPU profile there when it stops (to see where a door's time goes).
  const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE_DIR] : [];
  const server = await startBenchServer(join(dir, 'serving'), { modelPath, contractPath }, profile);
  const request = server.request;
  console.log(
    `\n${ROUNDS} rounds of arms of about ${ARM_S} s, each door's between two records arms, capture ${CAPTURE_PERCENT} %, ${CONNECTIONS} connections, loopback, ${cpus().length} cores${PIN_SERVERS ? ' (server on core 0, load on core 1)' : ''}`,
  );
  // Warm-up: every door's code is compiled and optimised before any arm is measured.
  for (const door of doorsFor(records, contract)) await autocannon({ ...request(door), amount: 2_000 });
  for (const size of SIZES) {
    const doors = doorsFor(records.slice(0, size), contract).filter((door, i) => i === 0 || ONLY.length === 0 || ONLY.some((name) => door.name.includes(name)));
    const [reference, ...others] = doors;
    const arms = new Map<string, Arm[]>(doors.map((door) => [door.name, []]));
    // Each door's arm beside the records arms just before and after it: its ratio is taken against their mean.
    const ratios = new Map<string, { rps: number[]; cpu: number[] }>(others.map((door) => [door.name, { rps: [], cpu: [] }]));
    // Every arm sends the number of requests the records door answers in ARM_S seconds.
    const calibration = await autocannon({ ...request(reference!), duration: 1 });
    const amount = Math.max(20, Math.round((calibration.requests.total / calibration.duration) * ARM_S));
    const measure = async (door: Door): Promise<Arm> => {
      const cpuBefore = cpuSeconds(server.pid);
      const result = await burst(request(door), amount);
      const arm = {
        rps: amount / result.seconds,
        cpuPerRequest: (cpuSeconds(server.pid) - cpuBefore) / amount,
        p50: result.p50,
        p99: result.p99,
        errors: result.errors,
      };
      arms.get(door.name)!.push(arm);
      if (VERBOSE) console.log(`  ${door.name.padEnd(28)} ${arm.rps.toFixed(0).padStart(7)} req/s ${(arm.cpuPerRequest * 1e6).toFixed(0).padStart(6)} µs/req`);
      return arm;
    };
    for (let round = 0; round < ROUNDS; round++) {
      // Each round in another order: no door always runs right after the same one.
      const order = round % 2 === 0 ? others : [...others].reverse();
      let before = await measure(reference!);
      for (const door of order) {
        const arm = await measure(door);
        const after = await measure(reference!);
        const pair = ratios.get(door.name)!;
        pair.rps.push(arm.rps / ((before.rps + after.rps) / 2));
        pair.cpu.push((before.cpuPerRequest + after.cpuPerRequest) / 2 / arm.cpuPerRequest);
        before = after;
      }
    }
    // A slow spell of the machine falls on a door and on the records arms around it alike; the median over rounds
    // of those ratios is printed. Server CPU per request depends less on what else the machine runs than req/s
    // does; its ratio is the throughput ratio of a server with a core to itself. The records door's second arm (the
    // control) shows how far two identical arms differ in this run.
    console.log(`\n${size} record${size === 1 ? '' : 's'} per request       req/s   ×records   p50 ms   p99 ms   errors   body bytes   server µs/req   ×records by CPU`);
    for (const door of doors) {
      const measured = arms.get(door.name)!;
      const pair = ratios.get(door.name);
      const rps = median(measured.map((arm) => arm.rps));
      const cpu = median(measured.map((arm) => arm.cpuPerRequest));
      const errors = measured.reduce((sum, arm) => sum + arm.errors, 0);
      console.log(
        `${door.name.padEnd(28)} ${rps.toFixed(0).padStart(7)} ${(pair ? median(pair.rps) : 1).toFixed(2).padStart(9)}× ${median(measured.map((arm) => arm.p50))
          .toFixed(2)
          .padStart(8)} ${median(measured.map((arm) => arm.p99))
          .toFixed(2)
          .padStart(
            8,
          )} ${String(errors).padStart(8)} ${String(Buffer.byteLength(door.body)).padStart(12)} ${(cpu * 1e6).toFixed(0).padStart(15)} ${(pair ? median(pair.cpu) : 1).toFixed(2).padStart(16)}×`,
      );
    }
  }
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => stopChildren());
