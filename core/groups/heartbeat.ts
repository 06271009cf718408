/**
 * ConsumerGroupHeartbeat, KIP-848's one request: joins (epoch 0), heartbeats, acknowledges
 * revocations (by reporting what the member owns) and leaves (-1; -2 for a static member that
 * will come back). Every change of membership, subscriptions, assignor or subscribed topics'
 * partitions bumps the group epoch (once per request); the answer carries the member's
 * assignment as reconciled towards the new target.
 */
import type { GroupHeartbeatRequest, GroupHeartbeatResponse } from '../broker.ts'
import { compareStrings } from './assignors/types.ts'
import type { CoordinatorContext } from './coordinator-context.ts'
import { expireGroupMembers } from './expiry.ts'
import {
  canonical, clone, isEmptyMap, minus, newGroup, toTopicPartitionList, union, type MemberRecord,
} from './group-state.ts'
import { findMember, join, removeMember } from './membership.ts'
import { reconcile } from './reconciliation.ts'
import { fail, validateHeartbeat } from './requests.ts'
import { computeTarget, retarget, selectAssignor } from './target-assignment.ts'

export async function heartbeat(
  ctx: CoordinatorContext, req: GroupHeartbeatRequest, context?: { clientHost?: string },
): Promise<GroupHeartbeatResponse> {
  const { store, subscriptions } = ctx
  const { epoch, memberIdIn, instanceId, names, regexSource, assignors, reported } = validateHeartbeat(req, (source) => subscriptions.regex(source))
  const { memberTopics } = subscriptions

  return store.withGroup(req.groupId, async () => {
    const now = ctx.now()
    await expireGroupMembers(ctx, req.groupId, now)
    const current = store.groups.get(req.groupId)
    const g = current ? clone(current) : newGroup(req.groupId, now)
    const epochBefore = g.groupEpoch

    // ---- leaving
    if (epoch === -1 || epoch === -2) {
      if (!current) fail('UNKNOWN_MEMBER_ID', `Unknown member ${memberIdIn} in group ${req.groupId}`)
      const m = findMember(g, memberIdIn, instanceId)
      if (epoch === -1) {
        removeMember(g, m.memberId, now)
        retarget(g, memberTopics)
      } else {
        m.away = true
        m.lastSeen = now
      }
      await store.save(req.groupId, g)
      return { memberId: m.memberId, memberEpoch: epoch, heartbeatIntervalMs: 0, assignment: null }
    }

    // ---- joining or heart-beating
    let m: MemberRecord
    const joining = epoch === 0
    if (joining) {
      m = join(g, memberIdIn, instanceId, reported, now, ctx.settings['group.consumer.session.timeout.ms'])
    } else {
      if (!current) fail('UNKNOWN_MEMBER_ID', `Unknown member ${memberIdIn} in group ${req.groupId}`)
      m = findMember(g, memberIdIn, instanceId)
      if (m.away) fail('FENCED_MEMBER_EPOCH', `Member ${m.memberId} left the group; rejoin with epoch 0`)
      const lostResponse = epoch === m.previousMemberEpoch && reported !== null && isEmptyMap(minus(reported, union(m.assigned, m.pendingRevocation)))
      if (epoch !== m.memberEpoch && !lostResponse) {
        fail('FENCED_MEMBER_EPOCH', `Member ${m.memberId} sent epoch ${epoch}; its epoch is ${m.memberEpoch}`)
      }
      if (lostResponse && epoch !== m.memberEpoch) m.sentAssignment = null
    }

    // subscription and settings
    m.lastSeen = now
    if (req.clientId != null) m.clientId = String(req.clientId)
    if (context?.clientHost) m.clientHost = context.clientHost
    if (req.rackId !== undefined && req.rackId !== null) m.rackId = req.rackId
    if (req.sessionTimeoutMs != null && req.sessionTimeoutMs > 0) m.sessionTimeoutMs = req.sessionTimeoutMs
    if (req.rebalanceTimeoutMs != null && req.rebalanceTimeoutMs > 0) m.rebalanceTimeoutMs = req.rebalanceTimeoutMs
    if (names !== null) {
      const sorted = [...new Set(names)].sort(compareStrings)
      if (JSON.stringify(sorted) !== JSON.stringify(m.subscribedTopicNames)) {
        m.subscribedTopicNames = sorted
        g.groupEpoch++
      }
    }
    if (regexSource !== null) {
      const next = regexSource === '' ? null : regexSource
      if (next !== m.subscribedTopicRegex) {
        m.subscribedTopicRegex = next
        g.groupEpoch++
      }
    }
    if (assignors !== null && JSON.stringify(assignors) !== JSON.stringify(m.serverAssignors)) m.serverAssignors = assignors
    if (reported !== null) m.owned = reported

    const assignor = selectAssignor(g)
    if (assignor === undefined) {
      fail('INCONSISTENT_GROUP_PROTOCOL', `Member ${m.memberId}'s assignors (${m.serverAssignors.join(', ') || 'any'}) have none in common with the group's members`)
    }
    if (assignor !== g.assignor) {
      if (g.assignor !== '') g.groupEpoch++
      g.assignor = assignor
    }
    await subscriptions.refreshTopics(g, now, g.groupEpoch !== epochBefore || joining)
    // One request is one group epoch, however many things it changed.
    if (g.groupEpoch > epochBefore) g.groupEpoch = epochBefore + 1
    g.emptySince = null
    computeTarget(g, memberTopics)
    reconcile(g, m, now)

    const list = toTopicPartitionList(m.assigned)
    const serial = JSON.stringify(list)
    const send = joining || serial !== m.sentAssignment || (reported !== null && canonical(reported) !== serial)
    if (send) m.sentAssignment = serial
    await store.save(req.groupId, g)
    return {
      memberId: m.memberId,
      memberEpoch: m.memberEpoch,
      heartbeatIntervalMs: ctx.settings['group.consumer.heartbeat.interval.ms'],
      assignment: send ? list : null,
    }
  })
}
