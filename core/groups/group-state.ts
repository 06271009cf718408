/**
 * The persisted shape of a consumer group (meta key `group/<groupId>`) and the pure helpers of
 * KIP-848 reconciliation. Partition sets are kept as `{ [topic]: number[] }` (sorted), which is
 * what the member descriptions show and what JSON holds well.
 */
import type { TopicPartitions } from '../broker.ts'
import { compareStrings } from './assignors/types.ts'

export type PartitionMap = Record<string, number[]>

/** KIP-848's member states (CurrentAssignmentBuilder). */
export type MemberState = 'stable' | 'unrevoked' | 'unreleased'

export interface MemberRecord {
  memberId: string
  instanceId: string | null
  clientId: string
  clientHost: string
  rackId: string | null
  /** Current epoch (kept while a static member is away, for its replacement to take over). */
  memberEpoch: number
  /** A static member that left with epoch -2 and may come back within its session timeout. */
  away: boolean
  previousMemberEpoch: number
  state: MemberState
  subscribedTopicNames: string[]
  subscribedTopicRegex: string | null
  /** Assignor names (canonical) in order of preference; empty: any. */
  serverAssignors: string[]
  /** What the member has been told it owns (its current assignment). */
  assigned: PartitionMap
  /** Partitions taken from it that it has not yet acknowledged giving up. */
  pendingRevocation: PartitionMap
  /** What it last reported owning. */
  owned: PartitionMap
  /** The assignment last sent in a response (JSON), to send `assignment: null` when unchanged. */
  sentAssignment: string | null
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  /** Time of the last request (ms); timers are re-armed from the load time after a restart. */
  lastSeen: number
  /** Set while state is 'unrevoked': the member is fenced if it has not revoked by then. */
  revocationDeadline: number | null
  joinedAt: number
}

export interface GroupRecord {
  groupId: string
  groupEpoch: number
  /** Epoch of `targetAssignment`. */
  assignmentEpoch: number
  /** The assignor in use ('' until a member joined). */
  assignor: string
  members: Record<string, MemberRecord>
  targetAssignment: Record<string, PartitionMap>
  /** Partition counts of the subscribed topics the target was computed with. */
  topics: Record<string, number>
  /** When the group last became empty (or was created empty); null while it has members. */
  emptySince: number | null
  createdAt: number
}

export function newGroup(groupId: string, now: number): GroupRecord {
  return {
    groupId, groupEpoch: 0, assignmentEpoch: 0, assignor: '', members: {}, targetAssignment: {},
    topics: {}, emptySince: now, createdAt: now,
  }
}

export function fromTopicPartitions(list: TopicPartitions[] | null | undefined): PartitionMap {
  const out: PartitionMap = {}
  for (const tp of list ?? []) {
    if (!tp || typeof tp.topic !== 'string' || !Array.isArray(tp.partitions)) continue
    const set = new Set(out[tp.topic] ?? [])
    for (const p of tp.partitions) if (Number.isInteger(p) && p >= 0) set.add(p)
    if (set.size > 0) out[tp.topic] = [...set].sort((a, b) => a - b)
  }
  return out
}

export function toTopicPartitionList(map: PartitionMap): TopicPartitions[] {
  return Object.keys(map)
    .filter((t) => map[t].length > 0)
    .sort(compareStrings)
    .map((topic) => ({ topic, partitions: [...map[topic]].sort((a, b) => a - b) }))
}

export function has(map: PartitionMap, topic: string, partition: number): boolean {
  return map[topic]?.includes(partition) ?? false
}

export function isEmptyMap(map: PartitionMap): boolean {
  return Object.values(map).every((l) => l.length === 0)
}

export function* pairs(map: PartitionMap): Generator<[string, number]> {
  for (const topic of Object.keys(map)) for (const p of map[topic]) yield [topic, p]
}

export function fromPairs(list: Iterable<readonly [string, number]>): PartitionMap {
  const out: PartitionMap = {}
  for (const [t, p] of list) (out[t] ??= []).push(p)
  for (const t of Object.keys(out)) out[t] = [...new Set(out[t])].sort((a, b) => a - b)
  return out
}

export function intersect(a: PartitionMap, b: PartitionMap): PartitionMap {
  return fromPairs([...pairs(a)].filter(([t, p]) => has(b, t, p)))
}

export function minus(a: PartitionMap, b: PartitionMap): PartitionMap {
  return fromPairs([...pairs(a)].filter(([t, p]) => !has(b, t, p)))
}

export function union(a: PartitionMap, b: PartitionMap): PartitionMap {
  return fromPairs([...pairs(a), ...pairs(b)])
}

export function sameMap(a: PartitionMap, b: PartitionMap): boolean {
  return canonical(a) === canonical(b)
}

export function canonical(map: PartitionMap): string {
  return JSON.stringify(toTopicPartitionList(map))
}

/** The KIP-848 group state as described: Empty, Reconciling, Stable. */
export function groupState(group: GroupRecord): 'Empty' | 'Reconciling' | 'Stable' {
  const members = Object.values(group.members)
  if (members.length === 0) return 'Empty'
  for (const m of members) {
    if (m.away) continue
    if (m.state !== 'stable' || m.memberEpoch !== group.assignmentEpoch) return 'Reconciling'
  }
  return 'Stable'
}

/** A deep copy: requests work on one, which replaces the cached group only once stored. */
export function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T
}

/** One partition as a map key of the coordinator's caches. */
export const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`

export const splitTpKey = (k: string): [string, number] => {
  const i = k.lastIndexOf('\u0000')
  return [k.slice(0, i), Number(k.slice(i + 1))]
}
