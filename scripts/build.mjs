// Builds dist/ so that `import { openLog } from 'edgelog'` works in plain Node after `npm install`:
// each TypeScript source becomes one ES module (no bundling), with `.ts` imports rewritten to `.js`.
// Type declarations: the sources themselves ship beside dist and are referenced by `types`.
import { build } from 'esbuild'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const roots = ['core', 'adapters', 'worker', 'cli']
const entryPoints = []
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path)
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts') && !name.endsWith('.test.ts')) entryPoints.push(path)
  }
}
for (const root of roots) { try { walk(root) } catch { /* folder not there yet */ } }

const rewriteTsImports = {
  name: 'rewrite-ts-imports',
  setup(b) {
    b.onResolve({ filter: /^\.{1,2}\/.*\.ts$/ }, (args) => (args.kind === 'entry-point' ? undefined : { path: args.path.replace(/\.ts$/, '.js'), external: true }))
  },
}
await build({
  entryPoints, outdir: 'dist', outbase: '.', format: 'esm', platform: 'neutral', target: 'es2022',
  bundle: true, packages: 'external', plugins: [rewriteTsImports], logLevel: 'warning',
  external: ['cloudflare:*', 'node:*'],
})
