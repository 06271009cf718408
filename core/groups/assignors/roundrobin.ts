/**
 * Kafka's RoundRobinAssignor: every subscribed partition, sorted by topic then partition, goes to
 * the next member (MemberInfo order, circular) that subscribes to its topic.
 */
import { compareMembers, compareStrings, emptyAssignment, finish, subscribedPartitionCounts, type Assignor, type AssignorInput, type GroupAssignment } from './types.ts'

export const roundRobinAssignor: Assignor = {
  name: 'roundrobin',
  assign(input: AssignorInput): GroupAssignment {
    const out = emptyAssignment(input)
    const members = [...input.members].sort(compareMembers)
    if (members.length === 0) return finish(out)
    const topicSets = members.map((m) => new Set(m.topics))
    const counts = subscribedPartitionCounts(input)
    let next = 0
    for (const topic of [...counts.keys()].sort(compareStrings)) {
      const count = counts.get(topic)!
      for (let p = 0; p < count; p++) {
        while (!topicSets[next].has(topic)) next = (next + 1) % members.length
        out.get(members[next].memberId)!.push([topic, p])
        next = (next + 1) % members.length
      }
    }
    return finish(out)
  },
}
