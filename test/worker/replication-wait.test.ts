/**
 * Readers waiting on a replicated topic (long polls, tails) wait on the leader replica's
 * hibernatable watch sockets (worker/wait/), not parked inside it: the leader has no request in
 * progress while they wait, they get the next records once the ISR has them (never past the
 * high watermark), and a leader change closes them so the Worker reads again from the new one.
 */
import { env, SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { BASE, json as call, unique } from './helpers.ts'
import type { PartitionObject } from '../../worker/objects/partition.ts'
import { callReplica } from '../../worker/replication/protocol.ts'


async function create(config: Record<string, string> = {}) {
  const topic = unique('rw')
  await call('POST', '/v1/topics', { topics: [{ topic, numPartitions: 1, replicationFactor: 3, configEntries: Object.entries(config).map(([name, value]) => ({ name, value })) }] })
  const [meta] = (await call('POST', '/v1/metadata', { topics: [topic] })).data.topics
  return { topic, stream: `${meta.topicId}/0` }
}

const stubOf = (stream: string, broker: number) => env.PARTITION.get(env.PARTITION.idFromName(`${stream}/r${broker}`)) as unknown as DurableObjectStub<PartitionObject>
const activity = (stream: string, broker: number) => stubOf(stream, broker).activity()
const produce = (topic: string, values: string[], acks: 'all' | '1' = 'all') => call('POST', `/v1/topics/${topic}/partitions/0/records?acks=${acks}`, { records: values.map((value) => ({ value })) })

async function until<T>(get: () => Promise<T>, check: (v: T) => boolean): Promise<T> {
  for (;;) {
    const v = await get()
    if (check(v)) return v
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('waiting on a replicated topic', { timeout: 60_000 }, () => {
  it('a long poll holds a hibernatable socket on the leader, no request in progress, and wakes with the committed records', async () => {
    const { topic, stream } = await create()
    await produce(topic, ['a'])
    const polling = call('GET', `/v1/topics/${topic}/partitions/0/records?offset=1&maxWaitMs=20000`)
    const idle = await until(() => activity(stream, 0), (a) => a.watchers === 1)
    expect([idle.inFlight, idle.parked]).toEqual([0, 0])
    // The followers hold no watcher: readers wait on the leader only.
    expect((await activity(stream, 1)).watchers).toBe(0)
    expect((await produce(topic, ['b'])).status).toBe(200)
    const answer = await polling
    expect(answer.data.records.map((r: any) => r.value)).toEqual(['b'])
    expect(answer.data.highWatermark).toBe(2)
    await until(() => activity(stream, 0), (a) => a.watchers === 0)
  })

  it('an acks=1 record the ISR does not have yet is not pushed: the watch waits for the high watermark', async () => {
    const { topic, stream } = await create()
    await produce(topic, ['a'])
    const polling = call('GET', `/v1/topics/${topic}/partitions/0/records?offset=1&maxWaitMs=20000`)
    await until(() => activity(stream, 0), (a) => a.watchers === 1)
    await callReplica(stubOf(stream, 0), { op: 'fault', fault: 'isolated' })
    try {
      expect((await produce(topic, ['leader-only'], '1')).status).toBe(200)
    } finally {
      await callReplica(stubOf(stream, 0), { op: 'fault', fault: null })
    }
    // Back in touch: the next append's push round commits both, and the watch gets them.
    await produce(topic, ['next'], '1')
    const answer = await polling
    // Delivered only once committed: the high watermark it came with is past it.
    expect(answer.data.records.map((r: any) => r.value)[0]).toBe('leader-only')
    expect(answer.data.highWatermark).toBeGreaterThan(1)
  })

  it('a long poll that cannot reach the leader reports it: the controller elects, and the next poll waits on the new leader', async () => {
    const { topic, stream } = await create({ 'min.insync.replicas': '2' })
    await produce(topic, ['a'])
    await callReplica(stubOf(stream, 0), { op: 'fault', fault: 'unreachable' })
    try {
      const failed = await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=1&maxWaitMs=20000`)
      expect(failed.data.error.code).toBe('NETWORK_EXCEPTION')
      const p = (await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`)).data
      expect(p.records.map((r: any) => r.value)).toEqual(['a'])
      const described = (await call('GET', `/v1/topics/${topic}`)).data.partitions[0]
      expect([described.leader, described.leaderEpoch]).toEqual([1, 1])
      const polling = call('GET', `/v1/topics/${topic}/partitions/0/records?offset=1&maxWaitMs=20000`)
      await until(() => activity(stream, 1), (a) => a.watchers === 1)
      expect((await produce(topic, ['b'])).status).toBe(200)
      expect((await polling).data.records.map((r: any) => r.value)).toEqual(['b'])
    } finally {
      await callReplica(stubOf(stream, 0), { op: 'fault', fault: null })
    }
  })

  it('a tail stays open across appends; a preferred-leader election closes the leader\'s watchers and the reader goes on from the new one', async () => {
    const { topic, stream } = await create()
    await produce(topic, ['t0'])
    const tail = await SELF.fetch(`${BASE}/v1/topics/${topic}/partitions/0/tail?offset=0`)
    const reader = tail.body!.getReader()
    let text = ''
    const readUntil = async (s: string) => { while (!text.includes(s)) text += new TextDecoder().decode((await reader.read()).value) }
    await readUntil('t0')
    await until(() => activity(stream, 0), (a) => a.watchers === 1 && a.inFlight === 0)
    await produce(topic, ['t1'])
    await readUntil('t1')
    await call('POST', '/v1/partition-reassignments', { topics: [{ topic, partitionAssignment: [{ partition: 0, replicas: [1, 0, 2] }] }] })
    expect((await call('POST', '/v1/elect-leaders', { partitions: [{ topic, partition: 0 }] })).status).toBe(200)
    await until(() => activity(stream, 0), (a) => a.watchers === 0)
    await produce(topic, ['t2'])
    await readUntil('t2')
    await reader.cancel()
    expect(text.indexOf('t0')).toBeLessThan(text.indexOf('t1'))
    expect(text.split('t1').length).toBe(2) // once
  })
})
