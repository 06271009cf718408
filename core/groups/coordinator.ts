/**
 * The group coordinator: Kafka's KIP-848 consumer-group protocol as a state machine over the
 * storage port (it runs unchanged in process, in a Web Worker and in a Durable Object).
 *
 * - One request, `heartbeat` (ConsumerGroupHeartbeat), joins (epoch 0), heartbeats, acknowledges
 *   revocations (by reporting what the member owns) and leaves (-1; -2 for a static member that
 *   will come back) — heartbeat.ts, membership.ts.
 * - The coordinator bumps the group epoch on every change of membership, subscriptions, assignor
 *   or subscribed topics' partitions, computes the target assignment itself with the group's
 *   assignor (target-assignment.ts, subscriptions.ts), and moves each member towards its target
 *   incrementally: a member first loses what it must give up (its assignment shrinks, epoch
 *   unchanged); once its heartbeat no longer lists those partitions they are free, and only then
 *   are they given to their new owner (reconciliation.ts). So no partition is ever assigned to
 *   two members at once.
 * - Committed offsets live under `offset/<groupId>/<topic>/<partition>`, the group under
 *   `group/<groupId>` (the group id URI-encoded in keys), every change one `storage.commit`
 *   (group-store.ts; offsets.ts, expiry.ts, group-admin.ts).
 *
 * Every failed request leaves the group and its offsets as they were: requests work on a copy
 * that replaces the cached group only after the storage commit succeeded.
 */
import type {
  CommittedOffset, GroupDescription, GroupHeartbeatRequest, GroupHeartbeatResponse,
  GroupOffsetsWithLag, OffsetCommit,
} from '../broker.ts'
import type { LogSettings } from '../config.ts'
import type { StorageAdapter } from '../storage.ts'
import type { CoordinatorContext } from './coordinator-context.ts'
import { expire, nextDeadline } from './expiry.ts'
import { deleteGroups, describeGroups, listGroups, type DeleteGroupResult } from './group-admin.ts'
import { GroupStore, type OffsetRecord } from './group-store.ts'
import { heartbeat } from './heartbeat.ts'
import { commitOffsets, committedOffset, fetchOffsets, groupLag } from './offsets.ts'
import { TopicSubscriptions } from './subscriptions.ts'
import { assertStableOffsets, completeTxnOffsets, txnOffsetCommit } from './txn-offsets.ts'

export { OFFSET_METADATA_MAX_BYTES } from './requests.ts'
export { DEFAULT_REBALANCE_TIMEOUT_MS } from './membership.ts'
export { DEFAULT_ASSIGNORS } from './target-assignment.ts'
export type { OffsetRecord } from './group-store.ts'

export interface GroupCoordinatorOptions {
  storage: StorageAdapter
  settings: LogSettings
  now?: () => number
  /** Partition counts of the existing topics among `topics` (unknown topics left out). */
  topicPartitions: (topics: string[]) => Promise<Record<string, number>>
  /** Every topic name (for regular-expression subscriptions). */
  listTopics: () => Promise<string[]>
  /** The partition's high watermark; negative (or UNKNOWN_TOPIC_OR_PARTITION) when it does not exist. */
  highWatermark: (topic: string, partition: number) => Promise<number>
  /**
   * How long a group's view of its topics' partition counts is trusted before a heartbeat
   * re-reads it (Kafka's metadata refresh). 0 (default): every heartbeat.
   */
  metadataMaxAgeMs?: number
}

export class GroupCoordinator {
  private readonly context: CoordinatorContext
  private readonly storage: StorageAdapter

  constructor(options: GroupCoordinatorOptions) {
    this.storage = options.storage
    const now = options.now ?? Date.now
    const store = new GroupStore(options.storage, now)
    const subscriptions = new TopicSubscriptions(store, {
      topicPartitions: options.topicPartitions,
      listTopics: options.listTopics,
      metadataMaxAgeMs: options.metadataMaxAgeMs ?? 0,
    })
    this.context = {
      store, subscriptions, settings: options.settings, now,
      topicPartitions: options.topicPartitions, highWatermark: options.highWatermark,
    }
  }

  heartbeat(req: GroupHeartbeatRequest, context?: { clientHost?: string }): Promise<GroupHeartbeatResponse> {
    return heartbeat(this.context, req, context)
  }

  commitOffsets(req: { groupId: string; memberId?: string; memberEpoch?: number; offsets: OffsetCommit[] }): Promise<void> {
    return commitOffsets(this.context, req)
  }

  /** Kafka's TxnOffsetCommit: offsets pending until the transaction's marker (txn-offsets.ts). */
  txnOffsetCommit(req: { groupId: string; producerId: number; producerEpoch: number; offsets: OffsetCommit[] }): Promise<void> {
    return txnOffsetCommit(this.context, this.storage, req)
  }

  /** The group's transaction marker: the producer's pending offsets committed, or dropped. */
  completeTxnOffsets(req: { groupId: string; producerId: number; commit: boolean }): Promise<void> {
    return completeTxnOffsets(this.context, this.storage, req)
  }

  async fetchOffsets(req: { groupId: string; topics?: string[]; requireStable?: boolean }): Promise<CommittedOffset[]> {
    if (req?.requireStable === true) await assertStableOffsets(this.storage, req)
    return fetchOffsets(this.context, req)
  }

  describeGroups(req: { groupIds: string[] }): Promise<GroupDescription[]> {
    return describeGroups(this.context, req)
  }

  listGroups(): Promise<Array<{ groupId: string; protocolType: string; state: string }>> {
    return listGroups(this.context)
  }

  deleteGroups(req: { groupIds: string[] }): Promise<DeleteGroupResult[]> {
    return deleteGroups(this.context, req)
  }

  groupLag(req: { groupId: string }): Promise<GroupOffsetsWithLag[]> {
    return groupLag(this.context, req)
  }

  /**
   * Removes members past their session (or revocation) timeout and, for empty groups, offsets
   * past offsets.retention.minutes (counted from the later of the commit and the time the group
   * became empty); an empty group with no offsets left is deleted once the retention has passed.
   */
  expire(): Promise<void> {
    return expire(this.context)
  }

  /** When `expire` next has work (ms since epoch), or undefined when nothing is due ever. */
  nextDeadline(): number | undefined {
    return nextDeadline(this.context)
  }

  /** The committed offset of one partition (undefined when none), for the consumer's start position. */
  committedOffset(groupId: string, topic: string, partition: number): Promise<OffsetRecord | undefined> {
    return committedOffset(this.context, groupId, topic, partition)
  }
}
