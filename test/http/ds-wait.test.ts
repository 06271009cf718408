/**
 * Under `wrangler dev`: an idle Durable Streams long poll (`/ds/`, `live=long-poll`) and an
 * up-to-date `live=sse` reader wait in the Worker (worker/ds/wait.ts): the partition object has
 * no request in progress and none is made while they wait (its own accounting), and the next
 * append wakes both.
 */
import { describe, expect, it } from 'vitest'
import { topicOfPath } from '../../worker/ds/protocol.ts'
import { until } from '../until.ts'
import { useWranglerDev } from './wrangler-suite.ts'

const dev = useWranglerDev('edgelog-ds-wait-')

const activity = async (topic: string) => (await (await fetch(`${dev.url}/v1/topics/${topic}/partitions/0/activity`)).json()) as any

describe('wrangler dev: Durable Streams live modes wait outside the partition object', () => {
  it('an idle long poll and an idle SSE reader: no request in progress in the object; the next append wakes both', async () => {
    const path = `/idle-${Date.now()}`
    const topic = await topicOfPath(path)
    const url = `${dev.url}/ds${path}`
    expect((await fetch(url, { method: 'PUT', headers: { 'content-type': 'text/plain' } })).status).toBe(201)
    expect((await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'first' })).status).toBe(204)

    const polled = fetch(`${url}?offset=now&live=long-poll`)
    const sse = await fetch(`${url}?offset=-1&live=sse`)
    const reader = sse.body!.pipeThrough(new TextDecoderStream()).getReader()
    let text = ''
    while (!text.includes('first')) text += (await reader.read()).value ?? ''
    const idle = await until(() => activity(topic), (a) => a.watchers === 2, 10_000, 20)
    expect(idle.inFlight).toBe(0)
    expect(idle.parked).toBe(0)

    expect((await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'second' })).status).toBe(204)
    const answer = await polled
    expect(answer.status).toBe(200)
    expect(await answer.text()).toBe('second')
    while (!text.includes('second')) text += (await reader.read()).value ?? ''
    expect(text.split('second').length).toBe(2)
    await reader.cancel()
  }, 60_000)
})
