/**
 * The WebSocket live tail (issue 21): same route as the SSE tail with `Upgrade: websocket`,
 * resumable by offset, back-pressure by credit (the Worker sends no more records than granted
 * and holds no watch on the partition object while the client grants none), and idle waits
 * outside the object.
 */
import { SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { activity, BASE, createTopic as createHelperTopic, produce, unique, until } from './helpers.ts'

const createTopic = () => createHelperTopic('wstail')

/** Opens the tail and collects its messages. */
async function openTail(topic: string, query: string) {
  const res = await SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/tail?${query}`, { headers: { Upgrade: 'websocket' } })
  expect(res.status).toBe(101)
  const ws = res.webSocket!
  ws.accept()
  const messages: any[] = []
  let closed: { code: number } | undefined
  ws.addEventListener('message', (e) => { messages.push(JSON.parse(e.data as string)) })
  ws.addEventListener('close', (e) => { closed = { code: e.code } })
  const records = () => messages.filter((m) => m.type === 'records').flatMap((m) => m.records)
  return { ws, messages, records, closed: () => closed }
}

describe('WebSocket tail', () => {
  it('sends what is stored from the offset, then live appends, with offsets to resume from', async () => {
    const topic = await createTopic()
    await produce(topic, ['a', 'b', 'c'])
    const tail = await openTail(topic, 'offset=1')
    await until(() => tail.records().length, (n) => n === 2)
    expect(tail.records().map((r: any) => [r.offset, r.value])).toEqual([[1, 'b'], [2, 'c']])
    await produce(topic, ['d'])
    await until(() => tail.records().length, (n) => n === 3)
    expect(tail.records()[2]).toMatchObject({ offset: 3, value: 'd' })
    const last = tail.messages.filter((m) => m.type === 'records').at(-1)
    expect(last.next).toBe(4)
    expect(last.highWatermark).toBe(4)
    tail.ws.close()

    // Resuming from `next` gets exactly what came after.
    await produce(topic, ['e'])
    const again = await openTail(topic, `offset=${last.next}`)
    await until(() => again.records().length, (n) => n === 1)
    expect(again.records()[0]).toMatchObject({ offset: 4, value: 'e' })
    again.ws.close()
  })

  it('sends no more than the credit granted, and holds no watch on the object while it has none', async () => {
    const topic = await createTopic()
    await produce(topic, Array.from({ length: 50 }, (_, i) => `v${i}`))
    const tail = await openTail(topic, 'offset=earliest&credit=10')
    await until(() => tail.records().length, (n) => n === 10)
    // No credit left: nothing more comes, and the object has no watcher for this tail.
    await produce(topic, ['more'])
    await new Promise((r) => setTimeout(r, 200))
    expect(tail.records().length).toBe(10)
    expect((await activity(topic)).watchers).toBe(0)
    tail.ws.send(JSON.stringify({ credit: 100 }))
    await until(() => tail.records().length, (n) => n === 51)
    expect(tail.records().map((r: any) => r.offset)).toEqual(Array.from({ length: 51 }, (_, i) => i))
    // At the end of the log with credit: it waits on the object's watch, the object idle.
    const idle = await until(() => activity(topic), (a) => a.watchers === 1)
    expect(idle.inFlight).toBe(0)
    tail.ws.close()
    await until(() => activity(topic), (a) => a.watchers === 0)
  })

  it('closes after ?limit records, and answers a bad grant with a typed error', async () => {
    const topic = await createTopic()
    await produce(topic, ['a', 'b', 'c'])
    const limited = await openTail(topic, 'offset=0&limit=2')
    await until(() => limited.closed(), (c) => c !== undefined)
    expect(limited.records().map((r: any) => r.value)).toEqual(['a', 'b'])
    expect(limited.closed()!.code).toBe(1000)

    const bad = await openTail(topic, 'offset=3')
    bad.ws.send('{"credit": -1}')
    await until(() => bad.closed(), (c) => c !== undefined)
    expect(bad.messages.at(-1)).toMatchObject({ type: 'error', error: { code: 'INVALID_REQUEST' } })
    expect(bad.closed()!.code).toBe(1011)
  })

  it('refuses an unknown topic or a bad credit before upgrading', async () => {
    const missing = await SELF.fetch(`${BASE}/v1/topics/${unique('none')}/partitions/0/tail`, { headers: { Upgrade: 'websocket' } })
    expect(missing.status).toBe(404)
    expect((await missing.json<any>()).error.code).toBe('UNKNOWN_TOPIC_OR_PARTITION')
    const topic = await createTopic()
    const badCredit = await SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/tail?credit=0`, { headers: { Upgrade: 'websocket' } })
    expect(badCredit.status).toBe(400)
  })
})
