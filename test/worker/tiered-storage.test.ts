/**
 * Tiered storage to R2 (Kafka's KIP-405; adapters/durable-object/remote-tier.ts,
 * worker/objects/tiering.ts, docs/tiered-storage.md), inside workerd with miniflare's R2:
 * sealed segments past local retention move to R2 and read back byte for byte, from any
 * offset; retention and DeleteRecords delete from both tiers; a move that fails after its R2
 * write leaves the local rows served and its file deleted on the next run; the topic configs
 * are checked as Kafka checks them.
 */
import { env, runInDurableObject, SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { LOG_SETTINGS_DEFAULTS } from '../../core/config.ts'
import { TopicRegistry } from '../../core/log/topic-registry.ts'
import type { PartitionObject } from '../../worker/objects/partition.ts'
import type { TierFault } from '../../worker/objects/tiering.ts'

const BASE = 'http://127.0.0.1'
const BINARY = 'application/vnd.kafka.record-batch'
let counter = 0
const unique = (p: string) => `${p}-${Date.now().toString(36)}-${counter++}`

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; data: any }> {
  const res = await SELF.fetch(`${BASE}${path}`, {
    method, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers }, body: body === undefined ? undefined : JSON.stringify(body),
  })
  const type = res.headers.get('content-type') ?? ''
  return { status: res.status, headers: res.headers, data: type.includes('json') ? await res.json() : new Uint8Array(await res.arrayBuffer()) }
}

/** A tiered topic with 8 batches of ~150 bytes: a new segment every two batches. */
async function tieredTopic(config: Record<string, string> = {}): Promise<{ name: string; stream: string }> {
  const name = unique('tier')
  const created = await call('POST', '/v1/topics', { name, partitions: 1, config: { 'segment.bytes': '300', 'remote.storage.enable': 'true', 'local.retention.bytes': '0', ...config } })
  expect(created.status).toBe(201)
  for (let i = 0; i < 8; i++) {
    expect((await call('POST', `/v1/topics/${name}/partitions/0/records`, { records: [{ key: `k${i}`, value: `value-${i}-${'x'.repeat(60)}` }] })).status).toBe(200)
  }
  return { name, stream: `${created.data.topicId}/0` }
}

/** The whole log as stored batches, fetched offset by offset (binary, `maxBytes` picks a cache key of its own). */
async function readAll(topic: string, maxBytes: number, from = 0): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = []
  for (let offset = from; ;) {
    const r = await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxBytes=${maxBytes}`, undefined, { accept: BINARY })
    expect(r.status).toBe(200)
    const next = Number(r.headers.get('Edgelog-Next-Offset'))
    if (r.data.byteLength === 0 || next <= offset) return parts
    parts.push(r.data)
    offset = next
  }
}

const tiers = async (topic: string) => (await call('GET', `/v1/topics/${topic}/partitions/0/tiers?objects=true`)).data
const maintain = (topic: string) => call('POST', `/v1/topics/${topic}/maintenance`)
const stub = (stream: string) => env.PARTITION.get(env.PARTITION.idFromName(stream))
const storedBatches = (stream: string) => runInDurableObject(stub(stream), async (obj: PartitionObject) =>
  (await obj.storage.readBatches(stream, 0, { maxBytes: Number.MAX_SAFE_INTEGER })).map((b) => ({ ...b, bytes: Array.from(b.bytes) })))
const setFault = (stream: string, fault: TierFault) => runInDurableObject(stub(stream), (obj: PartitionObject) => { obj.tiering.fault = fault })

describe('tiered storage to R2', () => {
  it('moves sealed segments past local retention to R2, one file each, and reads them back byte for byte', async () => {
    const { name, stream } = await tieredTopic()
    const before = await readAll(name, 100_000)
    const stored = await storedBatches(stream)
    expect(stored.length).toBe(8)
    const segments = (await call('GET', `/v1/topics/${name}`)).data.partitions[0].segments
    expect(segments.length).toBeGreaterThan(2)

    expect((await maintain(name)).status).toBe(200)
    const t = await tiers(name)
    // Every sealed segment is in R2 (local.retention.bytes 0); the active one stays.
    expect(t.remote.segments.length).toBe(segments.length - 1)
    expect(t.local.segments).toBe(1)
    expect(t.orphans).toEqual([])
    expect(t.objects).toEqual(t.remote.segments.map((s: any) => s.key))
    // The files are the batches as stored, concatenated.
    const first = await env.REMOTE_STORAGE!.get(t.remote.segments[0].key)
    const file = new Uint8Array(await first!.arrayBuffer())
    const inFirst = stored.filter((b) => b.lastOffset <= t.remote.segments[0].lastOffset).flatMap((b) => b.bytes)
    expect(Array.from(file)).toEqual(inFirst)

    // The consumer sees no difference: the same bytes through the storage port and over HTTP
    // (another maxBytes: a cache key of its own, so these reads reach the object and R2).
    expect(await storedBatches(stream)).toEqual(stored)
    expect(await readAll(name, 100_001)).toEqual(before)
    // From an offset inside a remote file: a ranged read that starts at that batch.
    const mid = await call('GET', `/v1/topics/${name}/partitions/0/records?offset=3&maxBytes=100002`)
    expect(mid.data.records[0]).toMatchObject({ offset: 3, key: 'k3' })
    // Offset for a time falls through too.
    const at = (await call('GET', `/v1/topics/${name}/partitions/0/offsets?at=earliest`)).data
    expect(at.offset ?? at.partitions?.[0]?.offset ?? 0).toBe(0)
  })

  it('retention deletes from both tiers: the files of deleted segments leave R2', async () => {
    const { name } = await tieredTopic()
    await maintain(name)
    const moved = await tiers(name)
    expect(moved.remote.segments.length).toBeGreaterThan(1)
    expect((await call('PATCH', `/v1/topics/${name}`, { config: { 'retention.bytes': '400' } })).status).toBe(200)
    expect((await maintain(name)).status).toBe(200)
    const t = await tiers(name)
    const logStart = (await call('GET', `/v1/topics/${name}`)).data.partitions[0].logStartOffset
    expect(logStart).toBeGreaterThan(0)
    expect(t.remote.segments.length).toBeLessThan(moved.remote.segments.length)
    expect(t.objects).toEqual(t.remote.segments.map((s: any) => s.key))
    for (const s of t.remote.segments) expect(s.lastOffset).toBeGreaterThanOrEqual(logStart)
    const gone = moved.remote.segments.filter((s: any) => s.lastOffset < logStart)
    expect(gone.length).toBeGreaterThan(0)
    for (const s of gone) expect(await env.REMOTE_STORAGE!.head(s.key)).toBeNull()
    expect((await call('GET', `/v1/topics/${name}/partitions/0/records?offset=0`)).status).toBe(416)
  })

  it('DeleteRecords deletes through both tiers; a file cut into keeps only what is above the log start', async () => {
    const { name } = await tieredTopic()
    await maintain(name)
    const moved = await tiers(name)
    const second = moved.remote.segments[1]
    // Into the middle of the second file: the first goes, the second stays with its tail.
    const r = await call('POST', `/v1/topics/${name}/delete-records`, { partitions: [{ partition: 0, offset: second.baseOffset + 1 }] })
    expect(r.status).toBe(200)
    const t = await tiers(name)
    expect(t.objects).toEqual(t.remote.segments.map((s: any) => s.key))
    expect(t.objects).not.toContain(moved.remote.segments[0].key)
    expect(t.objects).toContain(second.key)
    const from = await call('GET', `/v1/topics/${name}/partitions/0/records?offset=${second.baseOffset + 1}&maxBytes=100003`)
    expect(from.data.records[0].offset).toBe(second.baseOffset + 1)
    expect((await call('GET', `/v1/topics/${name}/partitions/0/records?offset=${second.baseOffset}`)).status).toBe(416)
  })

  it('a move that fails after its R2 write: the local rows are still served, the file is deleted on the next run, nothing twice', async () => {
    const { name, stream } = await tieredTopic()
    const stored = await storedBatches(stream)
    await setFault(stream, 'tier-fail-after-put')
    expect((await maintain(name)).status).toBeGreaterThanOrEqual(500)
    const failed = await tiers(name)
    expect(failed.remote.segments).toEqual([])
    expect(failed.orphans.length).toBe(1)
    expect(failed.objects).toEqual(failed.orphans)
    expect(await storedBatches(stream)).toEqual(stored)

    await setFault(stream, undefined)
    expect((await maintain(name)).status).toBe(200)
    const t = await tiers(name)
    expect(t.orphans).toEqual([])
    expect(t.objects).toEqual(t.remote.segments.map((s: any) => s.key))
    expect(t.objects).not.toContain(failed.orphans[0])
    expect(await storedBatches(stream)).toEqual(stored)
  })

  it('a topic that is deleted takes its files out of R2', async () => {
    const { name, stream } = await tieredTopic()
    await maintain(name)
    expect((await tiers(name)).objects.length).toBeGreaterThan(0)
    expect((await call('DELETE', `/v1/topics/${name}`)).status).toBe(200)
    const left = await env.REMOTE_STORAGE!.list({ prefix: `segments/${stream}/` })
    expect(left.objects).toEqual([])
  })

  it('checks the configs as Kafka does: local retention within retention, delete policy only', async () => {
    const bad = async (config: Record<string, string>) => {
      const r = await call('POST', '/v1/topics', { name: unique('tierbad'), partitions: 1, config: { 'remote.storage.enable': 'true', ...config } })
      expect(r.status).toBe(400)
      expect(r.data.error.code).toBe('INVALID_CONFIG')
    }
    await bad({ 'retention.ms': '1000', 'local.retention.ms': '2000' })
    await bad({ 'retention.bytes': '1000', 'local.retention.bytes': '-1' })
    await bad({ 'cleanup.policy': 'compact' })
    await bad({ 'local.retention.ms': '-3' })
    const { name } = await tieredTopic()
    const alter = await call('PATCH', `/v1/topics/${name}`, { config: { 'cleanup.policy': 'compact,delete' } })
    expect(alter.status).toBe(400)
    expect(alter.data.error.code).toBe('INVALID_CONFIG')
  })

  it('without a remote tier (no R2 binding), remote.storage.enable is refused INVALID_CONFIG and nothing stored', async () => {
    // The controller passes remote.log.storage.system.enable = (REMOTE_STORAGE is bound).
    const storage = new MemoryStorage()
    const registry = new TopicRegistry(storage, { ...LOG_SETTINGS_DEFAULTS, 'remote.log.storage.system.enable': false })
    await expect(registry.create({ topic: 't', configEntries: [{ name: 'remote.storage.enable', value: 'true' }] })).rejects.toMatchObject({ code: 'INVALID_CONFIG' })
    expect(await registry.get('t')).toBeUndefined()
    await registry.create({ topic: 'u' })
    await expect(registry.alterConfig('u', [{ name: 'remote.storage.enable', value: 'true' }])).rejects.toMatchObject({ code: 'INVALID_CONFIG' })
    expect((await registry.get('u'))!.config['remote.storage.enable']).toBe(false)
  })
})
