/**
 * The Durable Streams protocol's own conformance suite (@durable-streams/server-conformance-tests)
 * against the Worker's /ds/ face, served by `wrangler dev` as `npm start` serves it.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { runConformanceTests } from '@durable-streams/server-conformance-tests'
import { startWranglerDev, type WranglerDev } from './wrangler-dev.ts'

const config = { baseUrl: '', longPollTimeoutMs: 5_000 }
let dev: WranglerDev | undefined
let dir: string | undefined

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgelog-ds-'))
  dev = await startWranglerDev(dir, { vars: { EDGELOG_DS_LONG_POLL_MS: '1500', EDGELOG_DS_SSE_MS: '20000' } })
  config.baseUrl = `${dev.url}/ds`
}, 60_000)

afterAll(async () => {
  await dev?.kill()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

runConformanceTests(config)
