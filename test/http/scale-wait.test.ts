/**
 * Issue 19 under `wrangler dev`, as deployed: an idle long poll and an idle SSE tail wait in the
 * Worker, the partition object has no request in progress (its own accounting, through
 * GET …/activity), and the next append reaches both within milliseconds, nothing missed. A
 * repeated read of a sealed segment comes from the Cache API without reaching the object.
 */
import { describe, expect, it } from 'vitest'
import { until } from '../until.ts'
import { useWranglerDev } from './wrangler-suite.ts'

const dev = useWranglerDev('edgelog-scale-')

async function call(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${dev.url}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: res.status, headers: res.headers, data: await res.json() }
}
const activity = async (topic: string) => (await call('GET', `/v1/topics/${topic}/partitions/0/activity`)).data

describe('wrangler dev: waiting outside the partition object', () => {
  it('an idle long poll and an idle tail: no request in progress in the object; the next append wakes both', async () => {
    const topic = `idle-${Date.now()}`
    expect((await call('POST', '/v1/topics', { name: topic, partitions: 1 })).status).toBe(201)
    await call('POST', `/v1/topics/${topic}/partitions/0/records`, { records: [{ value: 'first' }] })

    const pollStarted = fetch(`${dev.url}/v1/topics/${topic}/partitions/0/records?offset=1&maxWaitMs=30000`)
    const tail = await fetch(`${dev.url}/v1/topics/${topic}/partitions/0/tail?offset=1&maxWaitMs=30000`)
    const reader = tail.body!.pipeThrough(new TextDecoderStream()).getReader()
    const idle = await until(() => activity(topic), (a) => a.watchers === 2, 10_000, 20)
    expect(idle.inFlight).toBe(0)
    expect(idle.parked).toBe(0)
    // Still idle a moment later: nothing polls the object.
    const requestsBefore = idle.requests
    await new Promise((r) => setTimeout(r, 500))
    const later = await activity(topic)
    expect(later.inFlight).toBe(0)
    expect(later.requests).toBe(requestsBefore)

    const t0 = performance.now()
    const produced = call('POST', `/v1/topics/${topic}/partitions/0/records`, { records: [{ value: 'second' }] })
    const polled = await (await pollStarted).json()
    const pollMs = performance.now() - t0
    let text = ''
    while (!text.includes('event: record')) text += (await reader.read()).value ?? ''
    const tailMs = performance.now() - t0
    await produced
    await reader.cancel()
    expect(polled.records.map((r: any) => [r.offset, r.value])).toEqual([[1, 'second']])
    expect(text).toContain('"value":"second"')
    console.log(`wake latency on wrangler dev: long poll ${pollMs.toFixed(1)} ms, tail ${tailMs.toFixed(1)} ms (produce round trip included)`)
    expect(pollMs).toBeLessThan(1_000)
    expect(tailMs).toBeLessThan(1_000)
  })

  it('a repeated read of a sealed segment does not reach the object', async () => {
    const topic = `sealed-${Date.now()}`
    expect((await call('POST', '/v1/topics', { name: topic, partitions: 1, config: { 'segment.bytes': '300' } })).status).toBe(201)
    for (let i = 0; i < 6; i++) await call('POST', `/v1/topics/${topic}/partitions/0/records`, { records: [{ value: `v${i}-${'x'.repeat(80)}` }] })
    const first = await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`)
    expect(first.headers.get('edgelog-cache')).toBe('miss')
    const before = (await activity(topic)).requests
    for (let i = 0; i < 10; i++) {
      const again = await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`)
      expect(again.headers.get('edgelog-cache')).toBe('hit')
      expect(again.data.records).toEqual(first.data.records)
    }
    expect((await activity(topic)).requests).toBe(before)
  })
})
