/**
 * A consumer's life through crashes, restarts and disconnects: a crash on a retriable broker
 * error restarts it (KafkaJS's default), under the same member id (no ghost of it stays in the
 * group when its leave never arrived); disconnect ends a pending restart and parked long polls.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { LocalBroker } from '../../core/log/local-broker.ts'
import { FAST, sleep, until, world, type World } from './helpers.ts'

let w: World
afterEach(async () => { await w?.close() })

async function members(w: World, groupId: string) {
  const [g] = await w.log.broker.describeGroups({ groupIds: [groupId] })
  return g.members
}

describe('crash and restart', () => {
  it('a retriable broker error past the retries restarts the consumer; a handler error does not', async () => {
    w = await world({ t: 1 })
    await w.produce('t', 0, 3)
    const { consumer, link } = w.consumer({ ...FAST, groupId: 'g', retry: { retries: 1, initialRetryTime: 20, maxRetryTime: 20 } })
    const crashes: any[] = []
    consumer.on(consumer.events.CRASH, (e) => crashes.push(e.payload))
    const seen: string[] = []
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => { seen.push(message.offset) } })
    await until(() => seen.length === 3)
    link.mode = 'fail'
    await until(() => crashes.length > 0, 5_000, 'a crash')
    expect(crashes[0]).toMatchObject({ error: { code: 'NETWORK_EXCEPTION' }, restart: true })
    link.mode = 'ok'
    await w.produce('t', 0, 2)
    await until(() => seen.length === 5, 5_000, 'reading again after the restart')
  })

  it('the restarted consumer is the same member: no ghost holds partitions when its leave was lost', async () => {
    w = await world({ t: 2 })
    const restartOnFailure = async () => true
    const { consumer, link } = w.consumer({ ...FAST, sessionTimeout: 8_000, groupId: 'g', retry: { retries: 1, initialRetryTime: 20, maxRetryTime: 20, restartOnFailure } })
    const crashes: any[] = []
    consumer.on(consumer.events.CRASH, (e) => crashes.push(e.payload))
    const seen = new Set<string>()
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ eachMessage: async ({ partition, message }) => { seen.add(`${partition}/${message.offset}`) } })
    await until(async () => (await members(w, 'g')).length === 1)
    const [before] = await members(w, 'g')
    link.mode = 'fail' // its fetches, heartbeats and its leave all fail: it crashes and restarts
    await until(() => crashes.length > 0, 5_000, 'a crash')
    link.mode = 'ok'
    for (let p = 0; p < 2; p++) await w.produce('t', p, 5)
    // Within a fraction of the 8 s session: a ghost would keep one partition unread that long.
    await until(() => seen.size === 10, 3_000, 'both partitions read after the restart')
    const after = await members(w, 'g')
    expect(after.map((m) => m.memberId)).toEqual([before.memberId])
  })

  it('disconnect during the delay before a restart: the consumer stays stopped', async () => {
    w = await world({ t: 1 })
    await w.produce('t', 0, 3)
    const { consumer } = w.consumer({ ...FAST, groupId: 'g', retry: { retries: 0, initialRetryTime: 300, restartOnFailure: async () => true } })
    const crashes: any[] = []
    consumer.on(consumer.events.CRASH, (e) => crashes.push(e.payload))
    let calls = 0
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ eachMessage: async () => { calls++; throw new Error('poison') } })
    await until(() => crashes.length === 1)
    expect(crashes[0].restart).toBe(true)
    await consumer.disconnect()
    const before = calls
    await sleep(600)
    expect(calls).toBe(before)
    expect(await members(w, 'g')).toEqual([])
  })
})

describe('disconnect', () => {
  it('ends parked long polls at once (a long maxWaitTimeInMs does not delay it)', async () => {
    w = await world({ t: 3 })
    const { consumer } = w.consumer({ ...FAST, groupId: 'g', maxWaitTimeInMs: 30_000 })
    let fetching = 0
    consumer.on(consumer.events.FETCH_START, () => { fetching++ })
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ eachMessage: async () => {} })
    await until(() => fetching >= 3)
    await sleep(50)
    const started = Date.now()
    await consumer.disconnect()
    expect(Date.now() - started).toBeLessThan(1_000)
    // Nothing stays parked in the log (a parked fetch's timer keeps a Node process alive).
    const broker = w.log.broker as LocalBroker
    const record = await broker.topics.lookup('t')
    for (let p = 0; p < 3; p++) expect((await broker.partition(record, p) as unknown as { waiters: { size: number } }).waiters.size).toBe(0)
  })
})
