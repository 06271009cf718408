/**
 * A deployment without the R2 binding (wrangler.jsonc minus `r2_buckets`, under `wrangler dev`):
 * the log works as before, and a topic asking for tiered storage is refused with Kafka's
 * INVALID_CONFIG at config time, nothing stored, whether on create or on alter.
 */
import { readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT, startWranglerDev, type WranglerDev } from './wrangler-dev.ts'

// Beside wrangler.jsonc: its relative paths (main, assets) resolve from the config's folder.
const config = join(ROOT, `.wrangler-no-r2-${process.pid}.jsonc`)
const dir = mkdtempSync(join(tmpdir(), 'edgelog-no-r2-'))
let dev: WranglerDev

beforeAll(async () => {
  const lines = readFileSync(join(ROOT, 'wrangler.jsonc'), 'utf8').split('\n')
  const without = lines.filter((l) => !l.trim().startsWith('"r2_buckets"'))
  expect(without.length).toBe(lines.length - 1)
  writeFileSync(config, without.join('\n'))
  dev = await startWranglerDev(dir, { args: ['--config', config] })
}, 60_000)

afterAll(async () => {
  await dev?.kill()
  rmSync(config, { force: true })
  rmSync(dir, { recursive: true, force: true })
})

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; data: any }> {
  const res = await fetch(`${dev.url}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: res.status, data: await res.json() }
}

describe('wrangler dev without the REMOTE_STORAGE binding', () => {
  it('refuses remote.storage.enable with INVALID_CONFIG, and the log works as before', async () => {
    const refused = await call('POST', '/v1/topics', { name: 'tiered', partitions: 1, config: { 'remote.storage.enable': 'true' } })
    expect(refused.status).toBe(400)
    expect(refused.data.error.code).toBe('INVALID_CONFIG')
    expect(refused.data.error.message).toMatch(/Tiered Storage functionality is disabled/)
    expect((await call('GET', '/v1/topics/tiered')).status).toBe(404)

    expect((await call('POST', '/v1/topics', { name: 'plain', partitions: 1, config: { 'segment.bytes': '300' } })).status).toBe(201)
    for (let i = 0; i < 4; i++) expect((await call('POST', '/v1/topics/plain/partitions/0/records', { records: [{ value: `v${i}-${'x'.repeat(80)}` }] })).status).toBe(200)
    expect((await call('POST', '/v1/topics/plain/maintenance')).status).toBe(200)
    const read = await call('GET', '/v1/topics/plain/partitions/0/records?offset=0&maxBytes=1000000')
    expect(read.data.records.length).toBeGreaterThan(0)
    const tiers = await call('GET', '/v1/topics/plain/partitions/0/tiers')
    expect(tiers.data).toMatchObject({ remoteStorage: false, enabled: false, remote: { segments: [] } })

    const altered = await call('PATCH', '/v1/topics/plain', { config: { 'remote.storage.enable': 'true' } })
    expect(altered.status).toBe(400)
    expect(altered.data.error.code).toBe('INVALID_CONFIG')
    expect((await call('GET', '/v1/topics/plain')).data.config['remote.storage.enable']).toBe(false)
  }, 60_000)
})
