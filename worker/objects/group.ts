import { DurableObject } from 'cloudflare:workers'
import { SqliteStorage } from '../../adapters/durable-object/index.ts'
import type {
  CommittedOffset, GroupDescription, GroupHeartbeatRequest, GroupHeartbeatResponse, GroupOffsetsWithLag, OffsetCommit,
} from '../../core/broker.ts'
import { isEdgelogError, type ErrorCode } from '../../core/errors.ts'
import { GroupCoordinator } from '../../core/groups/coordinator.ts'
import { Cluster } from '../cluster.ts'
import type { EdgelogEnv } from '../env.ts'
import { envelope, settingsOf, unwrap, type Result } from '../rpc.ts'

const REGISTERED_KEY = 'edge/registered'

/**
 * One consumer group: its KIP-848 coordinator and committed offsets over this object's SQLite.
 * Partition counts and the topic list come from the controller, high watermarks from the
 * partition objects. Session timeouts and offset retention run from an alarm set at the
 * coordinator's `nextDeadline()`. The group registers itself with the controller's group
 * directory (for listGroups) the first time it stores anything.
 */
export class GroupObject extends DurableObject<EdgelogEnv> {
  readonly storage: SqliteStorage
  private coordinator: GroupCoordinator | undefined
  private registered: boolean | undefined
  private groupId: string | undefined

  constructor(ctx: DurableObjectState, env: EdgelogEnv) {
    super(ctx, env)
    this.storage = new SqliteStorage(ctx.storage)
  }

  heartbeat(req: GroupHeartbeatRequest, clientHost?: string): Promise<Result<GroupHeartbeatResponse>> {
    return this.run(req?.groupId, true, (c) => c.heartbeat(req, { clientHost }))
  }

  commitOffsets(req: { groupId: string; memberId?: string; memberEpoch?: number; offsets: OffsetCommit[] }): Promise<Result<void>> {
    return this.run(req?.groupId, true, (c) => c.commitOffsets(req))
  }

  /** Offsets sent in a transaction (TxnOffsetCommit): pending until the transaction coordinator completes them. */
  txnOffsetCommit(req: { groupId: string; producerId: number; producerEpoch: number; offsets: OffsetCommit[] }): Promise<Result<void>> {
    return this.run(req?.groupId, true, (c) => c.txnOffsetCommit(req))
  }

  /** The transaction's end, from its coordinator: the pending offsets become committed, or are dropped. */
  completeTxnOffsets(req: { groupId: string; producerId: number; commit: boolean }): Promise<Result<void>> {
    return this.run(req?.groupId, false, (c) => c.completeTxnOffsets(req))
  }

  fetchOffsets(req: { groupId: string; topics?: string[]; requireStable?: boolean }): Promise<Result<CommittedOffset[]>> {
    return this.run(req?.groupId, false, (c) => c.fetchOffsets(req))
  }

  describe(groupId: string): Promise<Result<GroupDescription>> {
    return this.run(groupId, false, async (c) => (await c.describeGroups({ groupIds: [groupId] }))[0])
  }

  lag(groupId: string): Promise<Result<GroupOffsetsWithLag[]>> {
    return this.run(groupId, false, (c) => c.groupLag({ groupId }))
  }

  /** The group's listing (empty when it holds nothing any more). */
  listing(groupId: string): Promise<Result<Array<{ groupId: string; protocolType: string; state: string }>>> {
    return this.run(groupId, false, (c) => c.listGroups())
  }

  delete(groupId: string): Promise<Result<{ groupId: string; errorCode: number; error?: { code: ErrorCode; message: string } }>> {
    return this.run(groupId, false, async (c) => {
      const [result] = await c.deleteGroups({ groupIds: [groupId] })
      if (result.errorCode === 0) await this.unregister(groupId)
      return result
    })
  }

  override async alarm(): Promise<void> {
    const coordinator = this.coordinatorFor()
    await coordinator.expire()
    const groupId = this.groupId ?? (await this.storage.getMeta<string>(REGISTERED_KEY))
    if (groupId && (await coordinator.listGroups()).length === 0) await this.unregister(groupId)
    await this.schedule()
  }

  private async run<T>(groupId: string | undefined, writes: boolean, fn: (c: GroupCoordinator) => Promise<T>): Promise<Result<T>> {
    return envelope(async () => {
      const coordinator = this.coordinatorFor()
      const value = await fn(coordinator)
      if (typeof groupId === 'string') {
        this.groupId = groupId
        if (writes) await this.register(groupId)
      }
      await this.schedule()
      return value
    })
  }

  private coordinatorFor(): GroupCoordinator {
    if (this.coordinator) return this.coordinator
    const cluster = new Cluster(this.env)
    this.coordinator = new GroupCoordinator({
      storage: this.storage,
      settings: settingsOf(this.env),
      topicPartitions: (topics) => unwrap(cluster.controller().partitionCounts(topics)),
      listTopics: async () => (await cluster.topics()).map((t) => t.name),
      highWatermark: async (topic, partition) => {
        try {
          const target = await cluster.target(topic, partition)
          const state = await cluster.onPartition(target, (stub) => unwrap(stub.state(target)))
          return state.highWatermark
        } catch (error) {
          if (isEdgelogError(error, 'UNKNOWN_TOPIC_OR_PARTITION')) return -1
          throw error
        }
      },
    })
    return this.coordinator
  }

  private async schedule(): Promise<void> {
    const deadline = this.coordinator?.nextDeadline()
    if (deadline === undefined) await this.ctx.storage.deleteAlarm()
    else await this.ctx.storage.setAlarm(Math.max(deadline + 5, Date.now() + 1))
  }

  private async register(groupId: string): Promise<void> {
    if (this.registered === undefined) this.registered = (await this.storage.getMeta<string>(REGISTERED_KEY)) !== undefined
    if (this.registered) return
    await unwrap(new Cluster(this.env).controller().registerGroup(groupId))
    await this.storage.commit({ meta: [{ key: REGISTERED_KEY, value: groupId }] })
    this.registered = true
  }

  private async unregister(groupId: string): Promise<void> {
    await unwrap(new Cluster(this.env).controller().unregisterGroup(groupId))
    await this.storage.commit({ meta: [{ key: REGISTERED_KEY, value: undefined }] })
    this.registered = false
  }
}
