/**
 * Waiting outside the partition object (issue 19, docs/scaling.md): an idle long poll and an
 * idle SSE tail hold no request open in the partition object (its own accounting), their
 * watch sockets are hibernatable, and the next append wakes them within milliseconds with
 * nothing missed.
 */
import { SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { activity, BASE, createTopic as createHelperTopic, json, produce, until } from './helpers.ts'

const createTopic = () => createHelperTopic('wait')

describe('a long poll waits in the Worker', () => {
  it('leaves the object with no request in progress, and wakes on the next append', async () => {
    const topic = await createTopic()
    await produce(topic, ['a', 'b'])
    const polling = SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/records?offset=2&maxWaitMs=20000`)
    const idle = await until(() => activity(topic), (a) => a.watchers === 1)
    expect(idle.inFlight).toBe(0)
    expect(idle.parked).toBe(0)
    const started = Date.now()
    expect((await produce(topic, ['c'])).status).toBe(200)
    const res = await polling
    const latency = Date.now() - started
    const body = await res.json<any>()
    expect(body.records.map((r: any) => [r.offset, r.value])).toEqual([[2, 'c']])
    expect(body.highWatermark).toBe(3)
    expect(res.headers.get('Edgelog-Next-Offset')).toBe('3')
    expect(latency).toBeLessThan(1_000)
    await until(() => activity(topic), (a) => a.watchers === 0 && a.inFlight === 0)
  })

  it('answers at once when there is data, and empty with the high watermark at its deadline', async () => {
    const topic = await createTopic()
    await produce(topic, ['a'])
    const ready = await (await SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/records?offset=0&maxWaitMs=20000`)).json<any>()
    expect(ready.records.map((r: any) => r.value)).toEqual(['a'])
    const started = Date.now()
    const res = await SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/records?offset=1&maxWaitMs=300`)
    const empty = await res.json<any>()
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
    expect(empty).toMatchObject({ records: [], highWatermark: 1, logStartOffset: 0, nextOffset: 1 })
    expect((await activity(topic)).parked).toBe(0)
  })

  it('keeps the fetch errors: an offset past the end, an unknown partition', async () => {
    const topic = await createTopic()
    const past = await json('GET', `/v1/topics/${topic}/partitions/0/records?offset=5&maxWaitMs=1000`)
    expect(past.status).toBe(416)
    expect(past.data.error.code).toBe('OFFSET_OUT_OF_RANGE')
    const unknown = await json('GET', `/v1/topics/${topic}/partitions/3/records?offset=0&maxWaitMs=1000`)
    expect(unknown.data.error.code).toBe('UNKNOWN_TOPIC_OR_PARTITION')
  })

  it('with minBytes, waits for enough bytes and none is lost between appends', async () => {
    const topic = await createTopic()
    const polling = SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/records?offset=0&maxWaitMs=20000&minBytes=300`)
    await until(() => activity(topic), (a) => a.watchers === 1)
    await produce(topic, ['x'])
    await new Promise((r) => setTimeout(r, 50))
    expect((await activity(topic)).watchers).toBe(1)
    await produce(topic, ['y'.repeat(400)])
    const body = await (await polling).json<any>()
    expect(body.records.map((r: any) => r.offset)).toEqual([0, 1])
  })

  it('many idle long polls on one partition: one watch each, none in the object', async () => {
    const topic = await createTopic()
    const polls = Array.from({ length: 20 }, () => SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/records?offset=0&maxWaitMs=20000`))
    const idle = await until(() => activity(topic), (a) => a.watchers === 20)
    expect(idle.inFlight).toBe(0)
    await produce(topic, ['one'])
    for (const res of await Promise.all(polls)) expect((await res.json<any>()).records.map((r: any) => r.value)).toEqual(['one'])
  })
})

describe('a live tail waits in the Worker', () => {
  it('idle: no request in the object; each append arrives in order, nothing missed', async () => {
    const topic = await createTopic()
    await produce(topic, ['old'])
    const controller = new AbortController()
    const res = await SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/tail?offset=earliest&limit=5&maxWaitMs=20000`, { signal: controller.signal })
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    let text = ''
    const events = () => [...text.matchAll(/id: (\d+)\nevent: record\ndata: (.*)\n/g)].map((m) => JSON.parse(m[2]))
    const readUntil = async (n: number) => {
      while (events().length < n) {
        const { value, done } = await reader.read()
        if (done) break
        text += value
      }
      return events()
    }
    expect((await readUntil(1)).map((r) => r.value)).toEqual(['old'])
    const idle = await until(() => activity(topic), (a) => a.watchers === 1)
    expect(idle.inFlight).toBe(0)
    expect(idle.parked).toBe(0)
    const started = Date.now()
    await produce(topic, ['n1'])
    expect((await readUntil(2)).map((r) => r.value)).toEqual(['old', 'n1'])
    expect(Date.now() - started).toBeLessThan(1_000)
    // Appends in quick succession, pushed one after another on the same socket.
    await produce(topic, ['n2', 'n3'])
    await produce(topic, ['n4'])
    const all = await readUntil(5)
    expect(all.map((r) => [r.offset, r.value])).toEqual([[0, 'old'], [1, 'n1'], [2, 'n2'], [3, 'n3'], [4, 'n4']])
    // limit=5 reached: the stream ends and the watch closes.
    for (;;) if ((await reader.read()).done) break
    await until(() => activity(topic), (a) => a.watchers === 0)
  })

  it('a topic deleted under an idle tail ends it with an error event', async () => {
    const topic = await createTopic()
    const res = await SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/tail?offset=latest&maxWaitMs=20000`)
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    await until(() => activity(topic), (a) => a.watchers === 1)
    expect((await json('DELETE', `/v1/topics/${topic}`)).status).toBe(200)
    let text = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      text += value
    }
    expect(text).toContain('event: error')
    expect(text).toContain('UNKNOWN_TOPIC_OR_PARTITION')
  })
})
