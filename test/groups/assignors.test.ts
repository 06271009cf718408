import { describe, expect, it } from 'vitest'
import {
  ASSIGNORS, cooperativeStickyAssignor, getAssignor, javaHashMapOrder, javaStringHash, rangeAssignor,
  resolveAssignorName, roundRobinAssignor, type Assignor, type AssignorMember,
} from '../../core/groups/assignors/index.ts'
import { asMap, tps } from './helpers.ts'

function run(assignor: Assignor, members: Array<Partial<AssignorMember> & { memberId: string }>, partitionsPerTopic: Record<string, number>) {
  const result = assignor.assign({
    members: members.map((m) => ({ topics: [], owned: [], instanceId: null, ...m })),
    partitionsPerTopic,
  })
  return Object.fromEntries(Object.entries(result).map(([k, v]) => [k, asMap(v)]))
}

const all = (ids: string[], topics: string[]) => ids.map((memberId) => ({ memberId, topics }))

describe('the seeds: 3 partitions', () => {
  for (const assignor of Object.values(ASSIGNORS)) {
    it(`${assignor.name}: 2 consumers → one reads two`, () => {
      const r = run(assignor, all(['A', 'B'], ['t']), { t: 3 })
      const sizes = Object.values(r).map((m) => (m.t ?? []).length).sort()
      expect(sizes).toEqual([1, 2])
    })
    it(`${assignor.name}: 3 consumers → one each`, () => {
      expect(run(assignor, all(['A', 'B', 'C'], ['t']), { t: 3 })).toEqual({ A: { t: [0] }, B: { t: [1] }, C: { t: [2] } })
    })
    it(`${assignor.name}: 4 consumers → one idles`, () => {
      expect(run(assignor, all(['A', 'B', 'C', 'D'], ['t']), { t: 3 })).toEqual({ A: { t: [0] }, B: { t: [1] }, C: { t: [2] }, D: {} })
    })
  }
  it('who reads two differs: range gives the first member a range, the others deal round', () => {
    expect(run(rangeAssignor, all(['A', 'B'], ['t']), { t: 3 })).toEqual({ A: { t: [0, 1] }, B: { t: [2] } })
    expect(run(roundRobinAssignor, all(['A', 'B'], ['t']), { t: 3 })).toEqual({ A: { t: [0, 2] }, B: { t: [1] } })
    expect(run(cooperativeStickyAssignor, all(['A', 'B'], ['t']), { t: 3 })).toEqual({ A: { t: [0, 2] }, B: { t: [1] } })
  })
})

describe('RangeAssignor (Kafka javadoc examples)', () => {
  it('two topics of 3 partitions, two consumers: ranges per topic', () => {
    expect(run(rangeAssignor, all(['C0', 'C1'], ['t0', 't1']), { t0: 3, t1: 3 })).toEqual({
      C0: { t0: [0, 1], t1: [0, 1] },
      C1: { t0: [2], t1: [2] },
    })
  })
  it('orders members by member id, not input order', () => {
    expect(run(rangeAssignor, all(['m2', 'm1', 'm10'], ['t']), { t: 5 })).toEqual({
      m1: { t: [0, 1] }, m10: { t: [2, 3] }, m2: { t: [4] },
    })
  })
  it('static members come first, by instance id (Kafka MemberInfo order)', () => {
    const r = run(rangeAssignor, [
      { memberId: 'a', topics: ['t'] },
      { memberId: 'z', instanceId: 'i1', topics: ['t'] },
    ], { t: 3 })
    expect(r).toEqual({ z: { t: [0, 1] }, a: { t: [2] } })
  })
  it('only subscribers of a topic share it', () => {
    expect(run(rangeAssignor, [
      { memberId: 'A', topics: ['t0'] },
      { memberId: 'B', topics: ['t0', 't1'] },
    ], { t0: 4, t1: 2, other: 7 })).toEqual({ A: { t0: [0, 1] }, B: { t0: [2, 3], t1: [0, 1] } })
  })
})

describe('RoundRobinAssignor (Kafka javadoc examples)', () => {
  it('two topics of 3 partitions, two consumers: dealt in turn across topics', () => {
    expect(run(roundRobinAssignor, all(['C0', 'C1'], ['t0', 't1']), { t0: 3, t1: 3 })).toEqual({
      C0: { t0: [0, 2], t1: [1] },
      C1: { t0: [1], t1: [0, 2] },
    })
  })
  it('different subscriptions: skips members not subscribed', () => {
    expect(run(roundRobinAssignor, [
      { memberId: 'C0', topics: ['t0'] },
      { memberId: 'C1', topics: ['t0', 't1'] },
      { memberId: 'C2', topics: ['t0', 't1', 't2'] },
    ], { t0: 1, t1: 2, t2: 3 })).toEqual({
      C0: { t0: [0] },
      C1: { t1: [0] },
      C2: { t1: [1], t2: [0, 1, 2] },
    })
  })
})

describe('CooperativeStickyAssignor (AbstractStickyAssignor)', () => {
  it('javadoc: 3 consumers, 4 topics × 2 partitions', () => {
    expect(run(cooperativeStickyAssignor, all(['C0', 'C1', 'C2'], ['t0', 't1', 't2', 't3']), { t0: 2, t1: 2, t2: 2, t3: 2 })).toEqual({
      C0: { t0: [0], t1: [1], t3: [0] },
      C1: { t0: [1], t2: [0], t3: [1] },
      C2: { t1: [0], t2: [1] },
    })
  })
  it('javadoc: C1 leaves — C0 and C2 keep everything they had', () => {
    const r = run(cooperativeStickyAssignor, [
      { memberId: 'C0', topics: ['t0', 't1', 't2', 't3'], owned: tps({ t0: [0], t1: [1], t3: [0] }) },
      { memberId: 'C2', topics: ['t0', 't1', 't2', 't3'], owned: tps({ t1: [0], t2: [1] }) },
    ], { t0: 2, t1: 2, t2: 2, t3: 2 })
    expect(r.C0).toMatchObject({ t0: expect.arrayContaining([0]), t1: [1], t3: expect.arrayContaining([0]) })
    expect(r.C2).toMatchObject({ t1: [0], t2: expect.arrayContaining([1]) })
    expect(Object.values(r).map((m) => Object.values(m).flat().length)).toEqual([4, 4])
    // Range would have moved partitions the survivors already had:
    const range = run(rangeAssignor, all(['C0', 'C2'], ['t0', 't1', 't2', 't3']), { t0: 2, t1: 2, t2: 2, t3: 2 })
    expect(range.C2).toEqual({ t0: [1], t1: [1], t2: [1], t3: [1] })
  })
  it('a member joining takes only what balance needs; the others keep the rest', () => {
    const before = run(cooperativeStickyAssignor, all(['A', 'B'], ['t']), { t: 6 })
    expect(before).toEqual({ A: { t: [0, 2, 4] }, B: { t: [1, 3, 5] } })
    const after = run(cooperativeStickyAssignor, [
      { memberId: 'A', topics: ['t'], owned: tps(before.A) },
      { memberId: 'B', topics: ['t'], owned: tps(before.B) },
      { memberId: 'C', topics: ['t'] },
    ], { t: 6 })
    expect(after.A.t.every((p) => before.A.t.includes(p))).toBe(true)
    expect(after.B.t.every((p) => before.B.t.includes(p))).toBe(true)
    expect([after.A.t.length, after.B.t.length, after.C.t.length]).toEqual([2, 2, 2])
    // Kafka keeps the lowest-numbered owned partitions (sorted by partition, then topic).
    expect(after).toEqual({ A: { t: [0, 2] }, B: { t: [1, 3] }, C: { t: [4, 5] } })
  })
  it('javadoc general case: different subscriptions, and C0 leaving', () => {
    const members = [
      { memberId: 'C0', topics: ['t0'] },
      { memberId: 'C1', topics: ['t0', 't1'] },
      { memberId: 'C2', topics: ['t0', 't1', 't2'] },
    ]
    const first = run(cooperativeStickyAssignor, members, { t0: 1, t1: 2, t2: 3 })
    expect(first).toEqual({ C0: { t0: [0] }, C1: { t1: [0, 1] }, C2: { t2: [0, 1, 2] } })
    const second = run(cooperativeStickyAssignor, [
      { ...members[1], owned: tps(first.C1) },
      { ...members[2], owned: tps(first.C2) },
    ], { t0: 1, t1: 2, t2: 3 })
    expect(second).toEqual({ C1: { t0: [0], t1: [0, 1] }, C2: { t2: [0, 1, 2] } })
  })
  it('general case balances within one where subscriptions allow', () => {
    const r = run(cooperativeStickyAssignor, [
      { memberId: 'A', topics: ['x', 'y'] },
      { memberId: 'B', topics: ['y'] },
      { memberId: 'C', topics: ['x', 'y'] },
    ], { x: 4, y: 5 })
    const sizes = Object.values(r).map((m) => Object.values(m).flat().length)
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1)
    expect(r.B.x).toBeUndefined()
  })
  it('drops owned partitions claimed twice or no longer existing', () => {
    const r = run(cooperativeStickyAssignor, [
      { memberId: 'A', topics: ['t'], owned: tps({ t: [0, 9], gone: [0] }) },
      { memberId: 'B', topics: ['t'], owned: tps({ t: [0] }) },
    ], { t: 2 })
    expect(r).toEqual({ A: { t: [0] }, B: { t: [1] } })
  })
})

describe('names', () => {
  it('resolves Kafka and KafkaJS names', () => {
    expect(resolveAssignorName('range')).toBe('range')
    expect(resolveAssignorName('org.apache.kafka.clients.consumer.RoundRobinAssignor')).toBe('roundrobin')
    expect(resolveAssignorName('RoundRobinAssigner')).toBe('roundrobin')
    expect(resolveAssignorName('CooperativeStickyAssignor')).toBe('cooperative-sticky')
    expect(resolveAssignorName('uniform')).toBeUndefined()
    expect(getAssignor('cooperative-sticky')).toBe(cooperativeStickyAssignor)
  })
  it('emulates Java hashing for HashMap iteration order', () => {
    expect(javaStringHash('hello')).toBe(99162322)
    // "Aa" and "BB" collide in Java: insertion order decides.
    expect(javaHashMapOrder(['BB', 'Aa'])).toEqual(['BB', 'Aa'])
  })
})
