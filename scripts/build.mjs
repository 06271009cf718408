// Builds dist/ (and the web demo, web-demo/dist) so that `import { openLog } from 'edgelog'` works in plain Node after `npm install`:
// each TypeScript source becomes one ES module (no bundling), with `.ts` imports rewritten to `.js`.
// Type declarations: tsc emits them next to the modules (two passes: the browser/Node side and
// the Workers side have different global types), with `.ts` imports rewritten to `.js`.
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
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

// The web demo (web-demo/, a Vite app): built to web-demo/dist, which wrangler.jsonc serves as the
// Worker's static assets, so that `npm start` on a fresh clone serves the real app.
try {
  const { build: viteBuild } = await import('vite')
  await viteBuild({ configFile: 'web-demo/vite.config.ts', logLevel: 'warn' })
} catch (error) {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && /'vite'/.test(String(error.message))) {
    console.warn('edgelog: vite is not installed; the web demo was not built (npm start serves no page)')
  } else {
    throw error
  }
}

const tsc = join(createRequire(import.meta.url).resolve('typescript/package.json'), '..', 'bin', 'tsc')
for (const project of ['tsconfig.build.json', 'tsconfig.build-worker.json']) {
  execFileSync(process.execPath, [tsc, '-p', project], { stdio: 'inherit' })
}
function rewriteDeclarations(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) rewriteDeclarations(path)
    else if (name.endsWith('.d.ts')) {
      const text = readFileSync(path, 'utf8')
      const rewritten = text.replace(/(from\s+['"]|import\(\s*['"])(\.{1,2}\/[^'"]*?)\.ts(['"])/g, '$1$2.js$3')
      if (rewritten !== text) writeFileSync(path, rewritten)
    }
  }
}
rewriteDeclarations('dist')

