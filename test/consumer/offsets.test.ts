/**
 * Where a consumer starts (auto.offset.reset), lag, offset retention, long polling, the group
 * admin calls, and bad input: each a typed error that leaves the group and its offsets as they were.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { FAST, sleep, until, world, type World } from './helpers.ts'

let w: World
afterEach(async () => { await w?.close() })

describe('auto.offset.reset', () => {
  it.each([
    ['earliest', { autoOffsetReset: 'earliest' as const }, false, ['0', '1', '2', '3', '4']],
    ['latest', { autoOffsetReset: 'latest' as const }, true, ['3', '4']],
    ['fromBeginning: true', {}, true, ['0', '1', '2', '3', '4']],
    ['fromBeginning: false (latest)', {}, false, ['3', '4']],
  ])('%s, with no committed offset', async (_name, config, fromBeginning, expected) => {
    w = await world({ t: 1 })
    await w.produce('t', 0, 3)
    const { consumer } = w.consumer({ ...FAST, groupId: 'g', ...config })
    const seen: string[] = []
    await consumer.subscribe({ topics: ['t'], fromBeginning })
    await consumer.run({ eachMessage: async ({ message }) => { seen.push(message.offset) } })
    await until(async () => (await consumer.describeGroup()).state === 'Stable')
    await sleep(30)
    await w.produce('t', 0, 2)
    await until(() => seen.length === expected.length)
    await sleep(30)
    expect(seen).toEqual(expected)
  })

  it('a committed offset wins over fromBeginning', async () => {
    w = await world({ t: 1 })
    await w.produce('t', 0, 5)
    await w.log.admin().setOffsets({ groupId: 'g', topic: 't', partitions: [{ partition: 0, offset: '3' }] })
    const { consumer } = w.consumer({ ...FAST, groupId: 'g' })
    const seen: string[] = []
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => { seen.push(message.offset) } })
    await until(() => seen.length === 2)
    expect(seen).toEqual(['3', '4'])
  })

  it("'none' with no committed offset: OFFSET_OUT_OF_RANGE, surfaced as CRASH", async () => {
    w = await world({ t: 1 })
    await w.produce('t', 0, 3)
    const { consumer } = w.consumer({ ...FAST, groupId: 'g', autoOffsetReset: 'none' })
    const crashes: any[] = []
    consumer.on(consumer.events.CRASH, (e) => crashes.push(e.payload))
    let called = 0
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ eachMessage: async () => { called++ } })
    await until(() => crashes.length === 1)
    expect(crashes[0].error).toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' })
    expect(called).toBe(0)
    await until(async () => (await w.log.admin().describeGroups(['g'])).groups[0].members.length === 0)
  })

  it("a committed offset that fell out of the log: reset by the policy, or CRASH with 'none'", async () => {
    w = await world({ t: 1 })
    await w.produce('t', 0, 3)
    await w.log.admin().setOffsets({ groupId: 'g', topic: 't', partitions: [{ partition: 0, offset: '2' }] })
    await w.log.admin().deleteTopics({ topics: ['t'] })
    await w.log.admin().createTopics({ topics: [{ topic: 't', numPartitions: 1 }] })
    await w.log.producer().send({ topic: 't', messages: [{ value: 'only' }] }) // the new topic ends at 1 < 2
    const { consumer } = w.consumer({ ...FAST, groupId: 'g', autoOffsetReset: 'earliest' })
    const seen: string[] = []
    await consumer.subscribe({ topics: ['t'] })
    await consumer.run({ eachMessage: async ({ message }) => { seen.push(message.value!.toString()) } })
    await until(() => seen.length === 1)
    expect(seen).toEqual(['only'])
    await until(async () => (await w.committed('g', 't'))[0] === 1)
    await w.log.admin().setOffsets({ groupId: 'h', topic: 't', partitions: [{ partition: 0, offset: '1' }] })
    await w.produce('t', 0, 2) // h's offset 1 is fine; then the log moves on past retention...
    await w.log.admin().deleteTopics({ topics: ['t'] })
    await w.log.admin().createTopics({ topics: [{ topic: 't', numPartitions: 1 }] })
    const { consumer: strict } = w.consumer({ ...FAST, groupId: 'h', autoOffsetReset: 'none' })
    const crashes: any[] = []
    strict.on(strict.events.CRASH, (e) => crashes.push(e.payload))
    await strict.subscribe({ topics: ['t'] })
    await strict.run({ eachMessage: async () => {} })
    await until(() => crashes.length === 1)
    expect(crashes[0].error).toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' })
  })
})

describe('lag and retention', () => {
  it('admin.describeGroupOffsets: high watermark minus committed offset, per partition', async () => {
    w = await world({ t: 2 })
    await w.produce('t', 0, 10)
    await w.produce('t', 1, 4)
    const { consumer } = w.consumer({ ...FAST, groupId: 'g' })
    let n = 0
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ eachMessage: async ({ partition, message, pause }) => { n++; if (partition === 0 && message.offset === '5') pause() } })
    await until(async () => {
      const lag = await w.log.admin().describeGroupOffsets('g')
      return lag.length === 2 && lag[0].offset === 6 && lag[1].offset === 4
    })
    expect(await w.log.admin().describeGroupOffsets('g')).toEqual([
      { topic: 't', partition: 0, offset: 6, metadata: null, highWatermark: 10, lag: 4 },
      { topic: 't', partition: 1, offset: 4, metadata: null, highWatermark: 4, lag: 0 },
    ])
    consumer.resume([{ topic: 't' }])
    await until(async () => (await w.log.admin().describeGroupOffsets('g'))[0].lag === 0)
  })

  it('offsets.retention.minutes: an empty group loses its offsets (and itself) once the retention passed', async () => {
    let skew = 0
    const now = () => Date.now() + skew
    w = await world({ t: 1 }, { now, settings: { 'offsets.retention.minutes': 10 } })
    await w.produce('t', 0, 3)
    const { consumer } = w.consumer({ ...FAST, groupId: 'g' })
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ eachMessage: async () => {} })
    await until(async () => (await w.committed('g', 't'))[0] === 3)
    // A group with members keeps its offsets however old they are; it is empty from here.
    await consumer.disconnect()
    const admin = w.log.admin()
    skew = 9 * 60_000
    await admin.runMaintenance()
    expect(await w.committed('g', 't')).toEqual({ 0: 3 })
    expect((await admin.listGroups()).groups.map((g) => g.groupId)).toEqual(['g'])
    skew = 10 * 60_000 + 1_000
    await admin.runMaintenance()
    expect(await w.committed('g', 't')).toEqual({ 0: -1 })
    expect((await admin.listGroups()).groups).toEqual([])
    // A consumer of the group now starts where auto.offset.reset says.
    const { consumer: again } = w.consumer({ ...FAST, groupId: 'g' })
    const seen: string[] = []
    await again.subscribe({ topics: ['t'], fromBeginning: true })
    await again.run({ eachMessage: async ({ message }) => { seen.push(message.offset) } })
    await until(() => seen.length === 3)
  })
})

describe('long poll', () => {
  it('a consumer at the end of a partition wakes when records arrive, and does not busy-loop while idle', async () => {
    w = await world({ t: 2 })
    const maxWait = 200
    const { consumer, link } = w.consumer({ ...FAST, groupId: 'g', maxWaitTimeInMs: maxWait })
    const seen: number[] = []
    await consumer.subscribe({ topics: ['t'] })
    await consumer.run({ eachMessage: async () => { seen.push(Date.now()) } })
    await until(async () => (await consumer.describeGroup()).state === 'Stable')
    await sleep(50)
    const before = link.count('fetch')
    await sleep(1_000)
    const fetches = link.count('fetch') - before
    // 2 partitions, one parked fetch each per maxWait: about 10 in a second; never hundreds.
    expect(fetches).toBeGreaterThanOrEqual(4)
    expect(fetches).toBeLessThanOrEqual(2 * (1_000 / maxWait + 2))
    const sent = Date.now()
    await w.produce('t', 1, 1)
    await until(() => seen.length === 1)
    expect(seen[0] - sent).toBeLessThan(maxWait / 2) // woken by the append, not by the timeout
  })

  it('without a group: every partition of the topic is read, from seek positions or the policy', async () => {
    w = await world({ t: 2 })
    await w.produce('t', 0, 3)
    await w.produce('t', 1, 3)
    const { consumer } = w.consumer({ maxWaitTimeInMs: 50 })
    const seen: string[] = []
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    consumer.seek({ topic: 't', partition: 1, offset: '2' })
    await consumer.run({ eachMessage: async ({ partition, message }) => { seen.push(`${partition}/${message.offset}`) } })
    await until(() => seen.length === 4)
    expect(seen.sort()).toEqual(['0/0', '0/1', '0/2', '1/2'])
    await expect(consumer.commitOffsets([{ topic: 't', partition: 0, offset: '1' }])).rejects.toMatchObject({ code: 'INVALID_GROUP_ID' })
  })
})

describe('bad input: typed errors, state unchanged', () => {
  async function twoMembers() {
    w = await world({ t: 2 })
    await w.produce('t', 0, 5)
    await w.produce('t', 1, 5)
    const a = w.consumer({ ...FAST, groupId: 'g', partitionAssigners: ['range'] }).consumer
    const b = w.consumer({ ...FAST, groupId: 'g', partitionAssigners: ['range'] }).consumer
    for (const c of [a, b]) {
      await c.subscribe({ topics: ['t'], fromBeginning: true })
      await c.run({ eachMessage: async () => {} })
    }
    await until(async () => {
      const [g] = await w.log.broker.describeGroups({ groupIds: ['g'] })
      return g.state === 'Stable' && g.members.length === 2 && g.members.every((m) => m.assignment.length === 1)
    })
    await until(async () => Object.values(await w.committed('g', 't')).every((o) => o === 5))
    const [g] = await w.log.broker.describeGroups({ groupIds: ['g'] })
    const aId = (await w.log.broker.describeGroups({ groupIds: ['g'] }))[0].members
    return { a, b, group: g, members: aId }
  }

  it('commits for partitions not owned, negative offsets, offsets past the high watermark', async () => {
    const { a, b } = await twoMembers()
    const [g] = await w.log.broker.describeGroups({ groupIds: ['g'] })
    const owned = new Map<number, string>()
    for (const m of g.members) owned.set(m.assignment[0].partitions[0], m.memberId)
    // Which partition does a not own? Ask it through a commit of each: exactly one is refused.
    const results = await Promise.allSettled([0, 1].map((p) => a.commitOffsets([{ topic: 't', partition: p, offset: '5' }])))
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1)
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
    expect(refused.reason).toMatchObject({ code: 'ILLEGAL_GENERATION' })
    await expect(b.commitOffsets([{ topic: 't', partition: 0, offset: '-1' }])).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' })
    await expect(b.commitOffsets([{ topic: 't', partition: 7, offset: '1' }])).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' })
    await expect(b.commitOffsets([{ topic: 't', partition: 0, offset: 'x' }])).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' })
    expect(await w.committed('g', 't')).toEqual({ 0: 5, 1: 5 })
    const [after] = await w.log.broker.describeGroups({ groupIds: ['g'] })
    expect(after).toEqual(g)
  })

  it('a commit past the high watermark is stored as it is, as Kafka does', async () => {
    const { a } = await twoMembers()
    // The partition a owns: the one its commit is accepted for.
    const results = await Promise.allSettled([0, 1].map((p) => a.commitOffsets([{ topic: 't', partition: p, offset: '5' }])))
    const mine = results.findIndex((r) => r.status === 'fulfilled')
    await a.commitOffsets([{ topic: 't', partition: mine, offset: '9' }])
    expect((await w.committed('g', 't'))[mine]).toBe(9)
  })

  it('unknown member id, stale epoch, an admin writing offsets of an active group', async () => {
    await twoMembers()
    const broker = w.log.broker
    const [g] = await broker.describeGroups({ groupIds: ['g'] })
    const m = g.members[0]
    const p = m.assignment[0].partitions[0]
    await expect(broker.commitOffsets({ groupId: 'g', memberId: 'nobody', memberEpoch: m.memberEpoch, offsets: [{ topic: 't', partition: p, offset: 1 }] }))
      .rejects.toMatchObject({ code: 'UNKNOWN_MEMBER_ID' })
    await expect(broker.commitOffsets({ groupId: 'g', memberId: m.memberId, memberEpoch: m.memberEpoch - 1, offsets: [{ topic: 't', partition: p, offset: 1 }] }))
      .rejects.toMatchObject({ code: 'ILLEGAL_GENERATION' })
    await expect(broker.commitOffsets({ groupId: 'g', memberId: m.memberId, memberEpoch: m.memberEpoch + 1, offsets: [{ topic: 't', partition: p, offset: 1 }] }))
      .rejects.toMatchObject({ code: 'FENCED_MEMBER_EPOCH' })
    await expect(broker.groupHeartbeat({ groupId: 'g', memberId: 'nobody', memberEpoch: 3 })).rejects.toMatchObject({ code: 'UNKNOWN_MEMBER_ID' })
    await expect(broker.groupHeartbeat({ groupId: 'g', memberId: m.memberId, memberEpoch: m.memberEpoch + 5 })).rejects.toMatchObject({ code: 'FENCED_MEMBER_EPOCH' })
    const admin = w.log.admin()
    await expect(admin.setOffsets({ groupId: 'g', topic: 't', partitions: [{ partition: 0, offset: '0' }] })).rejects.toMatchObject({ code: 'UNKNOWN_MEMBER_ID' })
    await expect(admin.resetOffsets({ groupId: 'g', topic: 't', earliest: true })).rejects.toMatchObject({ code: 'UNKNOWN_MEMBER_ID' })
    await expect(admin.deleteGroups(['g'])).rejects.toMatchObject({ code: 'NON_EMPTY_GROUP' })
    expect(await w.committed('g', 't')).toEqual({ 0: 5, 1: 5 })
    const [after] = await broker.describeGroups({ groupIds: ['g'] })
    expect(after.groupEpoch).toBe(g.groupEpoch)
    expect(after.members.map((x) => [x.memberId, x.memberEpoch, x.assignment])).toEqual(g.members.map((x) => [x.memberId, x.memberEpoch, x.assignment]))
  })

  it('subscribe with bad topics, run twice, run without a handler or a subscription, a bad group id', async () => {
    w = await world({ t: 1 })
    const { consumer } = w.consumer({ ...FAST, groupId: 'g', allowAutoTopicCreation: false })
    await expect(consumer.run({ eachMessage: async () => {} })).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    for (const bad of ['', 'a b', '..', 'x'.repeat(250)]) {
      await expect(consumer.subscribe({ topics: [bad] }), bad).rejects.toMatchObject({ code: 'INVALID_TOPIC_EXCEPTION' })
    }
    await expect(consumer.subscribe({ topics: [42 as never] })).rejects.toMatchObject({ code: 'INVALID_TOPIC_EXCEPTION' })
    await expect(consumer.subscribe({ topics: [] })).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    await expect(consumer.subscribe({ topics: ['t', 'missing'] })).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' })
    // Nothing of the failed subscriptions stuck: still nothing to run.
    await expect(consumer.run({ eachMessage: async () => {} })).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    await consumer.subscribe({ topics: ['t'] })
    await expect(consumer.run({} as never)).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    await consumer.run({ eachMessage: async () => {} })
    await expect(consumer.run({ eachMessage: async () => {} })).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    await expect(consumer.subscribe({ topics: ['t'] })).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    expect(() => w.log.consumer({ groupId: '' })).toThrow(expect.objectContaining({ code: 'INVALID_GROUP_ID' }))
    const [g] = await w.log.broker.describeGroups({ groupIds: ['g'] })
    expect(g.members).toHaveLength(1)
  })
})

describe('admin over groups', () => {
  it('listGroups, describeGroups, fetchOffsets, resetOffsets, setOffsets, deleteGroups, fetchTopicOffsetsByTimestamp', async () => {
    w = await world({ t: 2 })
    const admin = w.log.admin()
    await w.produce('t', 0, 4)
    await sleep(5)
    const t0 = Date.now()
    await sleep(5)
    await w.produce('t', 1, 4)
    const { consumer } = w.consumer({ ...FAST, groupId: 'g' })
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ eachMessage: async () => {} })
    await until(async () => Object.values(await w.committed('g', 't')).every((o) => o === 4))
    expect((await admin.listGroups()).groups).toEqual([{ groupId: 'g', protocolType: 'consumer' }])
    const { groups } = await admin.describeGroups(['g', 'unknown'])
    expect(groups[0]).toMatchObject({ groupId: 'g', state: 'Stable', protocol: 'cooperative-sticky', members: [{ clientId: 'test', memberAssignment: { t: [0, 1] } }] })
    expect(groups[1]).toMatchObject({ groupId: 'unknown', state: 'Dead', members: [] })
    expect(await admin.fetchOffsets({ groupId: 'g', topics: ['t'] })).toEqual([
      { topic: 't', partitions: [{ partition: 0, offset: '4', metadata: null }, { partition: 1, offset: '4', metadata: null }] },
    ])
    await consumer.disconnect()
    await admin.resetOffsets({ groupId: 'g', topic: 't', earliest: true })
    expect(await w.committed('g', 't')).toEqual({ 0: 0, 1: 0 })
    await admin.resetOffsets({ groupId: 'g', topic: 't' })
    expect(await w.committed('g', 't')).toEqual({ 0: 4, 1: 4 })
    await admin.setOffsets({ groupId: 'g', topic: 't', partitions: [{ partition: 1, offset: '2' }] })
    expect(await w.committed('g', 't')).toEqual({ 0: 4, 1: 2 })
    // Past the high watermark: stored as it is, as Kafka's OffsetCommit does.
    await admin.setOffsets({ groupId: 'g', topic: 't', partitions: [{ partition: 1, offset: '9' }] })
    expect(await w.committed('g', 't')).toEqual({ 0: 4, 1: 9 })
    await expect(admin.setOffsets({ groupId: 'g', topic: 't', partitions: [{ partition: 1, offset: '-2' }] })).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' })
    expect(await w.committed('g', 't')).toEqual({ 0: 4, 1: 9 })
    const byTime = await admin.fetchTopicOffsetsByTimestamp('t', t0)
    expect(byTime).toEqual([{ partition: 0, offset: '4' }, { partition: 1, offset: '0' }])
    expect(await admin.deleteGroups(['g'])).toEqual([{ groupId: 'g', errorCode: 0 }])
    expect((await admin.listGroups()).groups).toEqual([])
    expect(await w.committed('g', 't')).toEqual({ 0: -1, 1: -1 })
    await expect(admin.deleteGroups(['g'])).rejects.toMatchObject({ code: 'GROUP_ID_NOT_FOUND' })
  })
})
