/**
 * Durable Streams live modes wait in the Worker (issue 19, worker/ds/wait.ts): an idle
 * `live=long-poll` and an up-to-date `live=sse` leave the partition object with no request in
 * progress (its own accounting: one watch socket, nothing in flight, nothing parked), and
 * wake on the next append, and on a close that appends nothing.
 */
import { SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { topicOfPath } from '../../worker/ds/protocol.ts'
import { until } from './helpers.ts'

const BASE = 'http://127.0.0.1'
let counter = 0
const unique = (p: string) => `/${p}-${Date.now().toString(36)}-${counter++}`

async function stream(): Promise<{ path: string; topic: string }> {
  const path = unique('dswait')
  const res = await SELF.fetch(`${BASE}/ds${path}`, { method: 'PUT', headers: { 'content-type': 'text/plain' } })
  expect(res.status).toBe(201)
  return { path, topic: await topicOfPath(path) }
}

const append = (path: string, body: string, headers: Record<string, string> = {}) =>
  SELF.fetch(`${BASE}/ds${path}`, { method: 'POST', headers: { 'content-type': 'text/plain', ...headers }, body })
const activity = async (topic: string) => (await (await SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/activity`)).json<any>())

describe('Durable Streams live modes wait in the Worker', () => {
  it('an idle long poll leaves the object with no request in progress, and wakes on the next append', async () => {
    const { path, topic } = await stream()
    expect((await append(path, 'a')).status).toBe(204)
    const polling = SELF.fetch(`${BASE}/ds${path}?offset=now&live=long-poll`)
    const idle = await until(() => activity(topic), (a) => a.watchers === 1)
    expect(idle.inFlight).toBe(0)
    expect(idle.parked).toBe(0)
    expect((await append(path, 'b')).status).toBe(204)
    const res = await polling
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('b')
    expect(res.headers.get('Stream-Next-Offset')).toBeTruthy()
    await until(() => activity(topic), (a) => a.watchers === 0 && a.inFlight === 0)
  })

  it('a close that appends nothing ends a waiting long poll with Stream-Closed', async () => {
    const { path, topic } = await stream()
    const polling = SELF.fetch(`${BASE}/ds${path}?offset=now&live=long-poll`)
    await until(() => activity(topic), (a) => a.watchers === 1)
    const closed = await append(path, '', { 'Stream-Closed': 'true' })
    expect(closed.status).toBeLessThan(300)
    const res = await polling
    expect(res.status).toBe(204)
    expect(res.headers.get('Stream-Closed')).toBe('true')
  })

  it('an up-to-date SSE reader holds one watch and nothing in the object; each append reaches it', async () => {
    const { path, topic } = await stream()
    expect((await append(path, 'first')).status).toBe(204)
    const controller = new AbortController()
    const res = await SELF.fetch(`${BASE}/ds${path}?offset=-1&live=sse`, { signal: controller.signal })
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    const text = new TextDecoder()
    let got = ''
    const readUntil = async (needle: string) => {
      while (!got.includes(needle)) {
        const { value, done } = await reader.read()
        if (done) throw new Error(`stream ended before ${needle}: ${got}`)
        got += text.decode(value)
      }
    }
    await readUntil('first')
    const idle = await until(() => activity(topic), (a) => a.watchers === 1)
    expect(idle.inFlight).toBe(0)
    expect(idle.parked).toBe(0)
    expect((await append(path, 'second')).status).toBe(204)
    await readUntil('second')
    expect((await append(path, 'third')).status).toBe(204)
    await readUntil('third')
    expect(got.indexOf('first')).toBeLessThan(got.indexOf('second'))
    expect(got.split('second').length).toBe(2)
    controller.abort()
    await reader.cancel().catch(() => {})
  })
})
