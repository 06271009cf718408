/**
 * Who is in a group: members joining (dynamic and static, KIP-345), being found by the requests
 * that name them, leaving, and being dropped when their session or revocation times out.
 */
import {
  clone, intersect, isEmptyMap, type GroupRecord, type MemberRecord, type PartitionMap,
} from './group-state.ts'
import { reconcile } from './reconciliation.ts'
import { fail } from './requests.ts'
import { retarget, type MemberTopics } from './target-assignment.ts'

/** Kafka's max.poll.interval.ms default, used when a member sends no rebalance timeout. */
export const DEFAULT_REBALANCE_TIMEOUT_MS = 300_000

function randomMemberId(): string {
  const bytes = new Uint8Array(16)
  crypto.getRandomValues(bytes)
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  let out = ''
  let bits = 0
  let value = 0
  for (const b of bytes) {
    value = (value << 8) | b
    bits += 8
    while (bits >= 6) {
      bits -= 6
      out += alphabet[(value >> bits) & 63]
    }
  }
  if (bits > 0) out += alphabet[(value << (6 - bits)) & 63]
  return out
}

function staticMember(g: GroupRecord, instanceId: string): MemberRecord | undefined {
  return Object.values(g.members).find((m) => m.instanceId === instanceId)
}

/** The member a request (other than a join) is about, with Kafka's static-membership checks. */
export function findMember(g: GroupRecord, memberId: string, instanceId: string | null): MemberRecord {
  if (instanceId !== null) {
    const s = staticMember(g, instanceId)
    if (!s) fail('UNKNOWN_MEMBER_ID', `No member with instance id ${instanceId} in group ${g.groupId}`)
    if (s.memberId !== memberId) fail('FENCED_INSTANCE_ID', `Instance id ${instanceId} belongs to member ${s.memberId}, not ${memberId}`)
    return s
  }
  const m = g.members[memberId]
  if (!m) fail('UNKNOWN_MEMBER_ID', `Unknown member ${memberId} in group ${g.groupId}`)
  return m
}

/** A member joining (epoch 0): new, known again, or a static member taking its place back. */
export function join(
  g: GroupRecord, memberIdIn: string, instanceId: string | null, reported: PartitionMap | null, now: number,
  sessionTimeoutMs: number,
): MemberRecord {
  const fresh = (memberId: string): MemberRecord => ({
    memberId, instanceId, clientId: '', clientHost: '', rackId: null, memberEpoch: 0, previousMemberEpoch: -1,
    away: false, state: 'stable', subscribedTopicNames: [], subscribedTopicRegex: null, serverAssignors: [],
    assigned: {}, pendingRevocation: {}, owned: {}, sentAssignment: null,
    sessionTimeoutMs,
    rebalanceTimeoutMs: DEFAULT_REBALANCE_TIMEOUT_MS, lastSeen: now, revocationDeadline: null, joinedAt: now,
  })
  if (instanceId !== null) {
    const s = staticMember(g, instanceId)
    if (s && !s.away) {
      if (memberIdIn !== '' && s.memberId === memberIdIn) return rejoin(s, reported)
      fail('UNRELEASED_INSTANCE_ID', `Instance id ${instanceId} is still in use by member ${s.memberId}`)
    }
    if (s) {
      // A static member coming back within its session timeout: it takes over the old
      // member's epoch and assignment, with no rebalance.
      const memberId = memberIdIn || randomMemberId()
      if (memberId !== s.memberId && g.members[memberId]) fail('FENCED_INSTANCE_ID', `Member id ${memberId} is already in use`)
      const m: MemberRecord = { ...clone(s), memberId, away: false, owned: reported ?? {}, sentAssignment: null, lastSeen: now }
      const target = g.targetAssignment[s.memberId]
      delete g.members[s.memberId]
      delete g.targetAssignment[s.memberId]
      g.members[memberId] = m
      if (target) g.targetAssignment[memberId] = target
      return m
    }
  }
  if (memberIdIn !== '' && g.members[memberIdIn]) {
    const m = g.members[memberIdIn]
    if (m.instanceId !== instanceId) fail('FENCED_INSTANCE_ID', `Member ${memberIdIn} has instance id ${m.instanceId}`)
    return rejoin(m, reported)
  }
  const memberId = memberIdIn || randomMemberId()
  const m = fresh(memberId)
  g.members[memberId] = m
  g.groupEpoch++
  return m
}

/** A known member joining again (epoch 0): it holds only what it reports owning. */
function rejoin(m: MemberRecord, reported: PartitionMap | null): MemberRecord {
  const owned = reported ?? {}
  m.assigned = intersect(m.assigned, owned)
  m.pendingRevocation = intersect(m.pendingRevocation, owned)
  m.owned = owned
  m.sentAssignment = null
  m.away = false
  if (m.state === 'unrevoked' && isEmptyMap(m.pendingRevocation)) {
    m.state = 'stable'
    m.revocationDeadline = null
  }
  if (m.state === 'stable') m.state = 'unreleased' // re-check its target on this heartbeat
  return m
}

export function removeMember(g: GroupRecord, memberId: string, now: number): void {
  delete g.members[memberId]
  delete g.targetAssignment[memberId]
  g.groupEpoch++
  if (Object.keys(g.members).length === 0) g.emptySince = now
}

/** Drops members past their session timeout or rebalance (revocation) timeout. */
export function expireMembers(g: GroupRecord, now: number, memberTopics: MemberTopics): boolean {
  let changed = false
  const epochBefore = g.groupEpoch
  for (const m of Object.values(g.members)) {
    const sessionOver = now >= m.lastSeen + m.sessionTimeoutMs
    const revocationOver = m.state === 'unrevoked' && m.revocationDeadline !== null && now >= m.revocationDeadline
    if (sessionOver || revocationOver) {
      removeMember(g, m.memberId, now)
      changed = true
    }
  }
  if (changed) {
    g.groupEpoch = epochBefore + 1
    retarget(g, memberTopics)
    // Partitions freed by the removed members go to their new owners at once when nothing
    // else holds them; members still to revoke something keep waiting for their heartbeat.
    for (const m of Object.values(g.members)) if (!m.away && m.state !== 'unrevoked') reconcile(g, m, now)
  }
  return changed
}
