/**
 * `edgelog/http` against the real Worker inside workerd (SELF.fetch): the same KafkaJS-shaped
 * client as in process, producing binary batches and consuming with a group. And the SSE tail.
 */
import { SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { connect, HttpBroker } from '../../adapters/http/index.ts'
import { isEdgelogError } from '../../core/errors.ts'

const selfFetch = (request: Request) => SELF.fetch(request)
const open = () => connect({ url: 'http://127.0.0.1', fetch: selfFetch })
let n = 0
const unique = (p: string) => `${p}-${Date.now().toString(36)}-${n++}`
const text = (v: Uint8Array | null | undefined) => (v ? new TextDecoder().decode(v) : null)

describe('connect(): the KafkaJS-shaped client over HTTP', () => {
  it('admin, idempotent producer and a group consumer', async () => {
    const log = open()
    const topic = unique('email')
    const admin = log.admin()
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] })
    await admin.createPartitions({ topicPartitions: [{ topic, count: 4 }] })
    expect((await admin.listTopics())).toContain(topic)
    const meta = await admin.fetchTopicMetadata({ topics: [topic] })
    expect(meta.topics[0].partitions).toHaveLength(4)

    const producer = log.producer({ idempotent: true })
    await producer.connect()
    const sent = await producer.send({ topic, messages: [{ key: 'u1', value: 'hi', headers: { h: 'v' } }, { key: 'u1', value: 'again' }] })
    expect(sent[0]).toMatchObject({ topicName: topic, errorCode: 0, baseOffset: '0' })
    const messages = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }))
    await producer.send({ topic, messages })
    const offsets = await admin.fetchTopicOffsets(topic)
    expect(offsets.reduce((s: number, o: any) => s + Number(o.high), 0)).toBe(52)

    const consumer = log.consumer({ groupId: unique('mailer'), maxWaitTimeInMs: 200, heartbeatInterval: 200 } as never)
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    const seen: Array<{ partition: number; offset: string; value: string | null; headers: unknown }> = []
    const done = new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          seen.push({ partition, offset: message.offset, value: text(message.value), headers: message.headers })
          if (seen.length === 52) resolve()
        },
      })
    })
    await done
    const first = seen.find((m) => m.value === 'hi')!
    expect(first.offset).toBe('0')
    expect(text((first.headers as any).h)).toBe('v')
    expect(seen.find((m) => m.value === 'again')).toMatchObject({ partition: first.partition, offset: '1' })
    expect(new Set(seen.map((m) => `${m.partition}/${m.offset}`)).size).toBe(52)

    await consumer.disconnect()
    await producer.disconnect()
    await admin.deleteTopics({ topics: [topic] })
    expect(await admin.listTopics()).not.toContain(topic)
    await log.close()
  })

  it('a send answers with the log start offset, and the append time of a LogAppendTime topic', async () => {
    const log = open()
    const admin = log.admin()
    const stamped = unique('stamped')
    const plain = unique('plain')
    await admin.createTopics({ topics: [
      { topic: stamped, numPartitions: 1, configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] },
      { topic: plain, numPartitions: 1 },
    ] })
    const producer = log.producer()
    await producer.connect()
    const before = Date.now()
    const [s] = await producer.send({ topic: stamped, messages: [{ value: 'a', timestamp: '1000' }] })
    expect(Number(s.logAppendTime)).toBeGreaterThanOrEqual(before - 1000)
    expect(s.logStartOffset).toBe('0')
    const [p] = await producer.send({ topic: plain, messages: [{ value: 'a' }] })
    expect(p.logAppendTime).toBe('-1')
    expect(p.logStartOffset).toBe('0')
    await producer.disconnect()
    await admin.deleteTopics({ topics: [stamped, plain] })
    await log.close()
  })

  it('server errors become EdgelogError with the same code', async () => {
    const broker = new HttpBroker({ url: 'http://127.0.0.1', fetch: selfFetch })
    const err = await broker.fetch({ topic: unique('missing'), partition: 0, offset: 0, maxBytes: 100 }).catch((e) => e)
    expect(isEdgelogError(err, 'UNKNOWN_TOPIC_OR_PARTITION')).toBe(true)
    expect(err.retriable).toBe(true)
    const bad = await broker.createTopics({ topics: [{ topic: 'bad name' }] }).catch((e) => e)
    expect(isEdgelogError(bad, 'INVALID_TOPIC_EXCEPTION')).toBe(true)
    const results = await broker.produce({ acks: -1, entries: [{ topic: unique('auto'), partition: 0, batch: new Uint8Array(70) }] })
    expect(results[0].error?.code).toBe('CORRUPT_MESSAGE')
    const denied = new HttpBroker({ url: 'https://edgelog.example.com', fetch: selfFetch })
    expect(isEdgelogError(await denied.listGroups().catch((e) => e), 'UNAUTHENTICATED')).toBe(true)
  })
})

describe('live tail (Server-Sent Events)', () => {
  async function readEvents(res: Response, count: number): Promise<Array<{ id: string; event: string; data: any }>> {
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    let buffer = ''
    const events: Array<{ id: string; event: string; data: any }> = []
    while (events.length < count) {
      const { done, value } = await reader.read()
      if (done) break
      buffer += value
      let at: number
      while ((at = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, at)
        buffer = buffer.slice(at + 2)
        const fields: Record<string, string> = {}
        for (const line of block.split('\n')) {
          if (line.startsWith(':') || !line.includes(':')) continue
          const i = line.indexOf(':')
          fields[line.slice(0, i)] = line.slice(i + 1).trimStart()
        }
        if (fields.event) events.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data) })
      }
    }
    await reader.cancel().catch(() => {})
    return events
  }

  it('delivers records as they arrive, and resumes after Last-Event-ID', async () => {
    const topic = unique('tail')
    await SELF.fetch('http://127.0.0.1/v1/topics', { method: 'POST', body: JSON.stringify({ name: topic }), headers: { 'content-type': 'application/json' } })
    const post = (values: string[]) => SELF.fetch(`http://127.0.0.1/v1/topics/${topic}/records`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records: values.map((value) => ({ value })) }),
    })
    await post(['a', 'b'])
    const res = await SELF.fetch(`http://127.0.0.1/v1/topics/${topic}/partitions/0/tail?offset=earliest&limit=4&maxWaitMs=5000`)
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const later = (async () => { await new Promise((r) => setTimeout(r, 200)); await post(['c', 'd']) })()
    const events = await readEvents(res, 4)
    await later
    expect(events.map((e) => [e.id, e.event, e.data.value])).toEqual([['0', 'record', 'a'], ['1', 'record', 'b'], ['2', 'record', 'c'], ['3', 'record', 'd']])
    expect(events[0].data.offset).toBe(0)

    const resumed = await SELF.fetch(`http://127.0.0.1/v1/topics/${topic}/partitions/0/tail?limit=1`, { headers: { 'last-event-id': '2' } })
    expect((await readEvents(resumed, 1)).map((e) => e.data.value)).toEqual(['d'])
  })

  it('refuses a bad start with a JSON error', async () => {
    const res = await SELF.fetch(`http://127.0.0.1/v1/topics/${unique('none')}/partitions/0/tail`)
    expect(res.status).toBe(404)
    expect((await res.json<any>()).error.code).toBe('UNKNOWN_TOPIC_OR_PARTITION')
    const bad = await SELF.fetch(`http://127.0.0.1/v1/topics/x/partitions/0/tail`, { headers: { 'last-event-id': 'abc' } })
    expect(bad.status).toBe(400)
  })
})
