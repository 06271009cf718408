/**
 * The benchmarks measure what users run: the built package in dist/ (made by `npm install`,
 * or `npm run build`), loaded as plain JavaScript. Sources transformed on the fly by tsx run
 * measurably slower (up to 3x on the consumer's hot path), which would misreport edgelog; so
 * does running the suite itself under tsx, even on dist/ (up to 4x): the in-process suites run
 * under plain node through bench/node.mjs. EDGELOG_DIST=<folder> loads a private build instead
 * (node bench/build-private.mjs <folder>).
 */
import { existsSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
// EDGELOG_DIST: a private build (bench/build-private.mjs) instead of the shared dist/.
const dist = process.env.EDGELOG_DIST ? `${process.env.EDGELOG_DIST.replace(/\/$/, '')}/` : `${root}dist/`
if (!existsSync(`${dist}core/index.js`)) execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' })

const load = (path: string) => import(`${dist}${path}`)
export const core = (await load('core/index.js')) as typeof import('../core/index.ts')
export const memory = (await load('adapters/memory/index.js')) as typeof import('../adapters/memory/index.ts')
/** Loaded on demand: a dist/ built before core/replication/ existed still serves the other suites. */
export const loadReplication = () => load('core/replication/index.js') as Promise<typeof import('../core/replication/index.ts')>
export const schemas = (await load('core/schemas/index.js')) as typeof import('../core/schemas/index.ts')
