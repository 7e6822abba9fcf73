#!/usr/bin/env node
// The `modelship` command. dist/ is built by `npm install` (prepare) and by `npm run build`.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const entry = join(__dirname, '..', 'dist', 'client', 'cli.js');
if (!existsSync(entry)) {
  console.error(`modelship is not built (${entry} is missing). Run 'npm install' or 'npm run build' in ${join(__dirname, '..')}.`);
  process.exit(1);
}
require(entry)
  .runCli(process.argv)
  .catch((error) => {
    console.error(`modelship: ${error && error.message ? error.message : String(error)}`);
    process.exit(1);
  });
