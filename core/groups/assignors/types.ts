/**
 * Shared shapes and helpers of the assignors. An assignor is a pure function from the group's
 * members (with their subscriptions and what they own now) and the partition counts of the
 * subscribed topics to a target assignment, computed the way Apache Kafka's assignor of the
 * same name computes it.
 */
import type { TopicPartitions } from '../../broker.ts'

export interface AssignorMember {
  memberId: string
  instanceId?: string | null
  /** Subscribed topic names (topics without partition counts are ignored). */
  topics: string[]
  /** What the member owns now (the previous target assignment, for sticky assignors). */
  owned: TopicPartitions[]
}

export interface AssignorInput {
  members: AssignorMember[]
  partitionsPerTopic: Record<string, number>
}

/** memberId → its partitions, topics sorted by name, partitions ascending; every member present. */
export type GroupAssignment = Record<string, TopicPartitions[]>

export interface Assignor {
  name: string
  assign(input: AssignorInput): GroupAssignment
}

/** Java's String.compareTo order (UTF-16 code units), as a -1/0/1 comparator. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * Kafka's `MemberInfo` order (AbstractPartitionAssignor.MemberInfo.compareTo): static members
 * (with a group instance id) first, ordered by instance id; then dynamic members by member id.
 * Without instance ids this is simply member-id order.
 */
export function compareMembers(
  a: { memberId: string; instanceId?: string | null },
  b: { memberId: string; instanceId?: string | null },
): number {
  const ai = a.instanceId ?? null
  const bi = b.instanceId ?? null
  if (ai !== null && bi !== null) return compareStrings(ai, bi)
  if (ai !== null) return -1
  if (bi !== null) return 1
  return compareStrings(a.memberId, b.memberId)
}

/** Topics of `partitionsPerTopic` that at least one member subscribes to and that have partitions. */
export function subscribedPartitionCounts(input: AssignorInput): Map<string, number> {
  const subscribed = new Set<string>()
  for (const m of input.members) for (const t of m.topics) subscribed.add(t)
  const out = new Map<string, number>()
  for (const [topic, count] of Object.entries(input.partitionsPerTopic)) {
    if (subscribed.has(topic) && Number.isInteger(count) && count > 0) out.set(topic, count)
  }
  return out
}

/** Groups (topic, partition) pairs into sorted TopicPartitions. */
export function toTopicPartitions(pairs: Iterable<readonly [string, number]>): TopicPartitions[] {
  const byTopic = new Map<string, number[]>()
  for (const [topic, partition] of pairs) {
    let list = byTopic.get(topic)
    if (!list) byTopic.set(topic, (list = []))
    list.push(partition)
  }
  return [...byTopic.keys()].sort(compareStrings).map((topic) => ({
    topic,
    partitions: byTopic.get(topic)!.sort((x, y) => x - y),
  }))
}

export function emptyAssignment(input: AssignorInput): Map<string, Array<[string, number]>> {
  const out = new Map<string, Array<[string, number]>>()
  for (const m of input.members) out.set(m.memberId, [])
  return out
}

export function finish(assignment: Map<string, Array<readonly [string, number]>>): GroupAssignment {
  const out: GroupAssignment = {}
  for (const [member, pairs] of assignment) out[member] = toTopicPartitions(pairs)
  return out
}

/** Java's String.hashCode. */
export function javaStringHash(s: string): number {
  let h = 0
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0
  return h
}

/**
 * The iteration order of a java.util.HashMap<String, …> holding `keys` (inserted in the given
 * order, default capacity and load factor): by bucket, then insertion order within a bucket.
 * Kafka's sticky assignor walks its member maps in this order when it decides which members keep
 * more than the minimum quota, so reproducing it reproduces Kafka's choice.
 */
export function javaHashMapOrder(keys: string[]): string[] {
  let capacity = 16
  while (keys.length > capacity * 0.75) capacity *= 2
  const bucket = (k: string) => {
    const h = javaStringHash(k)
    return (h ^ (h >>> 16)) & (capacity - 1)
  }
  return keys
    .map((k, i) => ({ k, i, b: bucket(k) }))
    .sort((x, y) => x.b - y.b || x.i - y.i)
    .map((e) => e.k)
}
