// Builds core/ and adapters/ (JavaScript only: no declarations, no web demo) into a private
// folder, for benchmarking work in progress without rewriting the shared dist/:
//   node bench/build-private.mjs /tmp/edgelog-dist && EDGELOG_DIST=/tmp/edgelog-dist npx tsx bench/strings.ts
// The transform is the one scripts/build.mjs applies (one ES module per source, es2022).
import { build } from 'esbuild'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const outdir = process.argv[2]
if (!outdir) throw new Error('usage: node bench/build-private.mjs <outdir>')
const entryPoints = []
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path)
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts') && !name.endsWith('.test.ts')) entryPoints.push(path)
  }
}
for (const root of ['core', 'adapters']) walk(root)
await build({
  entryPoints, outdir, outbase: '.', format: 'esm', platform: 'neutral', target: 'es2022',
  bundle: true, packages: 'external', logLevel: 'warning', external: ['cloudflare:*', 'node:*'],
  plugins: [{
    name: 'rewrite-ts-imports',
    setup(b) {
      b.onResolve({ filter: /^\.{1,2}\/.*\.ts$/ }, (args) => (args.kind === 'entry-point' ? undefined : { path: args.path.replace(/\.ts$/, '.js'), external: true }))
    },
  }],
})
