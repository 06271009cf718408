/**
 * Micro-benchmark (run: npx tsx test/groups/bench-rebalance.ts): one rebalance of 100 members
 * over 1,000 partitions (10 topics × 100) with each assignor — from scratch, and after one member
 * joins a settled group (owned partitions given) — plus the same rebalance through the
 * coordinator (the 101st member's join: target computed, member reconciled, group stored).
 */
import { ASSIGNORS, type AssignorMember } from '../core/groups/assignors/index.ts'
import { harness } from '../test/groups/helpers.ts'

const topics = Array.from({ length: 10 }, (_, i) => `topic-${i}`)
const partitionsPerTopic = Object.fromEntries(topics.map((t) => [t, 100]))
const ids = Array.from({ length: 100 }, (_, i) => `member-${String(i).padStart(3, '0')}`)

function time(fn: () => void, runs = 20): number {
  fn() // warm up
  const samples: number[] = []
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    fn()
    samples.push(performance.now() - t0)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)]
}

for (const assignor of Object.values(ASSIGNORS)) {
  const members: AssignorMember[] = ids.map((memberId) => ({ memberId, topics, owned: [] }))
  const cold = time(() => assignor.assign({ members, partitionsPerTopic }))
  const settled = assignor.assign({ members, partitionsPerTopic })
  const joined: AssignorMember[] = [...ids.map((memberId) => ({ memberId, topics, owned: settled[memberId] })), { memberId: 'member-new', topics, owned: [] }]
  const warm = time(() => assignor.assign({ members: joined, partitionsPerTopic }))
  // mixed subscriptions force cooperative-sticky's general algorithm
  const mixed: AssignorMember[] = ids.map((memberId, i) => ({ memberId, topics: i % 2 ? topics : topics.slice(0, 5), owned: [] }))
  const general = time(() => assignor.assign({ members: mixed, partitionsPerTopic }), 5)
  console.log(`${assignor.name.padEnd(20)} cold ${cold.toFixed(2)} ms   one member joins ${warm.toFixed(2)} ms   mixed subscriptions ${general.toFixed(2)} ms`)
}

for (const name of Object.keys(ASSIGNORS)) {
  const h = harness(partitionsPerTopic, { 'group.consumer.session.timeout.ms': 3_600_000 })
  for (const memberId of ids) {
    await h.coordinator.heartbeat({ groupId: 'g', memberId, memberEpoch: 0, subscribedTopicNames: topics, serverAssignors: [name] })
  }
  const t0 = performance.now()
  await h.coordinator.heartbeat({ groupId: 'g', memberId: 'member-new', memberEpoch: 0, subscribedTopicNames: topics, serverAssignors: [name] })
  const join = performance.now() - t0
  console.log(`coordinator ${name.padEnd(20)} 101st member join (rebalance + store) ${join.toFixed(2)} ms`)
}
