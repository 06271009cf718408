// Runs a benchmark as plain JavaScript under `node`, the way users run edgelog:
//   node [--expose-gc] bench/node.mjs bench/strings.ts [args…]
// Under tsx the same built dist/ ran the consumer's hot path 2–4x slower than under plain node
// (issue 18; tsx's loader also rewrites the JavaScript it loads outside node_modules, dist/
// included: minified, __name added to every class). This bundles the bench file with esbuild
// (its edgelog imports come from dist/ at run time, through bench/built.ts) into
// node_modules/.cache and imports it, with no loader hooks.
import { build } from 'esbuild'
import { mkdirSync } from 'node:fs'
import { basename } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const [file, ...rest] = process.argv.slice(2)
if (!file) throw new Error('usage: node bench/node.mjs bench/<suite>.ts [args…]')
const root = fileURLToPath(new URL('..', import.meta.url))
const outdir = `${root}node_modules/.cache/edgelog-bench/`
mkdirSync(outdir, { recursive: true })
const outfile = `${outdir}${basename(file).replace(/\.ts$/, '')}-${process.pid}.mjs`
await build({
  entryPoints: [file], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20',
  packages: 'external', logLevel: 'warning',
  // bench/built.ts finds the repository from its own URL: point it at the source file's.
  define: { 'import.meta.url': JSON.stringify(pathToFileURL(`${root}bench/built.ts`).href) },
})
process.argv = [process.argv[0], file, ...rest]
try {
  await import(pathToFileURL(outfile).href)
} finally {
  const { rmSync } = await import('node:fs')
  rmSync(outfile, { force: true })
}
