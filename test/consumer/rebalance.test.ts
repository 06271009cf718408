/**
 * Ownership through rebalances: every partition is read by one member at a time while members
 * join, leave and crash; a member that leaves or stops heart-beating loses its partitions to the
 * others, who resume from the committed offsets; static members come back without a rebalance.
 */
import { afterEach, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { Consumer, EachMessagePayload } from '../../core/index.ts'
import { FAST, sleep, until, world, type World } from './helpers.ts'

let w: World
afterEach(async () => { await w?.close() })

/** Watches a group's processing: concurrent readers of a partition, re-reads of committed offsets. */
class Referee {
  readonly inside = new Map<number, string>()
  readonly violations: string[] = []
  readonly processed = new Map<string, string[]>() // "p/offset" -> consumers
  readonly committed = new Map<number, number>()
  readonly firstOffsetBy = new Map<string, number>() // "consumer/p" -> first offset it read

  handler(name: string, delayMs = () => Math.random() * 2) {
    return async ({ partition, message }: EachMessagePayload) => {
      const other = this.inside.get(partition)
      if (other !== undefined) this.violations.push(`${name} entered p${partition} while ${other} was in it`)
      const offset = Number(message.offset)
      if (offset < (this.committed.get(partition) ?? 0)) this.violations.push(`${name} read p${partition}@${offset} after ${this.committed.get(partition)} was committed`)
      if (!this.firstOffsetBy.has(`${name}/${partition}`)) this.firstOffsetBy.set(`${name}/${partition}`, offset)
      this.inside.set(partition, name)
      const delay = delayMs()
      if (delay > 0) await sleep(delay)
      const key = `${partition}/${offset}`
      this.processed.set(key, [...(this.processed.get(key) ?? []), name])
      this.inside.delete(partition)
    }
  }

  watch(consumer: Consumer) {
    consumer.on(consumer.events.COMMIT_OFFSETS, ({ payload }) => {
      for (const t of payload.topics) for (const p of t.partitions) {
        this.committed.set(Number(p.partition), Math.max(this.committed.get(Number(p.partition)) ?? 0, Number(p.offset)))
      }
    })
  }

  missing(partitions: number, perPartition: number): string[] {
    const out: string[] = []
    for (let p = 0; p < partitions; p++) for (let o = 0; o < perPartition; o++) if (!this.processed.has(`${p}/${o}`)) out.push(`${p}/${o}`)
    return out
  }

  duplicates(): string[] {
    return [...this.processed].filter(([, by]) => by.length > 1).map(([k, by]) => `${k} by ${by.join(',')}`)
  }
}

async function stableGroup(w: World, groupId: string, members: number, partitions: number) {
  await until(async () => {
    const [g] = await w.log.broker.describeGroups({ groupIds: [groupId] })
    const total = g.members.reduce((s, m) => s + m.assignment.reduce((n, t) => n + t.partitions.length, 0), 0)
    return g.state === 'Stable' && g.members.length === members && total === partitions
  }, 8_000, `a stable group of ${members}`)
  const [g] = await w.log.broker.describeGroups({ groupIds: [groupId] })
  return g
}

describe.each(['cooperative-sticky', 'range', 'roundrobin'] as const)('members joining and leaving (%s)', (assignor) => {
  it('every partition has one reader at a time, nothing is skipped, and a graceful handover reads nothing twice', async () => {
    const P = 6
    w = await world({ t: P })
    const ref = new Referee()
    const live: Array<{ name: string; consumer: Consumer }> = []
    let n = 0
    const start = async () => {
      const name = `c${n++}`
      const { consumer } = w.consumer({ ...FAST, groupId: 'g', partitionAssigners: [assignor] })
      ref.watch(consumer)
      await consumer.subscribe({ topics: ['t'], fromBeginning: true })
      await consumer.run({ eachMessage: ref.handler(name) })
      live.push({ name, consumer })
    }
    const leave = async () => {
      const { consumer } = live.shift()!
      await consumer.disconnect()
    }
    let produced = 0
    const produceRound = async () => {
      for (let p = 0; p < P; p++) await w.produce('t', p, 20)
      produced += 20
    }
    await start(); await start()
    await produceRound()
    for (const step of ['join', 'join', 'leave', 'join', 'leave', 'leave', 'join', 'join', 'leave'] as const) {
      if (step === 'join') await start()
      else await leave()
      await produceRound()
      await sleep(30 + Math.random() * 40)
    }
    await stableGroup(w, 'g', live.length, P)
    await until(() => ref.missing(P, produced).length === 0, 8_000, 'every record processed')
    expect(ref.violations.slice(0, 5)).toEqual([])
    expect(ref.duplicates()).toEqual([])
    expect(ref.processed.size).toBe(P * produced)
    await until(async () => Object.values(await w.committed('g', 't')).every((o) => o === produced), 5_000, 'all committed')
  })
})

describe('a member that leaves or dies', () => {
  it('leaving (disconnect): its partitions go to the other member, which resumes from the committed offsets', async () => {
    w = await world({ t: 4 })
    const ref = new Referee()
    const { consumer: a } = w.consumer({ ...FAST, groupId: 'g' })
    const { consumer: b } = w.consumer({ ...FAST, groupId: 'g' })
    for (const [name, c] of [['a', a], ['b', b]] as const) {
      ref.watch(c)
      await c.subscribe({ topics: ['t'], fromBeginning: true })
      await c.run({ eachMessage: ref.handler(name, () => 0) })
    }
    const g = await stableGroup(w, 'g', 2, 4)
    for (let p = 0; p < 4; p++) await w.produce('t', p, 10)
    await until(() => ref.processed.size === 40)
    await until(async () => Object.values(await w.committed('g', 't')).every((o) => o === 10))
    await a.disconnect()
    await stableGroup(w, 'g', 1, 4)
    for (let p = 0; p < 4; p++) await w.produce('t', p, 10)
    await until(() => ref.processed.size === 80)
    expect(ref.duplicates()).toEqual([])
    expect(ref.violations).toEqual([])
    const [described] = (await w.log.admin().describeGroups(['g'])).groups
    expect(described.members[0].memberAssignment).toEqual({ t: [0, 1, 2, 3] })
    // b took a's partitions at the offset a had committed (10), not from the beginning.
    const aPartitions = g.members.find((m) => m.memberId !== described.members[0].memberId)!.assignment[0].partitions
    for (const p of aPartitions) expect(ref.firstOffsetBy.get(`b/${p}`)).toBe(10)
  })

  it('dying (no heartbeats, no leave): after its session timeout the others take its partitions from the last commit', async () => {
    w = await world({ t: 2 })
    const ref = new Referee()
    const { consumer: a, link } = w.consumer({ ...FAST, groupId: 'g', partitionAssigners: ['range'] })
    const { consumer: b } = w.consumer({ ...FAST, groupId: 'g', partitionAssigners: ['range'] })
    for (const [name, c] of [['a', a], ['b', b]] as const) {
      ref.watch(c)
      await c.subscribe({ topics: ['t'], fromBeginning: true })
      await c.run({ eachMessage: ref.handler(name, () => 0) })
    }
    const before = await stableGroup(w, 'g', 2, 2)
    const aId = (await a.describeGroup()).members.find((m) => before.members.some((x) => x.memberId === m.memberId))
    expect(aId).toBeDefined()
    for (let p = 0; p < 2; p++) await w.produce('t', p, 5)
    await until(() => ref.processed.size === 10)
    await until(async () => Object.values(await w.committed('g', 't')).every((o) => o === 5))
    const aPartition = [0, 1].find((p) => ref.processed.get(`${p}/0`)?.[0] === 'a')!
    const died = Date.now()
    link.mode = 'hang' // the process is gone: no heartbeat, no leave, no commit
    for (let p = 0; p < 2; p++) await w.produce('t', p, 5)
    await until(() => ref.processed.size === 20, 5_000, "b reading a's partition")
    expect(Date.now() - died).toBeGreaterThanOrEqual(250) // not before a's session (300 ms) ran out
    expect(ref.processed.get(`${aPartition}/5`)).toEqual(['b'])
    expect(ref.firstOffsetBy.get(`b/${aPartition}`)).toBe(5)
    expect(ref.duplicates()).toEqual([])
    const after = await stableGroup(w, 'g', 1, 2)
    expect(after.members[0].assignment).toEqual([{ topic: 't', partitions: [0, 1] }])
  })

  it('crashing after committing: the next member resumes from the commit and loses nothing', async () => {
    w = await world({ t: 1 })
    for (let i = 0; i < 1; i++) await w.produce('t', 0, 30)
    const seen: number[] = []
    const { consumer: a, link } = w.consumer({ ...FAST, groupId: 'g' })
    await a.subscribe({ topics: ['t'], fromBeginning: true })
    await a.run({
      eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
        for (const m of batch.messages) {
          if (Number(m.offset) === 20) {
            link.mode = 'hang' // dies in the middle of the batch, after committing 0..19
            await new Promise(() => {})
          }
          seen.push(Number(m.offset))
          resolveOffset(m.offset)
          if (Number(m.offset) === 19) await commitOffsetsIfNecessary()
        }
      },
      eachBatchAutoResolve: false,
    })
    await until(() => seen.length === 20)
    expect(await w.committed('g', 't')).toEqual({ 0: 20 })
    const { consumer: b } = w.consumer({ ...FAST, groupId: 'g' })
    const seenByB: number[] = []
    await b.subscribe({ topics: ['t'], fromBeginning: true })
    await b.run({ eachMessage: async ({ message }) => { seenByB.push(Number(message.offset)) } })
    await until(() => seenByB.length === 10, 5_000)
    expect(seenByB).toEqual([20, 21, 22, 23, 24, 25, 26, 27, 28, 29])
    await until(async () => (await w.committed('g', 't'))[0] === 30)
  })

  it('cut off from the coordinator: it gives its partitions up after a session, and rejoins when it is back', { timeout: 15_000 }, async () => {
    w = await world({ t: 2 })
    const ref = new Referee()
    const { consumer: a, link } = w.consumer({ ...FAST, groupId: 'g', partitionAssigners: ['range'], retry: { retries: 1000, initialRetryTime: 20, maxRetryTime: 20 } })
    const { consumer: b } = w.consumer({ ...FAST, groupId: 'g', partitionAssigners: ['range'] })
    for (const [name, c] of [['a', a], ['b', b]] as const) {
      ref.watch(c)
      await c.subscribe({ topics: ['t'], fromBeginning: true })
      await c.run({ eachMessage: ref.handler(name, () => 0) })
    }
    await stableGroup(w, 'g', 2, 2)
    link.mode = 'fail'
    await stableGroup(w, 'g', 1, 2) // a was dropped after its session
    for (let p = 0; p < 2; p++) await w.produce('t', p, 5)
    await until(() => ref.processed.size === 10)
    expect([...ref.processed.values()].every((by) => by[0] === 'b')).toBe(true)
    let joined = 0
    a.on(a.events.GROUP_JOIN, () => { joined++ })
    link.mode = 'ok' // back: fenced (UNKNOWN_MEMBER_ID), it rejoins with a new member id
    await until(() => joined > 0, 5_000, 'a rejoining')
    await stableGroup(w, 'g', 2, 2)
    for (let p = 0; p < 2; p++) await w.produce('t', p, 5)
    await until(() => ref.processed.size === 20)
    expect(ref.violations, 'violations').toEqual([])
    expect(ref.duplicates(), 'duplicates').toEqual([])
  })
})

describe('static membership (groupInstanceId)', () => {
  it('a restarted member with the same instance id gets its partitions back without a rebalance', async () => {
    w = await world({ t: 4 })
    const make = (instance: string) => w.consumer({ ...FAST, sessionTimeout: 2_000, groupId: 'g', groupInstanceId: instance, partitionAssigners: ['range'] }).consumer
    const a = make('a')
    const b = make('b')
    const rebalancesOfB: unknown[] = []
    for (const c of [a, b]) {
      await c.subscribe({ topics: ['t'], fromBeginning: true })
      await c.run({ eachMessage: async () => {} })
    }
    const before = await stableGroup(w, 'g', 2, 4)
    b.on(b.events.REBALANCING, (e) => rebalancesOfB.push(e))
    const byInstance = (g: typeof before) => Object.fromEntries(g.members.map((m) => [m.instanceId, m]))
    await a.disconnect() // leaves with epoch -2: the group keeps its place
    const away = (await w.log.broker.describeGroups({ groupIds: ['g'] }))[0]
    expect(away.groupEpoch).toBe(before.groupEpoch)
    const a2 = make('a')
    await a2.subscribe({ topics: ['t'], fromBeginning: true })
    let joined: Record<string, number[]> | null = null
    a2.on(a2.events.GROUP_JOIN, (e) => { joined = e.payload.memberAssignment })
    await a2.run({ eachMessage: async () => {} })
    await until(() => joined !== null)
    const after = await stableGroup(w, 'g', 2, 4)
    expect(after.groupEpoch).toBe(before.groupEpoch)
    expect(byInstance(after).a.assignment).toEqual(byInstance(before).a.assignment)
    expect(joined).toEqual({ t: byInstance(before).a.assignment[0].partitions })
    expect(byInstance(after).b).toMatchObject({ memberId: byInstance(before).b.memberId, memberEpoch: byInstance(before).b.memberEpoch, assignment: byInstance(before).b.assignment })
    await sleep(100)
    expect(rebalancesOfB).toEqual([])
  })
})

describe('property: random joins, leaves and crashes', () => {
  it('one reader per partition at a time, nothing skipped, and the group ends with every partition owned once', { timeout: 60_000 }, async () => {
    await fc.assert(fc.asyncProperty(
      fc.constantFrom('range', 'roundrobin', 'cooperative-sticky'),
      fc.array(fc.constantFrom('join', 'leave', 'crash'), { minLength: 2, maxLength: 6 }),
      async (assignor, steps) => {
        const P = 4
        w = await world({ t: P })
        try {
          const ref = new Referee()
          const live: Array<{ consumer: Consumer; link: { mode: string } }> = []
          let n = 0
          const join = async () => {
            const name = `c${n++}`
            const { consumer, link } = w.consumer({ ...FAST, groupId: 'g', partitionAssigners: [assignor] })
            ref.watch(consumer)
            await consumer.subscribe({ topics: ['t'], fromBeginning: true })
            await consumer.run({ eachMessage: ref.handler(name) })
            live.push({ consumer, link })
          }
          let produced = 0
          await join()
          for (const step of steps) {
            if (step === 'join' || live.length <= 1) await join()
            else if (step === 'leave') await live.shift()!.consumer.disconnect()
            else live.shift()!.link.mode = 'hang' // dies without a word
            for (let p = 0; p < P; p++) await w.produce('t', p, 5)
            produced += 5
            await sleep(Math.random() * 50)
          }
          const g = await stableGroup(w, 'g', live.length, P)
          const owned = g.members.flatMap((m) => m.assignment.flatMap((t) => t.partitions)).sort()
          expect(owned).toEqual([0, 1, 2, 3])
          await until(() => ref.missing(P, produced).length === 0, 8_000, 'every record processed')
          expect(ref.violations).toEqual([])
        } finally {
          await w.close()
        }
      },
    ), { numRuns: 6 })
  })
})
