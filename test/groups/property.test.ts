/**
 * Property: under random joins, leaves, crashes (session expiry through an injected clock),
 * partition increases and heartbeats, no partition is ever owned by two members, and once
 * heartbeats settle every partition of the subscribed topics is owned by exactly one member.
 *
 * Simulated clients behave as KIP-848 consumers: they report what they own, take the assignment
 * a response carries (giving up what it no longer lists), drop everything on a fencing error,
 * and consider their partitions lost when their last successful heartbeat is older than the
 * session timeout.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { EdgelogError } from '../../core/errors.ts'
import { harness, tps, type Harness } from './helpers.ts'

const SESSION = 10_000
const TOPICS = ['a', 'b']
const ASSIGNORS = ['range', 'roundrobin', 'cooperative-sticky']

interface Client {
  memberId: string
  epoch: number
  alive: boolean
  joined: boolean
  owned: Set<string>
  lastOk: number
  topics: string[]
  assignors: string[]
  instanceId: string | null
}

type Cmd =
  | { k: 'join'; c: number }
  | { k: 'beat'; c: number }
  | { k: 'leave'; c: number }
  | { k: 'crash'; c: number }
  | { k: 'tick'; ms: number }
  | { k: 'grow'; topic: string }

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('join' as const), c: fc.nat(5) }) },
  { weight: 8, arbitrary: fc.record({ k: fc.constant('beat' as const), c: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('leave' as const), c: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('crash' as const), c: fc.nat(5) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('tick' as const), ms: fc.integer({ min: 100, max: 6_000 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('grow' as const), topic: fc.constantFrom(...TOPICS) }) },
)

const clientSpec = fc.record({
  topics: fc.subarray(TOPICS, { minLength: 1 }),
  assignors: fc.shuffledSubarray(ASSIGNORS, { minLength: 3 }),
  static: fc.boolean(),
})

async function heartbeat(h: Harness, c: Client) {
  try {
    const r = await h.coordinator.heartbeat({
      groupId: 'g',
      memberId: c.joined ? c.memberId : '',
      memberEpoch: c.joined ? c.epoch : 0,
      instanceId: c.instanceId,
      subscribedTopicNames: c.topics,
      serverAssignors: c.assignors,
      topicPartitions: tps(toMap(c.owned)),
    })
    c.memberId = r.memberId
    c.epoch = r.memberEpoch
    c.joined = true
    c.lastOk = h.clock.t
    if (r.assignment) c.owned = new Set(r.assignment.flatMap((tp) => tp.partitions.map((p) => `${tp.topic}-${p}`)))
  } catch (e) {
    if (!(e instanceof EdgelogError)) throw e
    // fenced / unknown / instance still held: give everything up and join again later
    c.owned = new Set()
    c.joined = false
    c.epoch = 0
  }
}

function toMap(owned: Set<string>): Record<string, number[]> {
  const out: Record<string, number[]> = {}
  for (const k of owned) {
    const i = k.lastIndexOf('-')
    ;(out[k.slice(0, i)] ??= []).push(Number(k.slice(i + 1)))
  }
  return out
}

function checkNoDoubleOwnership(h: Harness, clients: Client[]) {
  const seen = new Map<string, number>()
  clients.forEach((c, i) => {
    if (!c.alive || !c.joined) return
    if (h.clock.t - c.lastOk >= SESSION) c.owned = new Set() // the client knows its session is over
    for (const tp of c.owned) {
      expect(seen.has(tp), `${tp} owned by clients ${seen.get(tp)} and ${i}`).toBe(false)
      seen.set(tp, i)
    }
  })
  return seen
}

describe('group coordinator property', () => {
  it('never two owners; everything owned once heartbeats settle', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(clientSpec, { minLength: 6, maxLength: 6 }),
        fc.array(cmd, { minLength: 1, maxLength: 60 }),
        fc.record({ a: fc.integer({ min: 1, max: 6 }), b: fc.integer({ min: 1, max: 4 }) }),
        async (specs, cmds, partitions) => {
          const h = harness({ ...partitions }, { 'group.consumer.session.timeout.ms': SESSION })
          const clients: Client[] = specs.map((s, i) => ({
            memberId: '', epoch: 0, alive: false, joined: false, owned: new Set(), lastOk: 0,
            topics: s.topics, assignors: s.assignors, instanceId: s.static ? `instance-${i}` : null,
          }))
          for (const c of cmds) {
            const client = 'c' in c ? clients[c.c] : undefined
            switch (c.k) {
              case 'join':
                if (!client!.alive) {
                  client!.alive = true
                  client!.joined = false
                  client!.owned = new Set()
                  await heartbeat(h, client!)
                }
                break
              case 'beat':
                if (client!.alive) await heartbeat(h, client!)
                break
              case 'leave':
                if (client!.alive && client!.joined) {
                  await h.coordinator.heartbeat({ groupId: 'g', memberId: client!.memberId, memberEpoch: client!.instanceId ? -2 : -1, instanceId: client!.instanceId }).catch(() => {})
                }
                client!.alive = false
                client!.joined = false
                client!.owned = new Set()
                break
              case 'crash':
                client!.alive = false
                client!.joined = false
                client!.owned = new Set()
                break
              case 'tick':
                h.clock.t += c.ms
                if (c.ms % 2 === 0) await h.coordinator.expire()
                break
              case 'grow':
                h.topics.partitions[c.topic] += 1
                break
            }
            checkNoDoubleOwnership(h, clients)
          }

          // settle: live clients heartbeat every 3 s until the dead ones' sessions are over
          for (let round = 0; round < 5; round++) {
            for (const c of clients) if (c.alive) await heartbeat(h, c)
            checkNoDoubleOwnership(h, clients)
            h.clock.t += 3_000
            await h.coordinator.expire()
          }
          for (let round = 0; round < 8; round++) {
            for (const c of clients) if (c.alive) await heartbeat(h, c)
            checkNoDoubleOwnership(h, clients)
          }
          const owners = checkNoDoubleOwnership(h, clients)
          const live = clients.filter((c) => c.alive)
          const subscribed = new Set(live.flatMap((c) => c.topics))
          const expected = new Set<string>()
          for (const t of subscribed) for (let p = 0; p < h.topics.partitions[t]; p++) expected.add(`${t}-${p}`)
          expect(new Set(owners.keys())).toEqual(expected)
          // and the coordinator agrees: its group is stable
          if (live.length > 0) {
            const [d] = await h.coordinator.describeGroups({ groupIds: ['g'] })
            expect(d.state).toBe('Stable')
            expect(d.members.length).toBe(live.length)
          }
        },
      ),
      { numRuns: 150 },
    )
  }, 120_000)
})
