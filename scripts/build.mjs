// Bundles src/ into dist/ with esbuild. Why a bundle and not tsc output: wal-push and
// wal-fetch are started once per WAL segment, and loading a few chunks instead of hundreds
// of modules saves tens of milliseconds per call. Code splitting keeps the AWS SDK, yargs
// and pg in chunks that only the commands needing them load.
// The developer tools (demo, benchmark) are bundled too, with their dependencies left in
// node_modules, so `npm run demo` needs no TypeScript runner.
import { build } from 'esbuild';
import { cpSync, rmSync } from 'node:fs';

const banner = {
  // Bundled CommonJS dependencies call require(); give ESM chunks a real one.
  js: "import { createRequire as __pitrCreateRequire } from 'node:module'; const require = __pitrCreateRequire(import.meta.url);",
};

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: ['src/main.ts'],
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  chunkNames: 'chunks/[name]-[hash]',
  // Native addons (lz4-napi, koffi) cannot be bundled; pg-native is pg's optional binding we do not use.
  external: ['lz4-napi', 'koffi', 'pg-native'],
  banner,
  logLevel: 'warning',
});
// The agent's dashboard: static files, served from dist/dashboard/ (src/api/server.ts).
cpSync(new URL('../src/api/dashboard', import.meta.url), new URL('../dist/dashboard', import.meta.url), { recursive: true });
await build({
  entryPoints: ['tools/demo.ts', 'tools/bench.ts'],
  outdir: 'dist/tools',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
});
