/**
 * Tiered storage under `wrangler dev` (local R2 and Durable Objects on disk), with a SIGKILL at
 * the worst point of a move: the segment file is in R2 and the SQLite transaction that adopts
 * it (index rows in, local rows out) has not run. The test-only fault switch
 * EDGELOG_TEST_FAULTS=tier-pause-after-put holds the move there; the test kills the whole
 * process group, restarts without the switch, and checks: every acknowledged record is read
 * once, at its offset, byte for byte as before; the half-done file is deleted by the next run
 * and never indexed; the segment then moves for real and reads the same; retention removes
 * moved files from R2.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { decodeBatch, splitBatches } from '../../core/codec/record-batch.ts'
import { startWranglerDev, type WranglerDev } from './wrangler-dev.ts'

const dir = mkdtempSync(join(tmpdir(), 'edgelog-tier-'))
let dev: WranglerDev | undefined

afterAll(async () => {
  await dev?.kill()
  rmSync(dir, { recursive: true, force: true })
})

async function call(url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; data: any }> {
  const res = await fetch(`${url}${path}`, {
    method, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers }, body: body === undefined ? undefined : JSON.stringify(body),
  })
  const type = res.headers.get('content-type') ?? ''
  return { status: res.status, headers: res.headers, data: type.includes('json') ? await res.json() : new Uint8Array(await res.arrayBuffer()) }
}

/** The whole partition, fetched segment by segment as stored bytes (`maxBytes` gives each phase cache keys of its own). */
async function readAll(url: string, topic: string, maxBytes: number): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = []
  for (let offset = 0; ;) {
    const r = await call(url, 'GET', `/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxBytes=${maxBytes}`, undefined, { accept: 'application/vnd.kafka.record-batch' })
    expect(r.status).toBe(200)
    const next = Number(r.headers.get('Edgelog-Next-Offset'))
    if (r.data.byteLength === 0 || next <= offset) return parts
    parts.push(r.data)
    offset = next
  }
}

async function records(parts: Uint8Array[]): Promise<Array<{ offset: number; value: string }>> {
  const out: Array<{ offset: number; value: string }> = []
  for (const part of parts) {
    for (const batch of splitBatches(part)) {
      for (const r of (await decodeBatch(batch)).records) out.push({ offset: r.offset, value: new TextDecoder().decode(r.value!) })
    }
  }
  return out
}

const tiers = async (url: string, topic: string) => (await call(url, 'GET', `/v1/topics/${topic}/partitions/0/tiers?objects=true`)).data

describe('wrangler dev: SIGKILL in the middle of moving a segment to R2', () => {
  it('loses nothing, serves nothing twice, and deletes the half-moved file on the next run', async () => {
    dev = await startWranglerDev(dir, { vars: { EDGELOG_TEST_FAULTS: 'tier-pause-after-put' } })
    const topic = 'tiered'
    const created = await call(dev.url, 'POST', '/v1/topics', { name: topic, partitions: 1, config: { 'segment.bytes': '300', 'remote.storage.enable': 'true', 'local.retention.bytes': '0' } })
    expect(created.status).toBe(201)
    const acked: string[] = []
    for (let i = 0; i < 8; i++) {
      const value = `value-${i}-${'x'.repeat(60)}`
      const r = await call(dev.url, 'POST', `/v1/topics/${topic}/partitions/0/records?acks=-1`, { records: [{ key: `k${i}`, value }] })
      expect(r.status).toBe(200)
      acked.push(value)
    }
    const before = await readAll(dev.url, topic, 100_000)
    expect((await records(before)).map((r) => r.value)).toEqual(acked)

    // The move stops after its R2 write; the maintenance request never answers.
    const hung = fetch(`${dev.url}/v1/topics/${topic}/maintenance`, { method: 'POST' }).catch(() => undefined)
    let paused: any
    for (let i = 0; i < 300 && !paused?.pausedAt; i++) {
      await new Promise((r) => setTimeout(r, 100))
      paused = await tiers(dev.url, topic)
    }
    expect(paused.pausedAt).toBeTruthy()
    expect(paused.objects).toContain(paused.pausedAt)
    expect(paused.orphans).toEqual([paused.pausedAt])
    expect(paused.remote.segments).toEqual([])

    await dev.kill()
    await hung
    dev = await startWranglerDev(dir)

    // After the restart: the file is in R2 but indexed nowhere; the local rows serve the reads.
    const after = await tiers(dev.url, topic)
    expect(after.objects).toContain(paused.pausedAt)
    expect(after.orphans).toEqual([paused.pausedAt])
    expect(after.remote.segments).toEqual([])
    expect(await readAll(dev.url, topic, 100_001)).toEqual(before)

    // The next run deletes it, and moves every sealed segment for real.
    expect((await call(dev.url, 'POST', `/v1/topics/${topic}/maintenance`)).status).toBe(200)
    const moved = await tiers(dev.url, topic)
    expect(moved.orphans).toEqual([])
    expect(moved.objects).not.toContain(paused.pausedAt)
    expect(moved.objects).toEqual(moved.remote.segments.map((s: any) => s.key))
    expect(moved.remote.segments.length).toBeGreaterThan(1)
    expect(moved.local.segments).toBe(1)
    const fromR2 = await readAll(dev.url, topic, 100_002)
    expect(fromR2).toEqual(before)
    const seen = await records(fromR2)
    expect(seen.map((r) => r.offset)).toEqual(acked.map((_, i) => i))
    expect(seen.map((r) => r.value)).toEqual(acked)

    // Retention removes moved segments from R2 too.
    expect((await call(dev.url, 'PATCH', `/v1/topics/${topic}`, { config: { 'retention.bytes': '400' } })).status).toBe(200)
    expect((await call(dev.url, 'POST', `/v1/topics/${topic}/maintenance`)).status).toBe(200)
    const kept = await tiers(dev.url, topic)
    expect(kept.remote.segments.length).toBeLessThan(moved.remote.segments.length)
    expect(kept.objects).toEqual(kept.remote.segments.map((s: any) => s.key))
    const logStart = (await call(dev.url, 'GET', `/v1/topics/${topic}`)).data.partitions[0].logStartOffset
    expect(logStart).toBeGreaterThan(0)
    expect((await call(dev.url, 'GET', `/v1/topics/${topic}/partitions/0/records?offset=0&maxBytes=100003`)).status).toBe(416)
  }, 180_000)
})
