/**
 * Kafka's RangeAssignor (without rack information): per topic, the subscribed members in
 * MemberInfo order each get a contiguous range of n/m partitions, the first n%m one extra.
 */
import { compareMembers, emptyAssignment, finish, subscribedPartitionCounts, type Assignor, type AssignorInput, type GroupAssignment } from './types.ts'

export const rangeAssignor: Assignor = {
  name: 'range',
  assign(input: AssignorInput): GroupAssignment {
    const out = emptyAssignment(input)
    const members = [...input.members].sort(compareMembers)
    const topicSets = new Map(members.map((m) => [m.memberId, new Set(m.topics)]))
    for (const [topic, count] of subscribedPartitionCounts(input)) {
      const consumers = members.filter((m) => topicSets.get(m.memberId)!.has(topic))
      if (consumers.length === 0) continue
      const per = Math.floor(count / consumers.length)
      const extra = count % consumers.length
      consumers.forEach((m, i) => {
        const start = per * i + Math.min(i, extra)
        const length = per + (i < extra ? 1 : 0)
        const list = out.get(m.memberId)!
        for (let p = start; p < start + length; p++) list.push([topic, p])
      })
    }
    return finish(out)
  },
}
