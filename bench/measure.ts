// What the endpoint benchmarks measure with: one POST on a kept-alive agent, timed with performance.now; a
// process's CPU time; medians (percentiles: src/shared/percentile.ts).
import { readdirSync, readFileSync } from 'node:fs';
import { request, type Agent } from 'node:http';

/** Sends one POST and resolves when its answer has been read: its time in ms (fractional) and whether it was a 200. */
export function timedPost(agent: Agent, url: string, body: string | Buffer, headers: Record<string, string>): Promise<{ ms: number; ok: boolean }> {
  return new Promise((resolve) => {
    const sent = performance.now();
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ms: performance.now() - sent, ok: res.statusCode === 200 }));
    });
    req.on('error', () => resolve({ ms: performance.now() - sent, ok: false }));
    req.end(body);
  });
}

/** CPU time every thread of a process has used so far, in seconds, from /proc/<pid>/task/<tid>/schedstat (Linux, ns). */
export function cpuSeconds(pid: number): number {
  let seconds = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) seconds += threadSeconds(pid, Number(tid));
  return seconds;
}

/** CPU time one thread has used so far, in seconds (0 once it has ended); the main thread's id is the pid. */
export function threadSeconds(pid: number, tid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
  } catch {
    return 0; // the thread ended meanwhile
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  return Number.isInteger(middle) ? (sorted[middle - 1]! + sorted[middle]!) / 2 : sorted[Math.floor(middle)]!;
}
