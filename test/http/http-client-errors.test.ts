/**
 * `edgelog/http` fails typed, at every stage of a request: connect, answer, body read, timeout,
 * abort, close. Each failure is an EdgelogError whose `retriable` says whether sending the same
 * request again may succeed; a produce whose answer is lost is never reported as stored.
 * Against a real socket (test/http/local-http-server.ts) and a custom `fetch`.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { connect, HttpBroker } from '../../adapters/http/index.ts'
import { encodeBatch } from '../../core/codec/record-batch.ts'
import { isEdgelogError, type EdgelogError } from '../../core/errors.ts'
import { startLocalHttpServer, type Fault, type LocalHttpServer } from './local-http-server.ts'

let server: LocalHttpServer | undefined
const brokers: HttpBroker[] = []
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.close()
  await server?.close()
  server = undefined
})

async function setUp(options: { requestTimeout?: number } = {}) {
  server = await startLocalHttpServer()
  const broker = new HttpBroker({ url: server.url, ...options })
  brokers.push(broker)
  await broker.createTopics({ topics: [{ topic: 't', numPartitions: 1 }] })
  return { server, broker }
}

/** The rejection of `p`, checked to be an EdgelogError. */
async function failure(p: Promise<unknown>): Promise<EdgelogError> {
  const error = await p.then(() => { throw new Error('expected a rejection') }, (e) => e)
  expect(isEdgelogError(error), `${error}`).toBe(true)
  return error as EdgelogError
}

const batch = (value: string) => encodeBatch([{ key: null, value: new TextEncoder().encode(value), timestamp: Date.now() }])

/** Faults the next request matching `path` (once), then answers normally. */
function once(s: LocalHttpServer, fault: Fault, path: RegExp) {
  let used = false
  s.fault = (_method, p) => {
    if (used || !path.test(p)) return undefined
    used = true
    return fault
  }
}

describe('HttpBroker: every failure is a typed EdgelogError', () => {
  it('nothing listening (connect refused): NETWORK_EXCEPTION, retriable', async () => {
    const { server: s, broker } = await setUp()
    await s.kill()
    const e = await failure(broker.metadata({}))
    expect(e).toMatchObject({ code: 'NETWORK_EXCEPTION', retriable: true })
    expect(e.message).toContain('POST /v1/metadata')
    await s.restart()
  })

  it('the connection is reset before the answer: NETWORK_EXCEPTION, retriable', async () => {
    const { server: s, broker } = await setUp()
    once(s, 'drop-headers', /metadata/)
    expect(await failure(broker.metadata({}))).toMatchObject({ code: 'NETWORK_EXCEPTION', retriable: true })
    expect((await broker.metadata({})).map((t) => t.name)).toEqual(['t']) // the next one goes through
  })

  it('the connection drops while a JSON answer is read (undici\'s "terminated"): NETWORK_EXCEPTION, retriable', async () => {
    const { server: s, broker } = await setUp()
    once(s, 'drop-mid-body', /metadata/)
    const e = await failure(broker.metadata({}))
    expect(e).toMatchObject({ code: 'NETWORK_EXCEPTION', retriable: true })
    expect(e.message).toMatch(/answer/)
  })

  it('the connection drops while fetched record batches are read: NETWORK_EXCEPTION, retriable', async () => {
    const { server: s, broker } = await setUp()
    await broker.produce({ acks: -1, entries: [{ topic: 't', partition: 0, batch: batch('x'.repeat(64 * 1024)) }] })
    once(s, 'drop-mid-body', /records$/)
    const e = await failure(broker.fetch({ topic: 't', partition: 0, offset: 0, maxBytes: 1 << 20 }))
    expect(e).toMatchObject({ code: 'NETWORK_EXCEPTION', retriable: true })
  })

  it('a 2xx answer cut short (not complete JSON, or part of a record batch): NETWORK_EXCEPTION, retriable', async () => {
    const { server: s, broker } = await setUp()
    once(s, 'truncate', /metadata/)
    expect(await failure(broker.metadata({}))).toMatchObject({ code: 'NETWORK_EXCEPTION', retriable: true })
    await broker.produce({ acks: -1, entries: [{ topic: 't', partition: 0, batch: batch('y') }] })
    once(s, 'truncate', /records$/)
    expect(await failure(broker.fetch({ topic: 't', partition: 0, offset: 0, maxBytes: 1 << 20 }))).toMatchObject({ code: 'NETWORK_EXCEPTION', retriable: true })
  })

  it('a proxy\'s 502 page (no edgelog body): NETWORK_EXCEPTION, retriable; an edgelog error body keeps its code', async () => {
    const { server: s, broker } = await setUp()
    once(s, 'html-502', /metadata/)
    const e = await failure(broker.metadata({}))
    expect(e).toMatchObject({ code: 'NETWORK_EXCEPTION', retriable: true })
    expect(e.message).toContain('502')
    expect(await failure(broker.metadata({ topics: ['missing'] }))).toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION', retriable: true })
    expect(await failure(broker.createTopics({ topics: [{ topic: 'bad name' }] }))).toMatchObject({ code: 'INVALID_TOPIC_EXCEPTION', retriable: false })
  })

  it('no answer within requestTimeout: REQUEST_TIMED_OUT, retriable, and the request is given up', async () => {
    const { server: s, broker } = await setUp({ requestTimeout: 300 })
    s.fault = (_m, p) => (p.endsWith('/heartbeat') ? 'hang' : undefined)
    const started = Date.now()
    const e = await failure(broker.groupHeartbeat({ groupId: 'g', memberId: 'm', memberEpoch: 0, subscribedTopicNames: ['t'] }))
    expect(e).toMatchObject({ code: 'REQUEST_TIMED_OUT', retriable: true })
    expect(Date.now() - started).toBeGreaterThanOrEqual(290)
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it('a long poll may take its maxWaitMs on top of requestTimeout', async () => {
    const { broker } = await setUp({ requestTimeout: 200 })
    const started = Date.now()
    const result = await broker.fetch({ topic: 't', partition: 0, offset: 0, maxBytes: 1 << 20, maxWaitMs: 600 })
    expect(result.batches).toEqual([])
    expect(Date.now() - started).toBeGreaterThanOrEqual(550)
  })

  it('close() ends requests in flight (a parked fetch) and later ones with CLOSED', async () => {
    const { broker } = await setUp()
    const parked = broker.fetch({ topic: 't', partition: 0, offset: 0, maxBytes: 1 << 20, maxWaitMs: 30_000 })
    await new Promise((r) => setTimeout(r, 50))
    const started = Date.now()
    await broker.close()
    expect(await failure(parked)).toMatchObject({ code: 'CLOSED', retriable: false })
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(await failure(broker.metadata({}))).toMatchObject({ code: 'CLOSED' })
  })

  it('the caller\'s signal aborts a parked fetch at once; not retriable', async () => {
    const { broker } = await setUp()
    const abort = new AbortController()
    const parked = broker.fetch({ topic: 't', partition: 0, offset: 0, maxBytes: 1 << 20, maxWaitMs: 30_000 }, { signal: abort.signal })
    await new Promise((r) => setTimeout(r, 50))
    const started = Date.now()
    abort.abort()
    expect(await failure(parked)).toMatchObject({ code: 'NETWORK_EXCEPTION', retriable: false })
    expect(Date.now() - started).toBeLessThan(1_000)
  })

  it('a request body that cannot be JSON, and a bad url: INVALID_REQUEST, not retriable', async () => {
    const { broker } = await setUp()
    expect(await failure(broker.commitOffsets({ groupId: 'g', offsets: [{ topic: 't', partition: 0, offset: 1n as unknown as number }] })))
      .toMatchObject({ code: 'INVALID_REQUEST', retriable: false })
    const bad = new HttpBroker({ url: 'not a url' })
    expect(await failure(bad.metadata({}))).toMatchObject({ code: 'INVALID_REQUEST', retriable: false })
  })

  it('a custom fetch that throws, or whose body errors mid-read: NETWORK_EXCEPTION, retriable', async () => {
    const throwing = new HttpBroker({ url: 'http://edge.test', fetch: async () => { throw new TypeError('fetch failed') } })
    expect(await failure(throwing.metadata({}))).toMatchObject({ code: 'NETWORK_EXCEPTION', retriable: true })
    const cut = new HttpBroker({
      url: 'http://edge.test',
      fetch: async () => new Response(new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"topics":['))
          setTimeout(() => controller.error(new TypeError('terminated')), 10)
        },
      }), { status: 200, headers: { 'content-type': 'application/json' } }),
    })
    expect(await failure(cut.metadata({}))).toMatchObject({ code: 'NETWORK_EXCEPTION', retriable: true })
    const gateway = new HttpBroker({ url: 'http://edge.test', fetch: async () => new Response('upstream down', { status: 503 }) })
    expect(await failure(gateway.metadata({}))).toMatchObject({ code: 'NETWORK_EXCEPTION', retriable: true })
  })
})

describe('HttpBroker.produce: an answer that is lost is an unknown outcome, never a success', () => {
  for (const fault of ['drop-mid-body', 'truncate', 'lose-answer', 'html-502'] as const) {
    it(`${fault}: each batch is reported with a retriable error`, async () => {
      const { server: s, broker } = await setUp()
      once(s, fault, /records$/)
      const results = await broker.produce({ acks: -1, entries: [{ topic: 't', partition: 0, batch: batch('a') }, { topic: 't', partition: 0, batch: batch('b') }] })
      for (const r of results) {
        expect(r.errorCode).not.toBe(0)
        expect(r.baseOffset).toBe(-1)
        expect(r.error?.code).toBe('NETWORK_EXCEPTION')
      }
    })
  }

  it('an idempotent producer retries a produce whose answer was lost, and the records are stored once', async () => {
    server = await startLocalHttpServer()
    const log = connect({ url: server.url })
    await log.admin().createTopics({ topics: [{ topic: 't', numPartitions: 1 }] })
    const producer = log.producer({ idempotent: true, retry: { initialRetryTime: 10 } })
    await producer.connect()
    for (const fault of ['lose-answer', 'drop-mid-body', 'truncate'] as const) {
      once(server, fault, /records$/)
      const [r] = await producer.send({ topic: 't', messages: [{ value: fault }] })
      expect(r.errorCode).toBe(0)
    }
    const fetched = await log.broker.fetch({ topic: 't', partition: 0, offset: 0, maxBytes: 1 << 20 })
    expect(fetched.highWatermark).toBe(3) // stored once each, though each answer was lost
    await log.close()
  })

  it('a producer whose server stays away rejects the send with a retriable error once its retries are spent', async () => {
    server = await startLocalHttpServer()
    const log = connect({ url: server.url })
    await log.admin().createTopics({ topics: [{ topic: 't', numPartitions: 1 }] })
    const producer = log.producer({ retry: { retries: 2, initialRetryTime: 10 } })
    await producer.connect()
    await producer.send({ topic: 't', messages: [{ value: 'warm' }] }) // metadata cached
    server.fault = (_m, p) => (p.endsWith('/records') ? 'lose-answer' : undefined)
    const e = await failure(producer.send({ topic: 't', messages: [{ value: 'lost' }] }))
    expect(e).toMatchObject({ code: 'NETWORK_EXCEPTION', retriable: true })
    await log.close()
  })
})
