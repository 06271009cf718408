/**
 * When and how the consumer commits: explicitly (commitOffsets), after every batch with
 * autoCommit, within a batch when autoCommitInterval ms passed or autoCommitThreshold offsets
 * were resolved, and what a failed automatic commit means.
 */
import { EdgelogError, isEdgelogError } from '../../errors.ts'
import { parseOffset } from '../messages.ts'
import { CONSUMER_EVENTS } from './api.ts'
import type { ConsumerRuntime } from './runtime.ts'

/** Commits the given offsets (the next offset to read, as Kafka commits). */
export async function commitOffsets(
  rt: ConsumerRuntime, offsets: Array<{ topic: string; partition: number; offset: string; metadata?: string | null }>,
): Promise<void> {
  if (rt.config.groupId === undefined) throw new EdgelogError('INVALID_GROUP_ID', 'A consumer without a groupId has no offsets to commit')
  if (!Array.isArray(offsets)) throw new EdgelogError('INVALID_REQUEST', 'commitOffsets takes [{ topic, partition, offset }]')
  const parsed = offsets.map((o) => ({ topic: o?.topic, partition: o?.partition, offset: parseOffset(o?.offset), metadata: o?.metadata ?? null }))
  if (parsed.length === 0) return
  const member = rt.member
  let sentEpoch = -1
  const commit = () => {
    sentEpoch = member?.memberEpoch ?? -1
    return rt.broker.commitOffsets({
      groupId: rt.config.groupId!,
      // As a member once joined (epoch > 0); before that (or rejoining) as no member, as Kafka's simple commits.
      ...(member && member.memberEpoch > 0 ? { memberId: member.memberId, memberEpoch: member.memberEpoch } : {}),
      offsets: parsed,
    })
  }
  try {
    await commit()
  } catch (error) {
    // A heartbeat moved the member to a newer epoch while the commit was on its way (the
    // coordinator still checks that the member holds the partitions): once more, up to date.
    if (!member || !(isEdgelogError(error, 'ILLEGAL_GENERATION') || isEdgelogError(error, 'FENCED_MEMBER_EPOCH'))) throw error
    if (member.memberEpoch === sentEpoch) await member.heartbeat().catch(() => {})
    if (member.memberEpoch === sentEpoch || member.memberEpoch <= 0) throw error
    await commit()
  }
  for (const o of parsed) rt.offsets.committed(o.topic, o.partition, o.offset)
  rt.lastCommit = Date.now()
  rt.emitter.emit(CONSUMER_EVENTS.COMMIT_OFFSETS, { groupId: rt.config.groupId, memberId: member?.memberId, groupGenerationId: member?.memberEpoch, topics: toCommitTopics(parsed) })
}

/** Commits what was resolved and not yet committed (of the partitions `only` names, by tpKey). */
export async function commitResolved(rt: ConsumerRuntime, only?: string[]): Promise<void> {
  const pending = rt.offsets.pendingCommits(only)
  if (pending.length === 0) {
    rt.lastCommit = Date.now()
    return
  }
  await commitOffsets(rt, pending.map((p) => ({ topic: p.topic, partition: p.partition, offset: String(p.offset) })))
}

/** autoCommit after a batch (and before a failed message is retried): everything resolved. */
export async function autoCommit(rt: ConsumerRuntime): Promise<void> {
  if (rt.config.groupId === undefined || !rt.runConfig.autoCommit) return
  await commitResolved(rt).catch((error) => commitFailed(rt, error))
}

/**
 * Commits what was resolved when autoCommitInterval ms passed or autoCommitThreshold
 * offsets were resolved since the last commit; `explicit` (commitOffsetsIfNecessary()):
 * also when neither is set.
 */
export async function maybeCommit(rt: ConsumerRuntime, explicit: boolean): Promise<void> {
  if (rt.config.groupId === undefined || (!rt.runConfig.autoCommit && !explicit)) return
  const interval = rt.runConfig.autoCommitInterval ?? null
  const threshold = rt.runConfig.autoCommitThreshold ?? null
  const due = (explicit && interval === null && threshold === null) ||
    (interval !== null && Date.now() - rt.lastCommit >= interval) ||
    (threshold !== null && rt.offsets.resolvedSinceCommit() >= threshold)
  if (!due) return
  if (explicit) await commitResolved(rt)
  else await commitResolved(rt).catch((error) => commitFailed(rt, error))
}

/** Whether eachMessage commits inside a batch: only for autoCommitInterval / autoCommitThreshold (KafkaJS's commitOffsetsIfNecessary). */
export function commitsWithinBatch(rt: ConsumerRuntime): boolean {
  return rt.config.groupId !== undefined && rt.runConfig.autoCommit &&
    (rt.runConfig.autoCommitInterval != null || rt.runConfig.autoCommitThreshold != null)
}

/**
 * An automatic commit that failed because the member is out of the group (or the group moved
 * on) is not a crash: the heartbeat finds out and rejoins, and what was not committed is read
 * again by the partition's owner (at least once). A retriable failure is retried with the
 * next commit. Anything else is the consumer's end.
 */
function commitFailed(rt: ConsumerRuntime, error: unknown): void {
  const group = ['UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'FENCED_MEMBER_EPOCH', 'REBALANCE_IN_PROGRESS', 'GROUP_ID_NOT_FOUND'] as const
  if (isEdgelogError(error) && (error.retriable || group.some((code) => error.code === code))) {
    void rt.member?.heartbeat().catch(() => {})
    return
  }
  throw error
}

function toCommitTopics(offsets: Array<{ topic: string; partition: number; offset: number }>) {
  // KafkaJS's ConsumerCommitOffsetsEvent: TopicOffsets (partition a number, offset a decimal string).
  const byTopic = new Map<string, Array<{ partition: number; offset: string }>>()
  for (const o of offsets) {
    let list = byTopic.get(o.topic)
    if (!list) byTopic.set(o.topic, (list = []))
    list.push({ partition: o.partition, offset: String(o.offset) })
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }))
}
