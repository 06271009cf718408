/**
 * The seeds' cases through real consumers, for each assignor: 3 partitions with 2 consumers
 * (one reads two), with 3 (one each), with 4 (one idles); describeGroups shows the assignor in
 * use and each member's assignment as { [topic]: partitions }.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Consumer } from '../../core/index.ts'
import { FAST, until, world, type World } from './helpers.ts'

let w: World
afterEach(async () => { await w?.close() })

const assignors = ['range', 'roundrobin', 'cooperative-sticky'] as const

describe.each(assignors)('with partitionAssigners [%s]', (assignor) => {
  it.each([
    [2, [1, 2]],
    [3, [1, 1, 1]],
    [4, [0, 1, 1, 1]],
  ])('3 partitions and %i consumers: partition counts %j, every partition read by exactly one', async (n, expectedCounts) => {
    w = await world({ email: 3 })
    const groupId = `g-${assignor}-${n}`
    const readBy = new Map<number, Set<string>>()
    const consumers: Consumer[] = []
    const joins: Array<Record<string, number[]>> = []
    for (let i = 0; i < n; i++) {
      const { consumer } = w.consumer({ ...FAST, groupId, partitionAssigners: [assignor] })
      consumer.on(consumer.events.GROUP_JOIN, (e) => joins.push(e.payload.memberAssignment))
      await consumer.subscribe({ topics: ['email'], fromBeginning: true })
      await consumer.run({
        eachMessage: async ({ partition }) => {
          let set = readBy.get(partition)
          if (!set) readBy.set(partition, (set = new Set()))
          set.add(`c${i}`)
        },
      })
      consumers.push(consumer)
    }
    const admin = w.log.admin()
    const describeStable = async () => {
      const { groups } = await admin.describeGroups([groupId])
      const g = groups[0]
      const total = g.members.reduce((sum, m) => sum + (m.memberAssignment.email?.length ?? 0), 0)
      return g.state === 'Stable' && g.members.length === n && total === 3 ? g : null
    }
    await until(async () => (await describeStable()) !== null, 5_000, 'a stable group')
    const group = (await describeStable())!
    expect(group.protocol).toBe(assignor)
    expect(group.protocolType).toBe('consumer')
    const counts = group.members.map((m) => m.memberAssignment.email?.length ?? 0).sort()
    expect(counts).toEqual(expectedCounts)
    for (const m of group.members) {
      expect(m.clientId).toBe('test')
      for (const [topic, partitions] of Object.entries(m.memberAssignment)) {
        expect(topic).toBe('email')
        expect(partitions).toEqual([...partitions].sort((a, b) => a - b))
      }
    }
    const all = group.members.flatMap((m) => m.memberAssignment.email ?? []).sort()
    expect(all).toEqual([0, 1, 2])

    // Records produced now are each read by the member that owns their partition, and only by it.
    for (let p = 0; p < 3; p++) await w.produce('email', p, 5)
    await until(() => [0, 1, 2].every((p) => readBy.has(p)), 5_000, 'every partition read')
    for (const [, readers] of readBy) expect(readers.size).toBe(1)
    // Every consumer announced its assignment with GROUP_JOIN (an idle one with nothing).
    await until(() => joins.length >= n)
  })
})

it('a member asking for an assignor the group does not use gets INCONSISTENT_GROUP_PROTOCOL', async () => {
  w = await world({ t: 2 })
  const { consumer: a } = w.consumer({ ...FAST, groupId: 'g', partitionAssigners: ['range'] })
  await a.subscribe({ topics: ['t'] })
  await a.run({ eachMessage: async () => {} })
  const { consumer: b } = w.consumer({ ...FAST, groupId: 'g', partitionAssigners: ['roundrobin'] })
  await b.subscribe({ topics: ['t'] })
  await expect(b.run({ eachMessage: async () => {} })).rejects.toMatchObject({ code: 'INCONSISTENT_GROUP_PROTOCOL' })
  // Nothing of b stays running, and the group is as it was.
  const { groups } = await w.log.admin().describeGroups(['g'])
  expect(groups[0].members).toHaveLength(1)
  expect(groups[0].members[0].memberAssignment).toEqual({ t: [0, 1] })
})
