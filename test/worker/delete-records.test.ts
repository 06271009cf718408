/**
 * Inside workerd, against the real Worker and partition objects: DeleteRecords over HTTP
 * (POST /v1/topics/:topic/delete-records) and through edgelog/http's admin.deleteTopicRecords,
 * and the four codecs running in workerd (binary produce of snappy, lz4 and zstd batches, the
 * Worker validating and storing them, the JSON read decoding them).
 */
import { SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { connect } from '../../adapters/http/index.ts'
import { encodeBatchAsync, readBatchHeader, splitBatches } from '../../core/codec/record-batch.ts'
import { compress, decompress } from '../../core/codec/compression.ts'

const BASE = 'http://127.0.0.1'
const enc = new TextEncoder()
let counter = 0
const unique = (p: string) => `${p}-${Date.now().toString(36)}-${counter++}`

async function call(method: string, path: string, body?: unknown) {
  const init: RequestInit = { method, headers: {} }
  if (body instanceof Uint8Array) {
    init.body = body
    ;(init.headers as Record<string, string>)['content-type'] = 'application/vnd.kafka.record-batch'
  } else if (body !== undefined) {
    init.body = JSON.stringify(body)
    ;(init.headers as Record<string, string>)['content-type'] = 'application/json'
  }
  const res = await SELF.fetch(`${BASE}${path}`, init)
  return { status: res.status, data: (await res.json()) as any }
}

async function topicWith(partitions: number, records: number, config?: Record<string, string>): Promise<string> {
  const name = unique('dr')
  expect((await call('POST', '/v1/topics', { name, partitions, config })).status).toBe(201)
  for (let p = 0; p < partitions && records > 0; p++) {
    const r = await call('POST', `/v1/topics/${name}/records`, { records: Array.from({ length: records }, (_, i) => ({ value: `v${i}`, partition: p })) })
    expect(r.status).toBe(200)
  }
  return name
}

const lowOf = async (topic: string) => (await call('GET', `/v1/topics/${topic}`)).data.partitions.map((p: any) => p.logStartOffset)

describe('POST /v1/topics/:topic/delete-records', () => {
  it('moves each partition\'s log start (offset -1: the high watermark); reads below it are out of range', async () => {
    const topic = await topicWith(2, 6)
    const r = await call('POST', `/v1/topics/${topic}/delete-records`, { partitions: [{ partition: 0, offset: 4 }, { partition: 1, offset: '-1' }] })
    expect(r).toEqual({ status: 200, data: { partitions: [{ partition: 0, lowWatermark: 4 }, { partition: 1, lowWatermark: 6 }] } })
    expect(await lowOf(topic)).toEqual([4, 6])
    const below = await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=1`)
    expect(below.data.error.code).toBe('OFFSET_OUT_OF_RANGE')
    const from = await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=4`)
    expect(from.data.records.map((x: any) => x.value)).toEqual(['v4', 'v5'])
  })

  it('a refused partition answers with its status, every partition listed; ?errors=inline answers 200', async () => {
    const topic = await topicWith(2, 3)
    const r = await call('POST', `/v1/topics/${topic}/delete-records`, { partitions: [{ partition: 0, offset: 2 }, { partition: 1, offset: 9 }] })
    expect(r.status).toBe(416)
    expect(r.data.error.code).toBe('OFFSET_OUT_OF_RANGE')
    expect(r.data.partitions[0]).toEqual({ partition: 0, lowWatermark: 2 })
    expect(r.data.partitions[1]).toMatchObject({ partition: 1, lowWatermark: -1, error: { code: 'OFFSET_OUT_OF_RANGE' } })
    const inline = await call('POST', `/v1/topics/${topic}/delete-records?errors=inline`, { partitions: [{ partition: 1, offset: 9 }] })
    expect(inline.status).toBe(200)
    expect(inline.data.partitions[0].error.code).toBe('OFFSET_OUT_OF_RANGE')
    expect(await lowOf(topic)).toEqual([2, 0])
  })

  it('bad requests are typed 4xx and change nothing', async () => {
    const topic = await topicWith(1, 3)
    const compact = await topicWith(1, 0, { 'cleanup.policy': 'compact' })
    expect((await call('POST', `/v1/topics/${compact}/delete-records`, { partitions: [{ partition: 0, offset: 0 }] })).data.error.code).toBe('POLICY_VIOLATION')
    expect((await call('POST', `/v1/topics/${unique('none')}/delete-records`, { partitions: [{ partition: 0, offset: 0 }] })).status).toBe(404)
    expect((await call('POST', `/v1/topics/${topic}/delete-records`, { partitions: [{ partition: 5, offset: 0 }] })).data.error.code).toBe('UNKNOWN_TOPIC_OR_PARTITION')
    expect((await call('POST', `/v1/topics/${topic}/delete-records`, { partitions: [] })).data.error.code).toBe('INVALID_REQUEST')
    expect((await call('POST', `/v1/topics/${topic}/delete-records`, { partitions: [{ partition: 0, offset: 'x' }] })).data.error.code).toBe('OFFSET_OUT_OF_RANGE')
    expect((await call('POST', `/v1/topics/${topic}/delete-records`, { partitions: [{ partition: 0, offset: -5 }] })).data.error.code).toBe('OFFSET_OUT_OF_RANGE')
    expect(await lowOf(topic)).toEqual([0])
  })

  it("edgelog/http: admin.deleteTopicRecords, KafkaJS's shape", async () => {
    const topic = await topicWith(2, 4)
    const log = connect({ url: BASE, fetch: (request: Request) => SELF.fetch(request) })
    try {
      const admin = log.admin()
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '3' }, { partition: 1, offset: '-1' }] })
      expect((await admin.fetchTopicOffsets(topic)).map((o) => o.low)).toEqual(['3', '4'])
      await expect(admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '99' }] })).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE', partitions: [{ partition: 0, offset: '99' }] })
    } finally {
      await log.close()
    }
  })
})

describe('the codecs in workerd', () => {
  it('snappy, lz4 and zstd round-trip here; gzip too', async () => {
    const input = enc.encode(JSON.stringify(Array.from({ length: 500 }, (_, i) => ({ i, user: `u${i % 7}` }))))
    for (const codec of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
      const packed = await compress(codec, input)
      expect(packed.length).toBeLessThan(input.length / 2)
      expect(await decompress(codec, packed)).toEqual(input)
    }
  })

  it('the Worker stores compressed batches as sent and decodes them for JSON readers', async () => {
    const topic = await topicWith(1, 0)
    const codecs = ['snappy', 'lz4', 'zstd'] as const
    for (const codec of codecs) {
      const batch = await encodeBatchAsync(Array.from({ length: 3 }, (_, i) => ({ key: null, value: enc.encode(`${codec}-${i}`), timestamp: 1000 + i })), { compression: codec })
      const r = await call('POST', `/v1/topics/${topic}/partitions/0/records`, batch)
      expect(r.status).toBe(200)
    }
    const raw = await SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/records?offset=0`, { headers: { accept: 'application/vnd.kafka.record-batch' } })
    const batches = splitBatches(new Uint8Array(await raw.arrayBuffer()))
    expect(batches.map((b) => readBatchHeader(b).compression)).toEqual([...codecs])
    const json = await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`)
    expect(json.data.records.map((x: any) => x.value)).toEqual(codecs.flatMap((c) => [0, 1, 2].map((i) => `${c}-${i}`)))
  })
})
