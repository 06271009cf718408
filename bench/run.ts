/**
 * `npm run bench`: the in-process core benchmark, then the others whose tools are here
 * (Chromium for the browser and sync benchmarks, wrangler for the HTTP, Durable Object and
 * sync ones). Each prints its own tables.
 *   npm run bench                 all that can run
 *   npm run bench -- core         one of: core, strings, memory, group, rebalance, schemas, browser, do, http, sync,
 *                                 codecs, durable-streams, scale, tiered, simulate, txn, replication
 * The in-process suites run as plain JavaScript under node (bench/node.mjs), not under tsx,
 * whose loader transforms the JavaScript it loads and made the consumer up to 4x slower.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const suites: Record<string, { file: string; needs?: string; nodeFlags?: string[]; plainNode?: boolean }> = {
  core: { file: 'bench/core.ts', nodeFlags: ['--expose-gc'], plainNode: true },
  strings: { file: 'bench/strings.ts', plainNode: true },
  memory: { file: 'bench/memory.ts', nodeFlags: ['--expose-gc'], plainNode: true },
  group: { file: 'bench/consumer-group.ts', plainNode: true },
  rebalance: { file: 'bench/rebalance.ts', plainNode: true },
  schemas: { file: 'bench/schemas.ts', plainNode: true },
  browser: { file: 'bench/browser.ts', needs: '/usr/bin/chromium' },
  do: { file: 'bench/do.ts' },
  http: { file: 'bench/http.ts' },
  sync: { file: 'bench/sync.ts', needs: '/usr/bin/chromium' },
  codecs: { file: 'bench/codecs.ts' },
  'durable-streams': { file: 'bench/durable-streams.ts' },
  scale: { file: 'bench/scale.ts' },
  tiered: { file: 'bench/tiered.ts' },
  simulate: { file: 'bench/simulate.ts' },
  txn: { file: 'bench/transactions.ts', plainNode: true },
  replication: { file: 'bench/replication.ts', plainNode: true },
}
const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'))
const flags = process.argv.slice(2).filter((a) => a.startsWith('-'))
// Measure the package as users run it: build dist/ from the current sources first.
spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' })
let failed = false
for (const [name, suite] of Object.entries(suites)) {
  if (asked.length > 0 && !asked.includes(name)) continue
  if (!existsSync(suite.file)) continue
  if (suite.needs && !existsSync(suite.needs)) {
    console.log(`\n(skipping ${name}: ${suite.needs} is not installed)`)
    continue
  }
  const [command, args] = suite.plainNode
    ? [process.execPath, [...(suite.nodeFlags ?? []), 'bench/node.mjs', suite.file, ...flags]]
    : ['npx', ['tsx', ...(suite.nodeFlags ?? []), suite.file, ...flags]]
  console.log(`\n=== ${name}: ${suite.plainNode ? 'node' : 'npx'} ${args.join(' ')}`)
  const result = spawnSync(command, args, { stdio: 'inherit' })
  if (result.status !== 0) failed = true
}
process.exit(failed ? 1 : 0)
