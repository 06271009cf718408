import { describe, expect, it } from 'vitest'
import { EdgelogError } from '../../core/errors.ts'
import type { GroupHeartbeatRequest } from '../../core/broker.ts'
import { asMap, harness, tps, type Harness } from './helpers.ts'

const G = 'mailer'

async function join(h: Harness, extra: Partial<GroupHeartbeatRequest> = {}) {
  return h.coordinator.heartbeat({ groupId: G, memberId: '', memberEpoch: 0, subscribedTopicNames: ['email'], serverAssignors: ['range'], ...extra })
}
async function beat(h: Harness, memberId: string, memberEpoch: number, owned?: Record<string, number[]>, extra: Partial<GroupHeartbeatRequest> = {}) {
  return h.coordinator.heartbeat({ groupId: G, memberId, memberEpoch, topicPartitions: owned ? tps(owned) : null, ...extra })
}
async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (e) {
    expect(e).toBeInstanceOf(EdgelogError)
    return (e as EdgelogError).code
  }
  return 'OK'
}
async function snapshot(h: Harness) {
  return {
    groups: await h.coordinator.describeGroups({ groupIds: [G] }),
    offsets: await h.coordinator.fetchOffsets({ groupId: G }),
    stored: await h.storage.listMeta(''),
  }
}

describe('joining and rebalancing', () => {
  it('a member joins with epoch 0 and gets an id, an epoch and every partition', async () => {
    const h = harness({ email: 3 })
    const r = await join(h)
    expect(r.memberId).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(r.memberEpoch).toBe(1)
    expect(r.heartbeatIntervalMs).toBe(5000)
    expect(asMap(r.assignment)).toEqual({ email: [0, 1, 2] })
    const [d] = await h.coordinator.describeGroups({ groupIds: [G] })
    expect(d).toMatchObject({ groupId: G, state: 'Stable', protocol: 'range', protocolType: 'consumer', groupEpoch: 1 })
    expect(d.members[0].assignment).toEqual(tps({ email: [0, 1, 2] }))
  })

  it('a second member: the first gives up partitions before the second gets them', async () => {
    const h = harness({ email: 3 })
    const a = await join(h, { memberId: 'a' })
    const b = await join(h, { memberId: 'b' })
    // b's target is [2], but a still holds it: b gets nothing yet.
    expect(b.memberEpoch).toBe(2)
    expect(asMap(b.assignment)).toEqual({})
    // a is told to shrink to [0, 1] (epoch unchanged until it acknowledges).
    const a2 = await beat(h, 'a', a.memberEpoch, { email: [0, 1, 2] })
    expect(asMap(a2.assignment)).toEqual({ email: [0, 1] })
    expect(a2.memberEpoch).toBe(1)
    expect((await h.coordinator.describeGroups({ groupIds: [G] }))[0].state).toBe('Reconciling')
    // b still waits while a has not acknowledged.
    expect((await beat(h, 'b', 2)).assignment).toBeNull()
    // a acknowledges by reporting what it owns now; it moves to epoch 2.
    const a3 = await beat(h, 'a', 1, { email: [0, 1] })
    expect(a3.memberEpoch).toBe(2)
    // now b gets partition 2.
    const b2 = await beat(h, 'b', 2, {})
    expect(asMap(b2.assignment)).toEqual({ email: [2] })
    expect((await h.coordinator.describeGroups({ groupIds: [G] }))[0].state).toBe('Stable')
    // nothing changes: assignment null.
    expect((await beat(h, 'b', 2, { email: [2] })).assignment).toBeNull()
  })

  it('a member leaving (-1) frees its partitions for the others', async () => {
    const h = harness({ email: 2 })
    await join(h, { memberId: 'a' })
    await beat(h, 'a', 1, { email: [0, 1] })
    await join(h, { memberId: 'b' })
    await beat(h, 'a', 1, { email: [0, 1] })
    await beat(h, 'a', 1, { email: [0] })
    expect(asMap((await beat(h, 'b', 2, {})).assignment)).toEqual({ email: [1] })
    const left = await beat(h, 'b', 2, { email: [1] }, { memberEpoch: -1 })
    expect(left.memberEpoch).toBe(-1)
    const a = await beat(h, 'a', 2, { email: [0] })
    expect(a.memberEpoch).toBe(3)
    expect(asMap(a.assignment)).toEqual({ email: [0, 1] })
  })

  it('a crashed member is removed after its session timeout (lazily and by expire)', async () => {
    const h = harness({ email: 2 }, { 'group.consumer.session.timeout.ms': 10_000 })
    await join(h, { memberId: 'a' })
    await join(h, { memberId: 'b' })
    h.clock.t += 6_000
    await beat(h, 'a', 1, { email: [0, 1] })
    expect(h.coordinator.nextDeadline()).toBe(h.clock.t - 6_000 + 10_000)
    h.clock.t += 5_000 // b silent for 11 s
    await h.coordinator.expire()
    const [d] = await h.coordinator.describeGroups({ groupIds: [G] })
    expect(d.members.map((m) => m.memberId)).toEqual(['a'])
    expect(await code(beat(h, 'b', 2, {}))).toBe('UNKNOWN_MEMBER_ID')
  })

  it('a partition count increase starts a rebalance', async () => {
    const h = harness({ email: 2 })
    const a = await join(h, { memberId: 'a' })
    h.topics.partitions.email = 4
    const r = await beat(h, 'a', a.memberEpoch, { email: [0, 1] })
    expect(r.memberEpoch).toBe(2)
    expect(asMap(r.assignment)).toEqual({ email: [0, 1, 2, 3] })
  })

  it('regular-expression subscriptions pick up new topics', async () => {
    const h = harness({ 'orders-eu': 1, other: 1 })
    const a = await join(h, { memberId: 'a', subscribedTopicNames: null, subscribedTopicRegex: 'orders-.*' })
    expect(asMap(a.assignment)).toEqual({ 'orders-eu': [0] })
    h.topics.partitions['orders-us'] = 2
    const r = await beat(h, 'a', a.memberEpoch, { 'orders-eu': [0] })
    expect(asMap(r.assignment)).toEqual({ 'orders-eu': [0], 'orders-us': [0, 1] })
  })

  it('picks the first assignor of the oldest member that every member supports', async () => {
    const h = harness({ email: 3 })
    await join(h, { memberId: 'a', serverAssignors: ['cooperative-sticky', 'range'] })
    expect((await h.coordinator.describeGroups({ groupIds: [G] }))[0].protocol).toBe('cooperative-sticky')
    await join(h, { memberId: 'b', serverAssignors: ['range'] })
    const [d] = await h.coordinator.describeGroups({ groupIds: [G] })
    expect(d.protocol).toBe('range')
    expect(await code(join(h, { memberId: 'c', serverAssignors: ['roundrobin'] }))).toBe('INCONSISTENT_GROUP_PROTOCOL')
    expect(await code(join(h, { memberId: 'd', serverAssignors: ['uniform'] }))).toBe('UNSUPPORTED_ASSIGNOR')
  })

  it('survives a restart: a new coordinator over the same storage', async () => {
    const h = harness({ email: 2 })
    const a = await join(h, { memberId: 'a' })
    await h.coordinator.commitOffsets({ groupId: G, memberId: 'a', memberEpoch: a.memberEpoch, offsets: [{ topic: 'email', partition: 1, offset: 7, metadata: 'm' }] })
    const before = await h.coordinator.describeGroups({ groupIds: [G] })
    h.restart()
    expect(await h.coordinator.describeGroups({ groupIds: [G] })).toEqual(before)
    expect(await h.coordinator.fetchOffsets({ groupId: G, topics: ['email'] })).toEqual([
      { topic: 'email', partition: 0, offset: -1, metadata: null },
      { topic: 'email', partition: 1, offset: 7, metadata: 'm' },
    ])
    const r = await beat(h, 'a', a.memberEpoch, { email: [0, 1] })
    expect(r.memberEpoch).toBe(a.memberEpoch)
  })
})

describe('static membership', () => {
  it('a static member leaving with -2 and coming back gets its partitions back without a rebalance', async () => {
    const h = harness({ email: 4 })
    const a = await join(h, { memberId: 'a', instanceId: 'host-a' })
    const b = await join(h, { memberId: 'b', instanceId: 'host-b' })
    await beat(h, 'a', a.memberEpoch, { email: [0, 1, 2, 3] }, { instanceId: 'host-a' })
    await beat(h, 'a', a.memberEpoch, { email: [0, 1] }, { instanceId: 'host-a' })
    await beat(h, 'b', b.memberEpoch, {}, { instanceId: 'host-b' })
    const [before] = await h.coordinator.describeGroups({ groupIds: [G] })
    expect(before.state).toBe('Stable')
    const epoch = before.groupEpoch

    const left = await beat(h, 'b', b.memberEpoch, { email: [2, 3] }, { instanceId: 'host-b', memberEpoch: -2 })
    expect(left.memberEpoch).toBe(-2)
    h.clock.t += 10_000
    const back = await join(h, { memberId: '', instanceId: 'host-b' })
    expect(back.memberId).not.toBe('b')
    expect(asMap(back.assignment)).toEqual({ email: [2, 3] })
    expect(back.memberEpoch).toBe(b.memberEpoch)
    const [after] = await h.coordinator.describeGroups({ groupIds: [G] })
    expect(after.groupEpoch).toBe(epoch)
    expect(after.members.find((m) => m.instanceId === 'host-b')!.memberId).toBe(back.memberId)
    // the old member id is fenced now
    expect(await code(beat(h, 'b', b.memberEpoch, {}, { instanceId: 'host-b' }))).toBe('FENCED_INSTANCE_ID')
  })

  it('a second live member with the same instance id is refused (UNRELEASED_INSTANCE_ID), state unchanged', async () => {
    const h = harness({ email: 2 })
    await join(h, { memberId: 'a', instanceId: 'host-a' })
    const before = await snapshot(h)
    expect(await code(join(h, { memberId: 'x', instanceId: 'host-a' }))).toBe('UNRELEASED_INSTANCE_ID')
    expect(await snapshot(h)).toEqual(before)
  })

  it('a static member away past its session timeout is removed and its partitions move', async () => {
    const h = harness({ email: 2 }, { 'group.consumer.session.timeout.ms': 5_000 })
    const a = await join(h, { memberId: 'a', instanceId: 'ia' })
    await beat(h, 'a', a.memberEpoch, { email: [0, 1] }, { instanceId: 'ia', memberEpoch: -2 })
    const b = await join(h, { memberId: 'b' })
    expect(asMap(b.assignment)).toEqual({}) // a (away) still holds its partitions
    h.clock.t += 3_000
    await beat(h, 'b', b.memberEpoch, {})
    h.clock.t += 2_000
    await h.coordinator.expire()
    const r = await beat(h, 'b', b.memberEpoch, {})
    expect(asMap(r.assignment)).toEqual({ email: [0, 1] })
  })
})

describe('typed errors leave everything unchanged', () => {
  async function setup() {
    const h = harness({ email: 3 })
    const a = await join(h, { memberId: 'a' })
    await h.coordinator.commitOffsets({ groupId: G, memberId: 'a', memberEpoch: 1, offsets: [{ topic: 'email', partition: 0, offset: 5 }] })
    h.topics.setHighWatermark('email', 1, 10)
    return { h, a }
  }
  const cases: Array<[string, string, (h: Harness) => Promise<unknown>]> = [
    ['unknown member id', 'UNKNOWN_MEMBER_ID', (h) => beat(h, 'nobody', 1, {})],
    ['stale member epoch in a heartbeat', 'FENCED_MEMBER_EPOCH', (h) => beat(h, 'a', 7, {})],
    ['empty group id', 'INVALID_GROUP_ID', (h) => h.coordinator.heartbeat({ groupId: '', memberId: '', memberEpoch: 0, subscribedTopicNames: ['email'] })],
    ['unknown assignor', 'UNSUPPORTED_ASSIGNOR', (h) => join(h, { serverAssignors: ['nope'] })],
    ['bad regex', 'INVALID_REQUEST', (h) => join(h, { subscribedTopicNames: null, subscribedTopicRegex: '(' })],
    ['commit: unknown member', 'UNKNOWN_MEMBER_ID', (h) => h.coordinator.commitOffsets({ groupId: G, memberId: 'zz', memberEpoch: 1, offsets: [{ topic: 'email', partition: 0, offset: 1 }] })],
    ['commit: stale epoch', 'ILLEGAL_GENERATION', (h) => h.coordinator.commitOffsets({ groupId: G, memberId: 'a', memberEpoch: 0, offsets: [{ topic: 'email', partition: 0, offset: 1 }] })],
    ['commit: future epoch', 'FENCED_MEMBER_EPOCH', (h) => h.coordinator.commitOffsets({ groupId: G, memberId: 'a', memberEpoch: 2, offsets: [{ topic: 'email', partition: 0, offset: 1 }] })],
    ['commit: without member while the group has members', 'UNKNOWN_MEMBER_ID', (h) => h.coordinator.commitOffsets({ groupId: G, offsets: [{ topic: 'email', partition: 0, offset: 1 }] })],
    ['commit: negative offset', 'OFFSET_OUT_OF_RANGE', (h) => h.coordinator.commitOffsets({ groupId: G, memberId: 'a', memberEpoch: 1, offsets: [{ topic: 'email', partition: 0, offset: 2 }, { topic: 'email', partition: 1, offset: -3 }] })],
    ['commit: unknown partition', 'UNKNOWN_TOPIC_OR_PARTITION', (h) => h.coordinator.commitOffsets({ groupId: G, memberId: 'a', memberEpoch: 1, offsets: [{ topic: 'email', partition: 0, offset: 2 }, { topic: 'email', partition: 9, offset: 0 }] })],
    ['commit: metadata too large', 'INVALID_COMMIT_OFFSET_SIZE', (h) => h.coordinator.commitOffsets({ groupId: G, memberId: 'a', memberEpoch: 1, offsets: [{ topic: 'email', partition: 0, offset: 2, metadata: 'x'.repeat(5000) }] })],
    ['commit: unknown group with a member epoch', 'GROUP_ID_NOT_FOUND', (h) => h.coordinator.commitOffsets({ groupId: 'other', memberId: 'a', memberEpoch: 1, offsets: [] })],
    ['delete a group with members', 'NON_EMPTY_GROUP', async (h) => {
      const [r] = await h.coordinator.deleteGroups({ groupIds: [G] })
      if (r.error) throw new EdgelogError(r.error.code, r.error.message)
    }],
  ]
  for (const [name, expected, act] of cases) {
    it(name, async () => {
      const { h } = await setup()
      const before = await snapshot(h)
      expect(await code(act(h))).toBe(expected)
      expect(await snapshot(h)).toEqual(before)
    })
  }

  it('commit past the high watermark is stored as it is, as Kafka does', async () => {
    const { h } = await setup()
    await h.coordinator.commitOffsets({ groupId: G, memberId: 'a', memberEpoch: 1, offsets: [{ topic: 'email', partition: 0, offset: 2 }, { topic: 'email', partition: 1, offset: 11 }] })
    const committed = await h.coordinator.fetchOffsets({ groupId: G, topics: ['email'] })
    expect(committed.find((c) => c.partition === 1)?.offset).toBe(11)
  })

  it('commit for a partition the member does not own: ILLEGAL_GENERATION', async () => {
    const h = harness({ email: 2 })
    await join(h, { memberId: 'a' })
    await beat(h, 'a', 1, { email: [0, 1] })
    const b = await join(h, { memberId: 'b' })
    const before = await snapshot(h)
    expect(await code(h.coordinator.commitOffsets({ groupId: G, memberId: 'b', memberEpoch: b.memberEpoch, offsets: [{ topic: 'email', partition: 1, offset: 1 }] }))).toBe('ILLEGAL_GENERATION')
    expect(await snapshot(h)).toEqual(before)
    // a may still commit partition 1 while it is being revoked from it (cooperative commit on revoke)
    await beat(h, 'a', 1, { email: [0, 1] })
    await h.coordinator.commitOffsets({ groupId: G, memberId: 'a', memberEpoch: 1, offsets: [{ topic: 'email', partition: 1, offset: 3 }] })
  })

  it('a storage failure leaves the cached group unchanged', async () => {
    const h = harness({ email: 2 })
    await join(h, { memberId: 'a' })
    const before = await h.coordinator.describeGroups({ groupIds: [G] })
    const commit = h.storage.commit.bind(h.storage)
    h.storage.commit = async () => { throw new EdgelogError('STORAGE_ERROR', 'disk on fire') }
    expect(await code(join(h, { memberId: 'b' }))).toBe('STORAGE_ERROR')
    h.storage.commit = commit
    expect(await h.coordinator.describeGroups({ groupIds: [G] })).toEqual(before)
  })
})

describe('committed offsets', () => {
  it('admin commits to an empty group create it; deleteGroups removes group and offsets', async () => {
    const h = harness({ email: 2 })
    await h.coordinator.commitOffsets({ groupId: G, offsets: [{ topic: 'email', partition: 0, offset: 3 }] })
    expect(await h.coordinator.listGroups()).toEqual([{ groupId: G, protocolType: 'consumer', state: 'Empty' }])
    expect(await h.coordinator.deleteGroups({ groupIds: [G, 'missing', ''] })).toEqual([
      { groupId: G, errorCode: 0 },
      { groupId: 'missing', errorCode: 69, error: { code: 'GROUP_ID_NOT_FOUND', message: expect.any(String) } },
      { groupId: '', errorCode: 24, error: { code: 'INVALID_GROUP_ID', message: expect.any(String) } },
    ])
    expect(await h.coordinator.fetchOffsets({ groupId: G })).toEqual([])
    expect(await h.storage.listMeta('offset/')).toEqual([])
    expect((await h.coordinator.describeGroups({ groupIds: [G] }))[0].state).toBe('Dead')
  })

  it('offsets of an empty group expire after offsets.retention.minutes, counted from when it became empty', async () => {
    const h = harness({ email: 2 }, { 'offsets.retention.minutes': 10, 'group.consumer.session.timeout.ms': 2 * 3600_000 })
    const a = await join(h, { memberId: 'a' })
    await h.coordinator.commitOffsets({ groupId: G, memberId: 'a', memberEpoch: a.memberEpoch, offsets: [{ topic: 'email', partition: 0, offset: 4 }] })
    h.clock.t += 60 * 60_000 // an hour with a live member: nothing expires
    await beat(h, 'a', 1, { email: [0, 1] })
    await h.coordinator.expire()
    expect((await h.coordinator.fetchOffsets({ groupId: G }))[0].offset).toBe(4)
    await beat(h, 'a', 1, { email: [0, 1] }, { memberEpoch: -1 })
    const emptyAt = h.clock.t
    expect(h.coordinator.nextDeadline()).toBe(emptyAt + 10 * 60_000)
    h.clock.t = emptyAt + 10 * 60_000 - 1
    await h.coordinator.expire()
    expect(await h.coordinator.fetchOffsets({ groupId: G })).toHaveLength(1)
    h.clock.t = emptyAt + 10 * 60_000
    await h.coordinator.expire()
    expect(await h.coordinator.fetchOffsets({ groupId: G })).toEqual([])
    expect(await h.coordinator.listGroups()).toEqual([])
    expect(await h.storage.listMeta('')).toEqual([])
    expect(h.coordinator.nextDeadline()).toBeUndefined()
  })

  it('lag per partition: high watermark minus committed', async () => {
    const h = harness({ email: 3 })
    const a = await join(h, { memberId: 'a' })
    h.topics.setHighWatermark('email', 0, 10)
    h.topics.setHighWatermark('email', 1, 20)
    h.topics.setHighWatermark('email', 2, 5)
    await h.coordinator.commitOffsets({ groupId: G, memberId: 'a', memberEpoch: a.memberEpoch, offsets: [
      { topic: 'email', partition: 0, offset: 10 }, { topic: 'email', partition: 1, offset: 15, metadata: 'x' },
    ] })
    expect(await h.coordinator.groupLag({ groupId: G })).toEqual([
      { topic: 'email', partition: 0, offset: 10, metadata: null, highWatermark: 10, lag: 0 },
      { topic: 'email', partition: 1, offset: 15, metadata: 'x', highWatermark: 20, lag: 5 },
      { topic: 'email', partition: 2, offset: -1, metadata: null, highWatermark: 5, lag: 5 },
    ])
    expect(await code(h.coordinator.groupLag({ groupId: 'nope' }))).toBe('GROUP_ID_NOT_FOUND')
  })

  it('group ids with slashes do not collide in storage keys', async () => {
    const h = harness({ email: 1 })
    await h.coordinator.commitOffsets({ groupId: 'a', offsets: [{ topic: 'email', partition: 0, offset: 1 }] })
    await h.coordinator.commitOffsets({ groupId: 'a/email', offsets: [{ topic: 'email', partition: 0, offset: 2 }] })
    h.restart()
    expect((await h.coordinator.fetchOffsets({ groupId: 'a' })).map((o) => o.offset)).toEqual([1])
    expect((await h.coordinator.fetchOffsets({ groupId: 'a/email' })).map((o) => o.offset)).toEqual([2])
  })
})
