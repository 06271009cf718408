/**
 * KIP-848 reconciliation (Kafka's CurrentAssignmentBuilder): moves one member towards its
 * target incrementally. A member first loses what it must give up (its assignment shrinks,
 * epoch unchanged); once its heartbeat no longer lists those partitions they are free, and only
 * then are they given to their new owner. So no partition is ever assigned to two members at once.
 */
import {
  fromPairs, has, intersect, isEmptyMap, minus, pairs, tpKey, union, type GroupRecord, type MemberRecord,
} from './group-state.ts'

/** Partitions held (assigned or not yet revoked) by members other than `except`. */
function heldByOthers(g: GroupRecord, except: string): Set<string> {
  const held = new Set<string>()
  for (const m of Object.values(g.members)) {
    if (m.memberId === except) continue
    for (const [t, p] of pairs(m.assigned)) held.add(tpKey(t, p))
    for (const [t, p] of pairs(m.pendingRevocation)) held.add(tpKey(t, p))
  }
  return held
}

/** KIP-848 reconciliation of one member towards its target (CurrentAssignmentBuilder). */
export function reconcile(g: GroupRecord, m: MemberRecord, now: number): void {
  if (m.state === 'unrevoked') {
    const stillOwned = [...pairs(m.pendingRevocation)].some(([t, p]) => has(m.owned, t, p))
    if (stillOwned) return
    m.pendingRevocation = {}
    m.state = 'stable'
    m.revocationDeadline = null
  }
  if (m.memberEpoch === g.assignmentEpoch && m.state === 'stable') return
  const target = g.targetAssignment[m.memberId] ?? {}
  const keep = intersect(m.assigned, target)
  const revoke = minus(m.assigned, target)
  if (!isEmptyMap(revoke)) {
    m.assigned = keep
    m.pendingRevocation = union(m.pendingRevocation, revoke)
    m.state = 'unrevoked'
    m.revocationDeadline = now + m.rebalanceTimeoutMs
    return
  }
  const held = heldByOthers(g, m.memberId)
  const wanted = [...pairs(minus(target, m.assigned))]
  const free = wanted.filter(([t, p]) => !held.has(tpKey(t, p)))
  m.assigned = union(keep, fromPairs(free))
  if (m.memberEpoch !== g.assignmentEpoch) {
    m.previousMemberEpoch = m.memberEpoch
    m.memberEpoch = g.assignmentEpoch
  }
  m.state = free.length < wanted.length ? 'unreleased' : 'stable'
}
