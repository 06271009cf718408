/**
 * The v1 HTTP API inside workerd, against the real Worker and Durable Objects (no mocks):
 * every route, its errors, access control allowed and denied.
 */
import { createExecutionContext, env, runDurableObjectAlarm, runInDurableObject, SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { encodeBatch, decodeBatch, readBatchHeader, splitBatches } from '../../core/codec/record-batch.ts'
import { app } from '../../worker/index.ts'

const BASE = 'http://127.0.0.1'
let counter = 0
const unique = (p: string) => `${p}-${Date.now().toString(36)}-${counter++}`

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: { ...headers } }
  if (body !== undefined) {
    if (body instanceof Uint8Array) {
      init.body = body
      ;(init.headers as Record<string, string>)['content-type'] ??= 'application/vnd.kafka.record-batch'
    } else {
      init.body = typeof body === 'string' ? body : JSON.stringify(body)
      ;(init.headers as Record<string, string>)['content-type'] ??= 'application/json'
    }
  }
  const res = await SELF.fetch(`${BASE}${path}`, init)
  const type = res.headers.get('content-type') ?? ''
  const data = type.includes('json') ? await res.json<any>() : new Uint8Array(await res.arrayBuffer())
  return { status: res.status, data: data as any, headers: res.headers }
}

async function createTopic(partitions = 1, config?: Record<string, string>) {
  const name = unique('t')
  const r = await call('POST', '/v1/topics', { name, partitions, config })
  expect(r.status).toBe(201)
  return name
}

function expectError(r: { status: number; data: any }, status: number, code: string) {
  expect({ status: r.status, code: r.data?.error?.code }).toEqual({ status, code })
  expect(typeof r.data.error.message).toBe('string')
}

const enc = new TextEncoder()

describe('meta routes', () => {
  it('health and the OpenAPI document covering every route', async () => {
    expect((await call('GET', '/v1/health')).data).toEqual({ ok: true })
    const doc = (await call('GET', '/v1/openapi.json')).data
    expect(doc.openapi).toBe('3.1.0')
    for (const path of ['/v1/topics', '/v1/topics/{topic}', '/v1/topics/{topic}/records', '/v1/topics/{topic}/partitions/{p}/records',
      '/v1/topics/{topic}/partitions/{p}/tail', '/v1/topics/{topic}/offsets', '/v1/groups', '/v1/groups/{group}',
      '/v1/groups/{group}/heartbeat', '/v1/groups/{group}/offsets', '/v1/producers', '/v1/metadata', '/v1/cluster',
      '/v1/transactions/{id}/producer', '/v1/transactions/{id}/partitions', '/v1/transactions/{id}/groups', '/v1/transactions/{id}/offsets', '/v1/transactions/{id}/end']) {
      expect(doc.paths[path], path).toBeDefined()
    }
  })
  it('unknown routes are a JSON 404', async () => {
    const r = await call('GET', '/v1/nope')
    expect(r.status).toBe(404)
    expect(r.data.error.code).toBe('INVALID_REQUEST')
  })
  it('cluster and producer ids', async () => {
    const c = await call('GET', '/v1/cluster')
    expect(c.data.clusterId).toMatch(/^[0-9a-f]{32}$/)
    const a = await call('POST', '/v1/producers')
    const b = await call('POST', '/v1/producers')
    expect(b.data.producerId).toBe(a.data.producerId + 1)
    expect(a.data.producerEpoch).toBe(0)
  })
})

describe('topics', () => {
  it('create, list, describe, patch, delete', async () => {
    const name = unique('topic')
    const created = await call('POST', '/v1/topics', { name, partitions: 3, config: { 'retention.ms': '60000' } })
    expect(created.status).toBe(201)
    expect(created.data).toMatchObject({ name, partitions: 3 })
    expect(created.data.config['retention.ms']).toBe(60000)
    expectError(await call('POST', '/v1/topics', { name }), 409, 'TOPIC_ALREADY_EXISTS')

    const list = await call('GET', '/v1/topics')
    expect(list.data.topics.find((t: any) => t.name === name)).toMatchObject({ partitions: 3 })

    const desc = await call('GET', `/v1/topics/${name}`)
    expect(desc.data.partitions).toHaveLength(3)
    expect(desc.data.partitions[0]).toMatchObject({ partition: 0, logStartOffset: 0, highWatermark: 0, segments: [] })

    const patched = await call('PATCH', `/v1/topics/${name}`, { partitions: 5, config: { 'retention.ms': null, 'cleanup.policy': 'compact' } })
    expect(patched.status).toBe(200)
    expect(patched.data.partitions).toHaveLength(5)
    expect(patched.data.config['cleanup.policy']).toBe('compact')
    expect(patched.data.config['retention.ms']).toBe(7 * 24 * 3600 * 1000)
    expectError(await call('PATCH', `/v1/topics/${name}`, { partitions: 2 }), 400, 'INVALID_PARTITIONS')
    expectError(await call('PATCH', `/v1/topics/${name}`, {}), 400, 'INVALID_REQUEST')
    expectError(await call('PATCH', `/v1/topics/${name}`, { config: { 'no.such': '1' } }), 400, 'INVALID_CONFIG')

    expect((await call('DELETE', `/v1/topics/${name}`)).data).toEqual({ deleted: name })
    expectError(await call('GET', `/v1/topics/${name}`), 404, 'UNKNOWN_TOPIC_OR_PARTITION')
    expectError(await call('DELETE', `/v1/topics/${name}`), 404, 'UNKNOWN_TOPIC_OR_PARTITION')
  })

  it('the Kafka-shaped batch create, with validateOnly', async () => {
    const a = unique('a'), b = unique('b')
    const v = await call('POST', '/v1/topics', { topics: [{ topic: a }, { topic: b, numPartitions: 2 }], validateOnly: true })
    expect(v.data.results).toEqual([{ topic: a, created: true }, { topic: b, created: true }])
    expectError(await call('GET', `/v1/topics/${a}`), 404, 'UNKNOWN_TOPIC_OR_PARTITION')
    const r = await call('POST', '/v1/topics', { topics: [{ topic: a }, { topic: b, numPartitions: 2 }] })
    expect(r.data.results).toEqual([{ topic: a, created: true }, { topic: b, created: true }])
    const m = await call('POST', '/v1/metadata', { topics: [a, b] })
    expect(m.data.topics.map((t: any) => t.partitions.length)).toEqual([1, 2])
    expectError(await call('POST', '/v1/metadata', { topics: [unique('missing')] }), 404, 'UNKNOWN_TOPIC_OR_PARTITION')
    const auto = unique('auto')
    const created = await call('POST', '/v1/metadata', { topics: [auto], allowAutoTopicCreation: true })
    expect(created.data.topics[0].name).toBe(auto)
  })

  it('validation errors', async () => {
    expectError(await call('POST', '/v1/topics', { name: 'bad name!' }), 400, 'INVALID_TOPIC_EXCEPTION')
    expectError(await call('POST', '/v1/topics', { name: '..' }), 400, 'INVALID_TOPIC_EXCEPTION')
    expectError(await call('POST', '/v1/topics', { name: 'x'.repeat(250) }), 400, 'INVALID_TOPIC_EXCEPTION')
    expectError(await call('POST', '/v1/topics', { name: unique('p'), partitions: 0 }), 400, 'INVALID_PARTITIONS')
    expectError(await call('POST', '/v1/topics', { name: unique('p'), partitions: 'three' }), 400, 'INVALID_PARTITIONS')
    expectError(await call('POST', '/v1/topics', { name: unique('p'), config: { 'retention.ms': 'soon' } }), 400, 'INVALID_CONFIG')
    expectError(await call('POST', '/v1/topics', { name: unique('p'), config: [1] }), 400, 'INVALID_CONFIG')
    expectError(await call('POST', '/v1/topics', '{not json'), 400, 'INVALID_REQUEST')
    expectError(await call('POST', '/v1/topics', '[1,2]'), 400, 'INVALID_REQUEST')
    expectError(await call('GET', '/v1/topics/bad$name'), 400, 'INVALID_TOPIC_EXCEPTION')
    expectError(await call('POST', '/v1/topics', 'x'.repeat(1024 * 1024 + 1)), 413, 'MESSAGE_TOO_LARGE')
  })
})

describe('records (JSON)', () => {
  it('produce returns one offset per record in order; fetch returns them', async () => {
    const topic = await createTopic(1)
    const r = await call('POST', `/v1/topics/${topic}/records`, {
      records: [{ value: 'a' }, { key: 'k', value: 'b', headers: { h: 'v' } }, { value: null, key: 'k' }],
    })
    expect(r.status).toBe(200)
    expect(r.data.offsets).toEqual([{ partition: 0, offset: 0 }, { partition: 0, offset: 1 }, { partition: 0, offset: 2 }])
    const f = await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=1`)
    expect(f.data.highWatermark).toBe(3)
    expect(f.data.records.map((x: any) => [x.offset, x.key, x.value, x.headers])).toEqual([[1, 'k', 'b', { h: 'v' }], [2, 'k', null, {}]])
    expect(typeof f.data.records[0].timestamp).toBe('number')
    expect(f.headers.get('edgelog-high-watermark')).toBe('3')
    const all = await call('GET', `/v1/topics/${topic}/partitions/0/records`)
    expect(all.data.records).toHaveLength(3)
    const end = await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=3`)
    expect(end.data.records).toEqual([])
    expect(end.data.nextOffset).toBe(3)
  })

  it('keyed records go to murmur2(key) % n; explicit partitions are honoured', async () => {
    const topic = await createTopic(4)
    const r = await call('POST', `/v1/topics/${topic}/records`, { records: [{ key: 'u1', value: '1' }, { key: 'u1', value: '2' }, { value: 'x', partition: 3 }] })
    expect(r.data.offsets[0].partition).toBe(r.data.offsets[1].partition)
    expect(r.data.offsets[1].offset).toBe(r.data.offsets[0].offset + 1)
    expect(r.data.offsets[2]).toEqual({ partition: 3, offset: 0 })
    // Kafka's Java client puts key "u1" in partition toPositive(murmur2("u1")) % 4.
    const { murmur2, toPositive } = await import('../../core/partitioner.ts')
    expect(r.data.offsets[0].partition).toBe(toPositive(murmur2(enc.encode('u1'))) % 4)
  })

  it('base64 encoding round-trips binary values', async () => {
    const topic = await createTopic(1)
    await call('POST', `/v1/topics/${topic}/records?encoding=base64`, { records: [{ value: btoa('\x00\xff\x10') }] })
    const f = await call('GET', `/v1/topics/${topic}/partitions/0/records?encoding=base64`)
    expect(f.data.records[0].value).toBe(btoa('\x00\xff\x10'))
  })

  it('produce errors', async () => {
    const topic = await createTopic(2)
    expectError(await call('POST', `/v1/topics/${topic}/records`, { records: [] }), 400, 'INVALID_REQUEST')
    expectError(await call('POST', `/v1/topics/${topic}/records`, { records: [{ key: 'k' }] }), 400, 'INVALID_REQUEST')
    expectError(await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 5 }] }), 400, 'INVALID_REQUEST')
    expectError(await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'v', partition: 7 }] }), 404, 'UNKNOWN_TOPIC_OR_PARTITION')
    expectError(await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'v', partition: -1 }] }), 400, 'INVALID_REQUEST')
    expectError(await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'v', timestamp: 'now' }] }), 400, 'INVALID_TIMESTAMP')
    expectError(await call('POST', `/v1/topics/${topic}/records?acks=2`, { records: [{ value: 'v' }] }), 400, 'INVALID_REQUIRED_ACKS')
    expectError(await call('POST', `/v1/topics/${topic}/records`, 'hello', { 'content-type': 'text/plain' }), 400, 'INVALID_REQUEST')
    expectError(await call('POST', `/v1/topics/${topic}/partitions/9/records`, { records: [{ value: 'v' }] }), 404, 'UNKNOWN_TOPIC_OR_PARTITION')
    // A record over max.message.bytes, and a body over the request limit.
    const small = await createTopic(1, { 'max.message.bytes': '1000' })
    expectError(await call('POST', `/v1/topics/${small}/records`, { records: [{ value: 'x'.repeat(2000) }] }), 413, 'MESSAGE_TOO_LARGE')
    expectError(await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'x'.repeat(9 * 1024 * 1024) }] }), 413, 'RECORD_LIST_TOO_LARGE')
    // Nothing was stored by the failed requests.
    const d = await call('GET', `/v1/topics/${topic}`)
    expect(d.data.partitions.map((p: any) => p.highWatermark)).toEqual([0, 0])
  })

  it('fetch errors', async () => {
    const topic = await createTopic(1)
    await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'a' }] })
    expectError(await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=5`), 416, 'OFFSET_OUT_OF_RANGE')
    expectError(await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=abc`), 400, 'INVALID_REQUEST')
    expectError(await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=-1`), 400, 'INVALID_REQUEST')
    expectError(await call('GET', `/v1/topics/${topic}/partitions/0/records?maxBytes=0`), 400, 'INVALID_FETCH_SIZE')
    expectError(await call('GET', `/v1/topics/${topic}/partitions/0/records?maxWaitMs=999999`), 400, 'INVALID_REQUEST')
    expectError(await call('GET', `/v1/topics/${topic}/partitions/1/records`), 404, 'UNKNOWN_TOPIC_OR_PARTITION')
    expectError(await call('GET', `/v1/topics/${topic}/partitions/x/records`), 400, 'INVALID_REQUEST')
    expectError(await call('GET', `/v1/topics/${unique('none')}/partitions/0/records`), 404, 'UNKNOWN_TOPIC_OR_PARTITION')
  })

  it('a long poll parks in the partition and wakes when a record arrives', async () => {
    const topic = await createTopic(1)
    const started = Date.now()
    const pending = call('GET', `/v1/topics/${topic}/partitions/0/records?offset=0&maxWaitMs=10000`)
    await new Promise((r) => setTimeout(r, 200))
    await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'wake' }] })
    const r = await pending
    expect(r.data.records.map((x: any) => x.value)).toEqual(['wake'])
    expect(Date.now() - started).toBeLessThan(5000)
    // With nothing arriving it answers empty after maxWaitMs.
    const t0 = Date.now()
    const empty = await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=1&maxWaitMs=300`)
    expect(empty.data.records).toEqual([])
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250)
  })

  it('a deleted topic\'s partitions refuse writes (a Worker with stale metadata), and a new topic of the same name starts empty', async () => {
    const topic = await createTopic(1)
    await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'old' }] })
    const { topicId, config } = (await call('GET', `/v1/topics/${topic}`)).data
    await call('DELETE', `/v1/topics/${topic}`)
    // What a Worker whose cached metadata predates the deletion would send:
    const stream = `${topicId}/0`
    const stale = env.PARTITION.get(env.PARTITION.idFromName(stream))
    const batch = encodeBatch([{ key: null, value: enc.encode('x'), timestamp: Date.now() }])
    const answer = await stale.produce({ stream, topic, partition: 0, config, configVersion: 0 }, [batch], -1)
    expect(answer).toMatchObject({ ok: false, error: { code: 'UNKNOWN_TOPIC_OR_PARTITION' } })
    const read = await stale.fetchBatches({ stream, topic, partition: 0, config, configVersion: 0 }, { offset: 0, maxBytes: 1000 })
    expect(read).toMatchObject({ ok: false, error: { code: 'UNKNOWN_TOPIC_OR_PARTITION' } })
    expect((await call('POST', '/v1/topics', { name: topic })).status).toBe(201)
    const f = await call('GET', `/v1/topics/${topic}/partitions/0/records`)
    expect(f.data.records).toEqual([])
    expect(f.data.highWatermark).toBe(0)
  })

  it('a parked fetch on a topic that gets deleted ends with UNKNOWN_TOPIC_OR_PARTITION', async () => {
    const topic = await createTopic(1)
    const pending = call('GET', `/v1/topics/${topic}/partitions/0/records?offset=0&maxWaitMs=10000`)
    await new Promise((r) => setTimeout(r, 100))
    await call('DELETE', `/v1/topics/${topic}`)
    expectError(await pending, 404, 'UNKNOWN_TOPIC_OR_PARTITION')
  })
})

describe('records (binary Kafka record batches)', () => {
  it('produce batches and fetch them back byte for byte (offsets assigned)', async () => {
    const topic = await createTopic(1)
    const batch = (n: number, tag: string) => encodeBatch(Array.from({ length: n }, (_, i) => ({ key: null, value: enc.encode(`${tag}${i}`), timestamp: 1000 + i })))
    const body = new Uint8Array([...batch(3, 'a'), ...batch(2, 'b')])
    const r = await call('POST', `/v1/topics/${topic}/partitions/0/records`, body)
    // logAppendTime -1: a CreateTime topic (Kafka's ProduceResponse); the log start as of the append.
    expect(r.data.batches).toEqual([
      { partition: 0, baseOffset: 0, lastOffset: 2, records: 3, logAppendTime: -1, logStartOffset: 0 },
      { partition: 0, baseOffset: 3, lastOffset: 4, records: 2, logAppendTime: -1, logStartOffset: 0 },
    ])
    const f = await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`, undefined, { accept: 'application/vnd.kafka.record-batch' })
    expect(f.headers.get('content-type')).toBe('application/vnd.kafka.record-batch')
    expect(f.headers.get('edgelog-high-watermark')).toBe('5')
    expect(f.headers.get('edgelog-next-offset')).toBe('5')
    const batches = splitBatches(f.data)
    expect(batches).toHaveLength(2)
    const second = await decodeBatch(batches[1])
    expect(second.records.map((x) => [x.offset, new TextDecoder().decode(x.value!)])).toEqual([[3, 'b0'], [4, 'b1']])
    // JSON read of the same records.
    const j = await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=2`)
    expect(j.data.records.map((x: any) => x.value)).toEqual(['a2', 'b0', 'b1'])
  })

  it('several batches in one request, acks=all: each validated and stored in order, a corrupt one refused alone', async () => {
    const topic = await createTopic(1)
    const batch = (n: number, tag: string) => encodeBatch(Array.from({ length: n }, (_, i) => ({ key: null, value: enc.encode(`${tag}${i}`), timestamp: 1000 + i })))
    const bad = batch(2, 'x')
    bad[bad.length - 1] ^= 0xff
    const body = new Uint8Array([...batch(2, 'a'), ...bad, ...batch(3, 'b')])
    const r = await call('POST', `/v1/topics/${topic}/partitions/0/records?acks=all`, body)
    expectError(r, 400, 'CORRUPT_MESSAGE')
    expect(r.data.batches.map((b: any) => b.baseOffset ?? b.error.code)).toEqual([0, 'CORRUPT_MESSAGE', 2])
    const f = await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`)
    expect(f.data.records.map((x: any) => [x.offset, x.value])).toEqual([[0, 'a0'], [1, 'a1'], [2, 'b0'], [3, 'b1'], [4, 'b2']])
    // A body without Content-Length (streamed) is read and limited the same way.
    const stream = new ReadableStream({ start(c) { c.enqueue(batch(1, 'c')); c.enqueue(batch(1, 'd')); c.close() } })
    const s = await SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/records?acks=1`, { method: 'POST', headers: { 'content-type': 'application/vnd.kafka.record-batch' }, body: stream, duplex: 'half' } as RequestInit)
    expect((await s.json<any>()).batches.map((b: any) => b.baseOffset)).toEqual([5, 6])
  })

  it('corrupt and misplaced batches', async () => {
    const topic = await createTopic(1)
    const good = encodeBatch([{ key: null, value: enc.encode('v'), timestamp: 1 }])
    const bad = good.slice()
    bad[bad.length - 1] ^= 0xff
    expectError(await call('POST', `/v1/topics/${topic}/partitions/0/records`, bad), 400, 'CORRUPT_MESSAGE')
    expectError(await call('POST', `/v1/topics/${topic}/partitions/0/records`, good.subarray(0, 30)), 400, 'CORRUPT_MESSAGE')
    expectError(await call('POST', `/v1/topics/${topic}/partitions/0/records`, new Uint8Array(0)), 400, 'CORRUPT_MESSAGE')
    expectError(await call('POST', `/v1/topics/${topic}/records`, good), 400, 'INVALID_REQUEST')
    expect((await call('GET', `/v1/topics/${topic}`)).data.partitions[0].highWatermark).toBe(0)
  })
})

describe('offsets', () => {
  it('earliest, latest, by timestamp', async () => {
    const topic = await createTopic(2)
    await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'a', partition: 0, timestamp: 1000 }, { value: 'b', partition: 0, timestamp: 2000 }, { value: 'c', partition: 0, timestamp: 3000 }] })
    expect((await call('GET', `/v1/topics/${topic}/offsets?at=earliest`)).data.offsets.map((o: any) => o.offset)).toEqual([0, 0])
    expect((await call('GET', `/v1/topics/${topic}/offsets`)).data.offsets.map((o: any) => o.offset)).toEqual([3, 0])
    expect((await call('GET', `/v1/topics/${topic}/partitions/0/offsets?at=1500`)).data).toEqual({ partition: 0, offset: 1, timestamp: 2000 })
    expect((await call('GET', `/v1/topics/${topic}/offsets?at=9999&partitions=0`)).data.offsets).toEqual([{ partition: 0, offset: -1, timestamp: -1 }])
    expectError(await call('GET', `/v1/topics/${topic}/offsets?at=yesterday`), 400, 'INVALID_TIMESTAMP')
    expectError(await call('GET', `/v1/topics/${topic}/offsets?partitions=5`), 404, 'UNKNOWN_TOPIC_OR_PARTITION')
  })

  it('retention runs on request (maintenance) and moves the log start', async () => {
    const topic = await createTopic(1, { 'retention.ms': '1000', 'segment.bytes': '100' })
    await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'x'.repeat(80), timestamp: 1 }] })
    await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'y'.repeat(80), timestamp: 2 }] })
    await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'z', timestamp: Date.now() }] })
    expect((await call('POST', `/v1/topics/${topic}/maintenance`)).status).toBe(200)
    const d = await call('GET', `/v1/topics/${topic}`)
    expect(d.data.partitions[0].logStartOffset).toBe(2)
    expectError(await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`), 416, 'OFFSET_OUT_OF_RANGE')
    expect((await call('POST', '/v1/maintenance')).status).toBe(200)
  })
})

describe('groups', () => {
  it('join, assignment, commit, describe with lag, offsets, leave, list, delete', async () => {
    const topic = await createTopic(2)
    await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'a', partition: 0 }, { value: 'b', partition: 0 }, { value: 'c', partition: 1 }] })
    const group = unique('g')
    const join = await call('POST', `/v1/groups/${group}/heartbeat`, { memberId: '', memberEpoch: 0, subscribedTopicNames: [topic], serverAssignors: ['range'], clientId: 'test' })
    expect(join.status).toBe(200)
    expect(join.data.memberId).toBeTruthy()
    expect(join.data.memberEpoch).toBeGreaterThan(0)
    expect(join.data.assignment).toEqual([{ topic, partitions: [0, 1] }])
    const { memberId, memberEpoch } = join.data
    const beat = await call('POST', `/v1/groups/${group}/heartbeat`, { memberId, memberEpoch, topicPartitions: [{ topic, partitions: [0, 1] }] })
    expect(beat.status).toBe(200)

    const commit = await call('POST', `/v1/groups/${group}/offsets`, { memberId, memberEpoch: beat.data.memberEpoch, offsets: [{ topic, partition: 0, offset: 1 }] })
    expect(commit.data).toEqual({ committed: 1 })
    const offsets = await call('GET', `/v1/groups/${group}/offsets?topics=${topic}`)
    expect(offsets.data.offsets.find((o: any) => o.partition === 0)).toMatchObject({ topic, partition: 0, offset: 1 })

    const desc = await call('GET', `/v1/groups/${group}`)
    expect(desc.data).toMatchObject({ groupId: group, protocol: 'range' })
    expect(desc.data.members).toHaveLength(1)
    expect(desc.data.members[0]).toMatchObject({ memberId, clientId: 'test', assignment: [{ topic, partitions: [0, 1] }] })
    expect(desc.data.offsets.find((o: any) => o.partition === 0)).toMatchObject({ offset: 1, highWatermark: 2, lag: 1 })

    const list = await call('GET', '/v1/groups')
    expect(list.data.groups.map((g: any) => g.groupId)).toContain(group)

    expectError(await call('DELETE', `/v1/groups/${group}`), 409, 'NON_EMPTY_GROUP')
    const leave = await call('POST', `/v1/groups/${group}/heartbeat`, { memberId, memberEpoch: -1 })
    expect(leave.data.memberEpoch).toBe(-1)
    expect((await call('DELETE', `/v1/groups/${group}`)).data).toEqual({ deleted: group })
    expectError(await call('GET', `/v1/groups/${group}`), 404, 'GROUP_ID_NOT_FOUND')
    expect((await call('GET', '/v1/groups')).data.groups.map((g: any) => g.groupId)).not.toContain(group)
  })

  it('group errors', async () => {
    const group = unique('g')
    expectError(await call('POST', `/v1/groups/${group}/heartbeat`, { memberId: 'nobody', memberEpoch: 3, subscribedTopicNames: ['x'] }), 409, 'UNKNOWN_MEMBER_ID')
    expectError(await call('POST', `/v1/groups/${group}/heartbeat`, { memberId: '' }), 400, 'INVALID_REQUEST')
    expectError(await call('POST', `/v1/groups/${group}/heartbeat`, { memberEpoch: 0, groupId: 'other' }), 400, 'INVALID_REQUEST')
    expectError(await call('POST', `/v1/groups/${group}/offsets`, { offsets: 'none' }), 400, 'INVALID_REQUEST')
    expectError(await call('POST', `/v1/groups/${group}/offsets`, { offsets: [{ topic: 'bad topic', partition: 0, offset: 0 }] }), 400, 'INVALID_TOPIC_EXCEPTION')
    expectError(await call('GET', `/v1/groups/${'g'.repeat(256)}`), 400, 'INVALID_GROUP_ID')
  })
})

describe('access control', () => {
  const TOKENS = JSON.stringify({
    admin: { topics: { '*': ['all'] }, groups: { '*': ['all'] }, cluster: ['admin'] },
    reader: { topics: { 'pub-*': ['read'] }, groups: { 'readers-*': ['read'] } },
    writer: { topics: { 'pub-orders': ['write'] } },
  })
  const secured = { ...env, EDGELOG_TOKENS: TOKENS }
  async function as(token: string | undefined, method: string, path: string, body?: unknown, e: object = secured, host = 'https://edgelog.example.com') {
    const headers: Record<string, string> = {}
    if (token) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await app.fetch(new Request(`${host}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }), e, createExecutionContext())
    return { status: res.status, data: await res.json<any>() }
  }

  it('no token, a malformed header, or an unknown token: 401 UNAUTHENTICATED', async () => {
    expectError(await as(undefined, 'GET', '/v1/topics'), 401, 'UNAUTHENTICATED')
    expectError(await as('nope', 'GET', '/v1/topics'), 401, 'UNAUTHENTICATED')
    const res = await app.fetch(new Request('https://x.example/v1/topics', { headers: { authorization: 'Basic abc' } }), secured, createExecutionContext())
    expect(res.status).toBe(401)
    // Health and the API document stay public.
    expect((await as(undefined, 'GET', '/v1/health')).status).toBe(200)
  })

  it('with no tokens configured: open on loopback only, unless EDGELOG_ALLOW_OPEN says otherwise', async () => {
    const open = { ...env, EDGELOG_TOKENS: undefined }
    expect((await as(undefined, 'GET', '/v1/topics', undefined, open, 'http://localhost:8787')).status).toBe(200)
    expectError(await as(undefined, 'GET', '/v1/topics', undefined, open, 'https://edgelog.example.com'), 401, 'UNAUTHENTICATED')
    expect((await as(undefined, 'GET', '/v1/topics', undefined, { ...open, EDGELOG_ALLOW_OPEN: 'true' }, 'https://edgelog.example.com')).status).toBe(200)
    expectError(await as(undefined, 'GET', '/v1/topics', undefined, { ...open, EDGELOG_ALLOW_OPEN: 'false' }, 'http://127.0.0.1'), 401, 'UNAUTHENTICATED')
  })

  it('topic permissions: allowed and denied', async () => {
    const name = `pub-orders`
    await as('admin', 'DELETE', `/v1/topics/${name}`)
    expect((await as('admin', 'POST', '/v1/topics', { name, partitions: 1 })).status).toBe(201)
    expectError(await as('reader', 'POST', '/v1/topics', { name: 'pub-x' }), 403, 'TOPIC_AUTHORIZATION_FAILED')
    expectError(await as('reader', 'POST', `/v1/topics/${name}/records`, { records: [{ value: 'v' }] }), 403, 'TOPIC_AUTHORIZATION_FAILED')
    expect((await as('writer', 'POST', `/v1/topics/${name}/records`, { records: [{ value: 'v' }] })).status).toBe(200)
    expectError(await as('writer', 'GET', `/v1/topics/${name}/partitions/0/records`), 403, 'TOPIC_AUTHORIZATION_FAILED')
    expect((await as('reader', 'GET', `/v1/topics/${name}/partitions/0/records`)).data.records).toHaveLength(1)
    expectError(await as('reader', 'DELETE', `/v1/topics/${name}`), 403, 'TOPIC_AUTHORIZATION_FAILED')
    expectError(await as('reader', 'PATCH', `/v1/topics/${name}`, { partitions: 2 }), 403, 'TOPIC_AUTHORIZATION_FAILED')
    // Listing shows only what the token may see; the writer may describe what it writes.
    const seen = (await as('writer', 'GET', '/v1/topics')).data.topics.map((t: any) => t.name)
    expect(seen).toEqual([name])
    expect((await as('writer', 'GET', `/v1/topics/${name}`)).status).toBe(200)
    expect((await as('writer', 'POST', '/v1/producers')).status).toBe(200)
    expectError(await as('reader', 'POST', '/v1/producers'), 403, 'CLUSTER_AUTHORIZATION_FAILED')
  })

  it('group and cluster permissions', async () => {
    expectError(await as('reader', 'POST', '/v1/groups/other/heartbeat', { memberEpoch: 0, subscribedTopicNames: ['pub-orders'] }), 403, 'GROUP_AUTHORIZATION_FAILED')
    expectError(await as('reader', 'POST', '/v1/groups/readers-1/heartbeat', { memberEpoch: 0, subscribedTopicNames: ['secret'] }), 403, 'TOPIC_AUTHORIZATION_FAILED')
    const join = await as('reader', 'POST', '/v1/groups/readers-1/heartbeat', { memberEpoch: 0, subscribedTopicNames: ['pub-orders'] })
    expect(join.status).toBe(200)
    expectError(await as('reader', 'DELETE', '/v1/groups/readers-1'), 403, 'GROUP_AUTHORIZATION_FAILED')
    expect((await as('reader', 'POST', '/v1/groups/readers-1/heartbeat', { memberId: join.data.memberId, memberEpoch: -1 })).status).toBe(200)
    expectError(await as('reader', 'POST', '/v1/maintenance'), 403, 'CLUSTER_AUTHORIZATION_FAILED')
    expect((await as('admin', 'POST', '/v1/maintenance')).status).toBe(200)
  })
})

describe('CORS', () => {
  it('answers preflights and exposes the offset headers for the configured origins', async () => {
    const res = await SELF.fetch(`${BASE}/v1/topics`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } })
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
    const list = { ...env, EDGELOG_CORS_ORIGINS: 'https://a.example' }
    const ok = await app.fetch(new Request(`${BASE}/v1/health`, { headers: { origin: 'https://a.example' } }), list, createExecutionContext())
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://a.example')
    const other = await app.fetch(new Request(`${BASE}/v1/health`, { headers: { origin: 'https://b.example' } }), list, createExecutionContext())
    expect(other.headers.get('access-control-allow-origin')).toBeNull()
  })
})

describe('requests are checked whole before anything is stored', () => {
  const highWatermarks = async (topic: string) => (await call('GET', `/v1/topics/${topic}`)).data.partitions.map((p: any) => p.highWatermark)

  it('JSON produce sizes its batches to the topic\'s max.message.bytes', async () => {
    const topic = await createTopic(1, { 'max.message.bytes': '100000' })
    const records = Array.from({ length: 200 }, (_, i) => ({ value: `${i}:`.padEnd(1000, 'x') }))
    const r = await call('POST', `/v1/topics/${topic}/records`, { records })
    expect(r.status).toBe(200)
    expect(r.data.offsets.map((o: any) => o.offset)).toEqual(records.map((_, i) => i))
    const f = await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=0&maxBytes=10000000`, undefined, { accept: 'application/vnd.kafka.record-batch' })
    const batches = splitBatches(f.data)
    expect(batches.length).toBeGreaterThan(1)
    for (const b of batches) expect(b.byteLength).toBeLessThanOrEqual(100000)
    expect(batches.reduce((n, b) => n + readBatchHeader(b).recordCount, 0)).toBe(200)
    // A record that fits max.message.bytes alone but not with others goes in a batch of its own.
    const near = await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'a' }, { value: 'y'.repeat(99_000) }, { value: 'b' }] })
    expect(near.data.offsets.map((o: any) => o.offset)).toEqual([200, 201, 202])
    // Over the 512 KiB packing size but under the default max.message.bytes: accepted, alone.
    const big = await createTopic(1)
    const large = await call('POST', `/v1/topics/${big}/records`, { records: [{ value: 'a' }, { value: 'z'.repeat(700 * 1024) }, { value: 'b' }] })
    expect(large.data.offsets.map((o: any) => o.offset)).toEqual([0, 1, 2])
  })

  it('a record that cannot fit refuses the whole JSON request: 413, nothing stored', async () => {
    const topic = await createTopic(2)
    const r = await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'a', partition: 0 }, { value: 'b', partition: 1 }, { value: 'x'.repeat(1100 * 1024), partition: 1 }] })
    expectError(r, 413, 'MESSAGE_TOO_LARGE')
    expect(r.data.offsets).toBeUndefined()
    expect(r.data.error.message).toContain('records[2]')
    expect(await highWatermarks(topic)).toEqual([0, 0])
    const small = await createTopic(1, { 'max.message.bytes': '1000' })
    expectError(await call('POST', `/v1/topics/${small}/partitions/0/records`, { records: [{ value: 'a' }, { value: 'x'.repeat(990) }] }), 413, 'MESSAGE_TOO_LARGE')
    expect(await highWatermarks(small)).toEqual([0])
  })

  it('a JSON produce with one bad partition index stores nothing in the others', async () => {
    const topic = await createTopic(2)
    const r = await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'a', partition: 0 }, { value: 'b', partition: 1 }, { value: 'c', partition: 2 }] })
    expectError(r, 404, 'UNKNOWN_TOPIC_OR_PARTITION')
    expect(await highWatermarks(topic)).toEqual([0, 0])
    // Partitions added since the isolate cached the metadata are found (fresh metadata before refusing).
    await call('PATCH', `/v1/topics/${topic}`, { partitions: 3 })
    const ok = await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'a', partition: 0 }, { value: 'c', partition: 2 }] })
    expect(ok.data.offsets).toEqual([{ partition: 0, offset: 0 }, { partition: 2, offset: 0 }])
  })

  it('PATCH checks config and partition count before applying either', async () => {
    const topic = await createTopic(1, { 'retention.ms': '60000' })
    expectError(await call('PATCH', `/v1/topics/${topic}`, { partitions: 4, config: { 'retention.ms': 'abc' } }), 400, 'INVALID_CONFIG')
    expectError(await call('PATCH', `/v1/topics/${topic}`, { partitions: 4, config: { 'no.such': '1' } }), 400, 'INVALID_CONFIG')
    expectError(await call('PATCH', `/v1/topics/${topic}`, { partitions: 1, config: { 'retention.ms': '1000' } }), 400, 'INVALID_PARTITIONS')
    expectError(await call('PATCH', `/v1/topics/${topic}`, { partitions: 'four', config: { 'retention.ms': '1000' } }), 400, 'INVALID_PARTITIONS')
    const d = await call('GET', `/v1/topics/${topic}`)
    expect(d.data.partitions).toHaveLength(1)
    expect(d.data.config['retention.ms']).toBe(60000)
    const ok = await call('PATCH', `/v1/topics/${topic}`, { partitions: 4, config: { 'retention.ms': '1000' } })
    expect(ok.data.partitions).toHaveLength(4)
    expect(ok.data.config['retention.ms']).toBe(1000)
  })

  it('the controller\'s createPartitions checks every entry before applying any', async () => {
    const controller = env.CONTROLLER.get(env.CONTROLLER.idFromName('controller'))
    const a = await createTopic(1)
    const b = await createTopic(2)
    expect(await controller.createPartitions([{ topic: a, count: 4 }, { topic: b, count: 2 }])).toMatchObject({ ok: false, error: { code: 'INVALID_PARTITIONS' } })
    expect(await controller.createPartitions([{ topic: a, count: 4 }, { topic: unique('none'), count: 2 }])).toMatchObject({ ok: false, error: { code: 'UNKNOWN_TOPIC_OR_PARTITION' } })
    expect(await controller.createPartitions([{ topic: a, count: 4 }, { topic: a, count: 5 }])).toMatchObject({ ok: false, error: { code: 'INVALID_REQUEST' } })
    expect(await controller.createPartitions([null as never])).toMatchObject({ ok: false, error: { code: 'INVALID_REQUEST' } })
    expect(await controller.createPartitions([{ topic: a, count: 'x' as never }])).toMatchObject({ ok: false, error: { code: 'INVALID_PARTITIONS' } })
    expect((await call('GET', `/v1/topics/${a}`)).data.partitions).toHaveLength(1)
    expect(await controller.createPartitions([{ topic: a, count: 4 }, { topic: b, count: 3 }])).toEqual({ ok: true })
    expect((await call('GET', `/v1/topics/${a}`)).data.partitions).toHaveLength(4)
    expect((await call('GET', `/v1/topics/${b}`)).data.partitions).toHaveLength(3)
  })

  it('a deletion that cannot drop a partition keeps the topic until it can: no write is acknowledged and then deleted', async () => {
    const topic = await createTopic(2)
    await call('POST', `/v1/topics/${topic}/records`, { records: [{ value: 'a', partition: 0 }, { value: 'b', partition: 1 }] })
    const { topicId, config } = (await call('GET', `/v1/topics/${topic}`)).data
    const stub = (p: number) => env.PARTITION.get(env.PARTITION.idFromName(`${topicId}/${p}`))
    const target = (p: number) => ({ stream: `${topicId}/${p}`, topic, partition: p, config, configVersion: 0 })
    const batch = () => encodeBatch([{ key: null, value: enc.encode('late'), timestamp: Date.now() }])
    // Partition 1 cannot be dropped for now (its storage fails the drop's write).
    await runInDurableObject(stub(1), (object) => {
      const commit = object.storage.commit.bind(object.storage)
      object.storage.commit = async (write) => {
        if (write.deleteRanges?.length && (globalThis as any).failDrops) throw new Error('storage unavailable')
        return commit(write)
      }
    })
    ;(globalThis as any).failDrops = true
    try {
      const failed = await call('DELETE', `/v1/topics/${topic}`)
      expectError(failed, 503, 'NETWORK_EXCEPTION')
      // The deletion was not acknowledged: the topic is still there (marked for deletion) and
      // takes no new partitions or configs; its dropped partition refuses writes.
      expect((await call('GET', '/v1/topics')).data.topics.some((t: any) => t.name === topic)).toBe(true)
      expectError(await call('PATCH', `/v1/topics/${topic}`, { partitions: 3 }), 404, 'UNKNOWN_TOPIC_OR_PARTITION')
      expect(await stub(0).produce(target(0), [batch()], -1)).toMatchObject({ ok: false, error: { code: 'UNKNOWN_TOPIC_OR_PARTITION' } })
      // The alarm retries, and fails again while the partition cannot drop.
      await runDurableObjectAlarm(env.CONTROLLER.get(env.CONTROLLER.idFromName('controller')))
      expect((await call('GET', '/v1/topics')).data.topics.some((t: any) => t.name === topic)).toBe(true)
    } finally {
      ;(globalThis as any).failDrops = false
    }
    // Once the partition can drop, the alarm finishes the deletion: only now the topic is gone,
    // and every partition already refuses writes (a Worker with stale metadata gets no ack).
    await runDurableObjectAlarm(env.CONTROLLER.get(env.CONTROLLER.idFromName('controller')))
    expectError(await call('GET', `/v1/topics/${topic}`), 404, 'UNKNOWN_TOPIC_OR_PARTITION')
    for (const p of [0, 1]) expect(await stub(p).produce(target(p), [batch()], -1)).toMatchObject({ ok: false, error: { code: 'UNKNOWN_TOPIC_OR_PARTITION' } })
    expect((await call('POST', '/v1/topics', { name: topic })).status).toBe(201)
  })

  it('a retried DELETE finishes a deletion that could not drop a partition', async () => {
    const topic = await createTopic(1)
    const { topicId } = (await call('GET', `/v1/topics/${topic}`)).data
    const stub = env.PARTITION.get(env.PARTITION.idFromName(`${topicId}/0`))
    let fail = true
    await runInDurableObject(stub, (object) => {
      const commit = object.storage.commit.bind(object.storage)
      object.storage.commit = async (write) => {
        if (write.deleteRanges?.length && fail) throw new Error('storage unavailable')
        return commit(write)
      }
    })
    expectError(await call('DELETE', `/v1/topics/${topic}`), 503, 'NETWORK_EXCEPTION')
    expect((await call('GET', `/v1/topics/${topic}`)).status).toBe(200)
    fail = false
    expect((await call('DELETE', `/v1/topics/${topic}`)).data).toEqual({ deleted: topic })
    expectError(await call('GET', `/v1/topics/${topic}`), 404, 'UNKNOWN_TOPIC_OR_PARTITION')
  })
})

