import { DurableObject } from 'cloudflare:workers'
import { SqliteStorage } from '../../adapters/durable-object/index.ts'
import type { OffsetCommit, TopicPartitions, TxnProducer } from '../../core/broker.ts'
import { isEdgelogError } from '../../core/errors.ts'
import { TransactionCoordinator } from '../../core/txn/coordinator.ts'
import { Cluster } from '../cluster.ts'
import type { EdgelogEnv } from '../env.ts'
import { envelope, settingsOf, unwrap, type Result } from '../rpc.ts'

/** How long a Worker's transactional append may hold EndTxn back before it is given up on. */
const APPEND_LEASE_MS = 30_000
/** How often an ongoing transaction is looked at for its timeout (Kafka's cleanup interval). */
const EXPIRY_CHECK_MS = 10_000

/**
 * The transaction coordinator of one transactional id (Kafka shards ids over the partitions
 * of `__transaction_state`; here each id is its own object, so ids never wait on each other).
 * It runs core/txn's coordinator over this object's SQLite; the markers go to the partition
 * objects and the group objects by RPC.
 *
 * A crash between markers: the state is persisted as Prepare{Commit,Abort} before the first
 * marker, so the next request on the id, or this object's alarm, writes the markers again
 * (a marker for a transaction already ended is a no-op in the partition) and then persists
 * Complete{Commit,Abort}. The alarm also aborts a transaction past its timeout.
 */
export class TransactionObject extends DurableObject<EdgelogEnv> {
  private readonly storage: SqliteStorage
  private coordinator: TransactionCoordinator | undefined
  /** Appends verified for a Worker and not yet reported done, by lease id. */
  private readonly leases = new Map<string, { release: () => void; timer: ReturnType<typeof setTimeout> }>()

  constructor(ctx: DurableObjectState, env: EdgelogEnv) {
    super(ctx, env)
    this.storage = new SqliteStorage(ctx.storage)
  }

  initProducerId(req: { transactionalId: string; transactionTimeoutMs?: number; producerId?: number; producerEpoch?: number }): Promise<Result<{ producerId: number; producerEpoch: number }>> {
    return this.run((c) => c.initProducerId(req))
  }

  addPartitionsToTxn(req: TxnProducer & { topics: TopicPartitions[] }): Promise<Result<void>> {
    return this.run((c) => c.addPartitionsToTxn(req))
  }

  addOffsetsToTxn(req: TxnProducer & { groupId: string }): Promise<Result<void>> {
    return this.run((c) => c.addOffsetsToTxn(req))
  }

  txnOffsetCommit(req: TxnProducer & { groupId: string; offsets: OffsetCommit[] }): Promise<Result<void>> {
    return this.run((c) => c.txnOffsetCommit(req))
  }

  endTxn(req: TxnProducer & { committed: boolean }): Promise<Result<void>> {
    return this.run((c) => c.endTxn(req))
  }

  /**
   * A Worker about to append a transactional batch asks here first (KIP-890's verification):
   * the partition must be in this producer's ongoing transaction. EndTxn waits until the Worker
   * reports the append done (`appendDone`), or the lease runs out, so a marker never lands
   * before a batch of the transaction it ends.
   */
  verifyAppend(req: { producerId: number; producerEpoch: number; topic: string; partition: number }): Promise<Result<string>> {
    return this.run(async (c) => {
      const release = await c.verifyAppend(req.producerId, req.producerEpoch, req.topic, req.partition)
      const id = crypto.randomUUID()
      const timer = setTimeout(() => this.appendDone(id), APPEND_LEASE_MS)
      this.leases.set(id, { release, timer })
      return id
    })
  }

  appendDone(leaseId: string): void {
    const lease = this.leases.get(leaseId)
    if (!lease) return
    this.leases.delete(leaseId)
    clearTimeout(lease.timer)
    lease.release()
  }

  override async alarm(): Promise<void> {
    const coordinator = this.coordinatorFor()
    await coordinator.expire()
    await this.schedule()
  }

  private async run<T>(fn: (c: TransactionCoordinator) => Promise<T>): Promise<Result<T>> {
    return envelope(async () => {
      const value = await fn(this.coordinatorFor())
      await this.schedule()
      return value
    })
  }

  /**
   * While a transaction is open or unfinished, look at it again for its timeout; else once the
   * id may have expired (transactional.id.expiration.ms), to forget it.
   */
  private async schedule(): Promise<void> {
    const at = this.coordinator?.hasWork ? Date.now() + EXPIRY_CHECK_MS : Date.now() + settingsOf(this.env)['transactional.id.expiration.ms'] + EXPIRY_CHECK_MS
    const current = await this.ctx.storage.getAlarm()
    if (current === null || current > at) await this.ctx.storage.setAlarm(at)
  }

  private coordinatorFor(): TransactionCoordinator {
    if (this.coordinator) return this.coordinator
    const cluster = new Cluster(this.env)
    this.coordinator = new TransactionCoordinator({
      storage: this.storage,
      idExpirationMs: settingsOf(this.env)['transactional.id.expiration.ms'],
      allocateProducerId: async () => (await unwrap(cluster.controller().initProducerId())).producerId,
      partitionExists: async (topic, partition) => {
        try {
          const target = await cluster.target(topic, partition)
          return !target.replica
        } catch (error) {
          if (isEdgelogError(error, 'UNKNOWN_TOPIC_OR_PARTITION')) return false
          throw error
        }
      },
      commitGroupOffsets: (req) => unwrap(cluster.group(req.groupId).txnOffsetCommit(req)),
      markers: {
        writeMarkers: async (req) => {
          await Promise.all(req.partitions.flatMap(({ topic, partitions }) => partitions.map(async (partition) => {
            const marker = { producerId: req.producerId, producerEpoch: req.producerEpoch, commit: req.commit, coordinatorEpoch: req.coordinatorEpoch }
            try {
              const target = await cluster.target(topic, partition)
              await cluster.onPartition(target, (stub) => unwrap(stub.writeMarker(target, marker)))
            } catch (error) {
              if (isEdgelogError(error, 'UNKNOWN_TOPIC_OR_PARTITION')) return // deleted since: nothing to end
              throw error
            }
          })))
        },
        completeGroupOffsets: (req) => unwrap(cluster.group(req.groupId).completeTxnOffsets(req)),
      },
    })
    return this.coordinator
  }
}
