/**
 * The benchmarks measure what users run: the built package in dist/ (made by `npm install`,
 * or `npm run build`), loaded as plain JavaScript. Sources transformed on the fly by tsx run
 * measurably slower (up to 3x on the consumer's hot path), which would misreport edgelog.
 */
import { existsSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
if (!existsSync(`${root}dist/core/index.js`)) execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' })

const load = (path: string) => import(`${root}dist/${path}`)
export const core = (await load('core/index.js')) as typeof import('../core/index.ts')
export const memory = (await load('adapters/memory/index.js')) as typeof import('../adapters/memory/index.ts')
