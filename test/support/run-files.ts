// The test runner proper, started by run-tests.ts with the run's environment: runs the files in the order given,
// CONCURRENCY at a time, each in a process of its own. `node --test` sorts its files by name; run() keeps the
// order, so the slowest files start first. Prints the spec reporter's output and writes TAP to TAP_FILE.
//   node --import tsx test/support/run-files.ts CONCURRENCY TAP_FILE FILE...
import { createWriteStream } from 'node:fs';
import { PassThrough } from 'node:stream';
import { run } from 'node:test';
import { spec, tap } from 'node:test/reporters';

const [concurrency, tapFile, ...files] = process.argv.slice(2);
const events = run({ files, concurrency: Number(concurrency) });
events.on('test:fail', () => (process.exitCode = 1));
const forPeople = new PassThrough({ objectMode: true });
const forTap = new PassThrough({ objectMode: true });
events.pipe(forPeople);
events.pipe(forTap);
forPeople.compose(new spec()).pipe(process.stdout);
forTap.compose(tap).pipe(createWriteStream(tapFile!));
