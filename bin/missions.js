#!/usr/bin/env node
// The `missions` command: the sources through tsx where it is installed (this repository), the build otherwise
// (a global install builds with `npm run build` on `prepare`).
const { join } = require('node:path');

let tsx;
try {
  tsx = require.resolve('tsx/cjs');
} catch {
  tsx = undefined;
}
if (tsx) {
  require(tsx);
  require(join(__dirname, '..', 'cli', 'main.ts'));
} else {
  require(join(__dirname, '..', 'dist', 'cli', 'main.js'));
}
