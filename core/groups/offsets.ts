/**
 * Committed offsets: commit (by a member for the partitions it holds, or by an admin or simple
 * consumer while the group is empty), fetch, lag against the high watermark, and the one
 * committed offset a consumer starts from. Their expiry is in expiry.ts.
 */
import type { CommittedOffset, GroupOffsetsWithLag, OffsetCommit } from '../broker.ts'
import { EdgelogError } from '../errors.ts'
import { compareStrings } from './assignors/types.ts'
import type { CoordinatorContext } from './coordinator-context.ts'
import { expireGroupMembers } from './expiry.ts'
import type { OffsetRecord } from './group-store.ts'
import {
  clone, has, newGroup, splitTpKey, tpKey, union, type GroupRecord, type MemberRecord,
} from './group-state.ts'
import { fail, validateGroupId, validateOffsetCommit } from './requests.ts'

export async function commitOffsets(
  ctx: CoordinatorContext, req: { groupId: string; memberId?: string; memberEpoch?: number; offsets: OffsetCommit[] },
): Promise<void> {
  const { groupId, memberId, memberEpoch, offsets } = validateOffsetCommit(req)
  const { store } = ctx
  return store.withGroup(groupId, async () => {
    const now = ctx.now()
    await expireGroupMembers(ctx, groupId, now)
    const current = store.groups.get(groupId)
    let group: GroupRecord | undefined
    let member: MemberRecord | undefined
    if (!current) {
      if (memberEpoch >= 0) fail('GROUP_ID_NOT_FOUND', `Group ${groupId} does not exist`)
      group = newGroup(groupId, now) // an admin / simple consumer commit creates the group
    } else if (memberEpoch < 0 && Object.keys(current.members).length === 0) {
      group = current
    } else {
      member = current.members[memberId]
      if (!member || member.away) fail('UNKNOWN_MEMBER_ID', `Unknown member ${JSON.stringify(memberId)} in group ${groupId} (commits without a member need an empty group)`)
      if (memberEpoch > member.memberEpoch) fail('FENCED_MEMBER_EPOCH', `Epoch ${memberEpoch} is ahead of member ${memberId}'s epoch ${member.memberEpoch}`)
      if (memberEpoch < member.memberEpoch) fail('ILLEGAL_GENERATION', `Stale epoch ${memberEpoch}: member ${memberId} is at epoch ${member.memberEpoch}`)
      group = current
    }
    const held = member ? union(member.assigned, member.pendingRevocation) : undefined
    const puts = new Map<string, { topic: string; partition: number; record: OffsetRecord }>()
    for (const o of offsets) {
      let hw: number
      try {
        hw = await ctx.highWatermark(o.topic, o.partition)
      } catch (e) {
        if (e instanceof EdgelogError) throw e
        throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `Unknown topic partition ${o.topic}-${o.partition}`, { cause: e })
      }
      if (!(hw >= 0)) fail('UNKNOWN_TOPIC_OR_PARTITION', `Unknown topic partition ${o.topic}-${o.partition}`)
      // Kafka stores a committed offset past the high watermark as it is; a consumer starting there
      // gets OFFSET_OUT_OF_RANGE from its fetch and follows auto.offset.reset.
      if (held && !has(held, o.topic, o.partition)) {
        fail('ILLEGAL_GENERATION', `Member ${memberId} does not own ${o.topic}-${o.partition} at epoch ${memberEpoch}`)
      }
      puts.set(tpKey(o.topic, o.partition), {
        topic: o.topic, partition: o.partition,
        record: { offset: o.offset, metadata: o.metadata ?? null, commitTimestamp: now },
      })
    }
    if (puts.size === 0 && current) return
    await store.save(groupId, current ? group : clone(group), [...puts.values()])
  })
}

export async function fetchOffsets(ctx: CoordinatorContext, req: { groupId: string; topics?: string[] }): Promise<CommittedOffset[]> {
  validateGroupId(req?.groupId)
  return ctx.store.withGroup(req.groupId, async () => {
    const committed = ctx.store.offsets.get(req.groupId) ?? new Map<string, OffsetRecord>()
    const out: CommittedOffset[] = []
    const entry = (topic: string, partition: number): CommittedOffset => {
      const r = committed.get(tpKey(topic, partition))
      return { topic, partition, offset: r ? r.offset : -1, metadata: r ? r.metadata : null }
    }
    if (req.topics) {
      const topics = [...new Set(req.topics)]
      const counts = await ctx.topicPartitions(topics)
      for (const topic of topics) {
        const n = counts[topic]
        if (n === undefined) {
          for (const k of committed.keys()) {
            const [t, p] = splitTpKey(k)
            if (t === topic) out.push(entry(t, p))
          }
        } else for (let p = 0; p < n; p++) out.push(entry(topic, p))
      }
      return out
    }
    for (const k of committed.keys()) {
      const [t, p] = splitTpKey(k)
      out.push(entry(t, p))
    }
    return out.sort((a, b) => compareStrings(a.topic, b.topic) || a.partition - b.partition)
  })
}

export async function groupLag(ctx: CoordinatorContext, req: { groupId: string }): Promise<GroupOffsetsWithLag[]> {
  validateGroupId(req?.groupId)
  return ctx.store.withGroup(req.groupId, async () => {
    const g = ctx.store.groups.get(req.groupId)
    const committed = ctx.store.offsets.get(req.groupId) ?? new Map<string, OffsetRecord>()
    if (!g && committed.size === 0) fail('GROUP_ID_NOT_FOUND', `Group ${req.groupId} does not exist`)
    const topics = new Set<string>(g ? Object.keys(g.topics) : [])
    for (const k of committed.keys()) topics.add(splitTpKey(k)[0])
    const counts = topics.size > 0 ? await ctx.topicPartitions([...topics]) : {}
    const out: GroupOffsetsWithLag[] = []
    for (const topic of [...topics].sort(compareStrings)) {
      const partitions = new Set<number>()
      for (let p = 0; p < (counts[topic] ?? 0); p++) partitions.add(p)
      for (const k of committed.keys()) {
        const [t, p] = splitTpKey(k)
        if (t === topic) partitions.add(p)
      }
      for (const partition of [...partitions].sort((a, b) => a - b)) {
        let hw: number
        try {
          hw = await ctx.highWatermark(topic, partition)
        } catch {
          continue
        }
        if (!(hw >= 0)) continue
        const r = committed.get(tpKey(topic, partition))
        const offset = r ? r.offset : -1
        out.push({
          topic, partition, offset, metadata: r ? r.metadata : null, highWatermark: hw,
          lag: Math.max(0, hw - Math.max(offset, 0)),
        })
      }
    }
    return out
  })
}

/** The committed offset of one partition (undefined when none), for the consumer's start position. */
export async function committedOffset(ctx: CoordinatorContext, groupId: string, topic: string, partition: number): Promise<OffsetRecord | undefined> {
  await ctx.store.ready()
  if (ctx.store.shared) await ctx.store.reload(groupId)
  const r = ctx.store.offsets.get(groupId)?.get(tpKey(topic, partition))
  return r ? { ...r } : undefined
}
