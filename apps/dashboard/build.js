// Builds the dashboard into dist/dashboard: TypeScript (browser ES modules, no bundler) plus the static files.
const { execFileSync } = require('node:child_process');
const { cpSync, mkdirSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..', '..');
const out = join(root, 'dist', 'dashboard');
mkdirSync(out, { recursive: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(__dirname, 'tsconfig.json')], { stdio: 'inherit' });
cpSync(join(__dirname, 'public'), out, { recursive: true });
