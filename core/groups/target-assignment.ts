/**
 * The group's target assignment: which assignor the group uses and what it gives each member.
 * The coordinator computes it itself (KIP-848's server-side assignment) whenever the group
 * epoch moves past the epoch the target was computed at.
 */
import { ASSIGNORS } from './assignors/index.ts'
import { compareStrings } from './assignors/types.ts'
import { fromTopicPartitions, toTopicPartitionList, type GroupRecord, type MemberRecord, type PartitionMap } from './group-state.ts'

/** Preference order of a member that names no assignor (Kafka Java's default list first). */
export const DEFAULT_ASSIGNORS = ['range', 'cooperative-sticky', 'roundrobin']

/** The member's subscribed topics among the group's known topics. */
export type MemberTopics = (g: GroupRecord, m: MemberRecord) => string[]

/**
 * The group's assignor: the first in the oldest member's preference list that every member
 * supports. undefined when the members have none in common.
 */
export function selectAssignor(g: GroupRecord): string | undefined {
  const members = Object.values(g.members).sort((a, b) => a.joinedAt - b.joinedAt || compareStrings(a.memberId, b.memberId))
  if (members.length === 0) return g.assignor
  const first = members[0].serverAssignors.length > 0 ? members[0].serverAssignors : DEFAULT_ASSIGNORS
  for (const name of first) {
    if (members.every((m) => m.serverAssignors.length === 0 || m.serverAssignors.includes(name))) return name
  }
  return undefined
}

/** Recomputes the target assignment when the group epoch moved past it. */
export function computeTarget(g: GroupRecord, memberTopics: MemberTopics): void {
  if (g.assignmentEpoch === g.groupEpoch) return
  const members = Object.values(g.members).sort((a, b) => compareStrings(a.memberId, b.memberId))
  const next: Record<string, PartitionMap> = {}
  if (members.length > 0) {
    const assignor = ASSIGNORS[g.assignor] ?? ASSIGNORS[DEFAULT_ASSIGNORS[0]]
    const result = assignor.assign({
      members: members.map((m) => ({
        memberId: m.memberId,
        instanceId: m.instanceId,
        topics: memberTopics(g, m),
        owned: toTopicPartitionList(g.targetAssignment[m.memberId] ?? {}),
      })),
      partitionsPerTopic: { ...g.topics },
    })
    for (const m of members) next[m.memberId] = fromTopicPartitions(result[m.memberId] ?? [])
  }
  g.targetAssignment = next
  g.assignmentEpoch = g.groupEpoch
}

/** After members left: the remaining members' assignor (when they agree on one), and a new target. */
export function retarget(g: GroupRecord, memberTopics: MemberTopics): void {
  const assignor = selectAssignor(g)
  if (assignor !== undefined) g.assignor = assignor
  computeTarget(g, memberTopics)
}
