/**
 * Cached reads of sealed segments (issue 19, worker/cache.ts): a repeated read of a sealed
 * segment is answered from the Workers Cache API without reaching the partition object (its
 * own request count), with cache headers; the active segment and compacted topics are never
 * cached; offsets below the log start are never served from the cache once the call that
 * moved it answered (the object's log-start leases, worker/objects/log-start-lease.ts).
 */
import { SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'

const BASE = 'http://127.0.0.1'
let counter = 0
const unique = (p: string) => `${p}-${Date.now().toString(36)}-${counter++}`

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<any> {
  const res = await SELF.fetch(`${BASE}${path}`, {
    method, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers }, body: body === undefined ? undefined : JSON.stringify(body),
  })
  const type = res.headers.get('content-type') ?? ''
  return { status: res.status, headers: res.headers, data: type.includes('json') ? await res.json() : new Uint8Array(await res.arrayBuffer()) }
}

async function topicWithSegments(config: Record<string, string> = {}): Promise<string> {
  const name = unique('cache')
  expect((await call('POST', '/v1/topics', { name, partitions: 1, config: { 'segment.bytes': '300', ...config } })).status).toBe(201)
  // One batch per request, about 150 bytes each: a new segment every two batches.
  for (let i = 0; i < 8; i++) {
    const r = await call('POST', `/v1/topics/${name}/partitions/0/records`, { records: [{ key: `k${i % 2}`, value: `value-${i}-${'x'.repeat(60)}` }] })
    expect(r.status).toBe(200)
  }
  return name
}

const requests = async (topic: string) => (await call('GET', `/v1/topics/${topic}/partitions/0/activity`)).data.requests as number
const read = (topic: string, offset: number, headers: Record<string, string> = {}) => call('GET', `/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxBytes=100000`, undefined, headers)

describe('reads of sealed segments', () => {
  it('a repeated read is served from the cache, without a request to the object', async () => {
    const topic = await topicWithSegments()
    const segments = (await call('GET', `/v1/topics/${topic}`)).data.partitions[0].segments
    expect(segments.length).toBeGreaterThan(2)
    const first = await read(topic, 0)
    expect(first.headers.get('Edgelog-Cache')).toBe('miss')
    expect(first.headers.get('Cache-Control')).toMatch(/^public, max-age=\d+, immutable$/)
    // Bounded by the sealed segment's end, as Kafka reads one segment per fetch.
    expect(first.data.nextOffset).toBe(segments[0].endOffset)
    const before = await requests(topic)
    for (let i = 0; i < 5; i++) {
      const again = await read(topic, 0)
      expect(again.headers.get('Edgelog-Cache')).toBe('hit')
      expect(again.data).toEqual({ ...first.data, highWatermark: 8 })
    }
    // The binary form shares the entry, byte for byte.
    const binary = await read(topic, 0, { accept: 'application/vnd.kafka.record-batch' })
    expect(binary.headers.get('Edgelog-Cache')).toBe('hit')
    expect(binary.headers.get('Edgelog-Next-Offset')).toBe(String(segments[0].endOffset))
    expect(await requests(topic)).toBe(before)
  })

  it('the active segment is read from the object every time, and is never marked cacheable', async () => {
    const topic = await topicWithSegments()
    const last = (await call('GET', `/v1/topics/${topic}`)).data.partitions[0].segments.at(-1)
    await read(topic, 0)
    const before = await requests(topic)
    for (let i = 0; i < 3; i++) {
      const r = await read(topic, last.baseOffset)
      expect(r.headers.get('Edgelog-Cache')).toBe('bypass')
      expect(r.headers.get('Cache-Control')).toBe('no-store')
    }
    expect(await requests(topic)).toBe(before + 3)
  })

  it('a compacted topic is never cached', async () => {
    const topic = await topicWithSegments({ 'cleanup.policy': 'compact' })
    for (let i = 0; i < 2; i++) expect((await read(topic, 0)).headers.get('Edgelog-Cache')).toBe('bypass')
  })

  it('offsets below the log start are never served from the cache', async () => {
    const topic = await topicWithSegments({ 'retention.bytes': '400' })
    expect((await read(topic, 0)).headers.get('Edgelog-Cache')).toBe('miss')
    expect((await read(topic, 0)).headers.get('Edgelog-Cache')).toBe('hit')
    expect((await call('POST', `/v1/topics/${topic}/maintenance`)).status).toBe(200)
    const logStart = (await call('GET', `/v1/topics/${topic}`)).data.partitions[0].logStartOffset
    expect(logStart).toBeGreaterThan(0)
    // At once after retention answered: it waited out the Worker's lease on the old log start.
    const gone = await read(topic, 0)
    expect(gone.status).toBe(416)
    expect(gone.data.error.code).toBe('OFFSET_OUT_OF_RANGE')
    // And never afterwards, now that the Worker knows the new log start.
    expect((await read(topic, 0)).status).toBe(416)
  })

  it('nor after DeleteRecords: the read right after its answer goes to the object; reads above the new log start are cached again', async () => {
    const topic = await topicWithSegments()
    const segments = (await call('GET', `/v1/topics/${topic}`)).data.partitions[0].segments
    expect((await read(topic, 0)).headers.get('Edgelog-Cache')).toBe('miss')
    expect((await read(topic, 0)).headers.get('Edgelog-Cache')).toBe('hit')
    const second = segments[1].baseOffset
    expect((await read(topic, second)).headers.get('Edgelog-Cache')).toBe('miss')
    const deleted = await call('POST', `/v1/topics/${topic}/delete-records`, { partitions: [{ partition: 0, offset: second }] })
    expect(deleted.data).toEqual({ partitions: [{ partition: 0, lowWatermark: second }] })
    const gone = await read(topic, 0)
    expect(gone.status).toBe(416)
    expect(gone.data.error.code).toBe('OFFSET_OUT_OF_RANGE')
    // At the new log start the entry is served again once the object granted a new lease.
    expect((await read(topic, second)).headers.get('Edgelog-Cache')).toBe('miss')
    expect((await read(topic, second)).headers.get('Edgelog-Cache')).toBe('hit')
  })
})
