/**
 * KafkaJS's transaction object (`await producer.transaction()`): `send`, `sendBatch` and
 * `sendOffsets` inside one transaction, then `commit()` or `abort()`; `isActive()`. As KafkaJS's
 * EOS manager does, partitions join the transaction (AddPartitionsToTxn) before their first
 * batch, offsets through AddOffsetsToTxn then TxnOffsetCommit, and a transaction that touched
 * nothing ends without asking the coordinator. After a send failed, only `abort()` is allowed
 * (its records may or may not be stored: the abort marker hides them either way).
 */
import type { Broker, TopicPartitions, TxnProducer } from '../broker.ts'
import { EdgelogError } from '../errors.ts'
import type { ProducerBatch, ProducerRecord, RecordMetadata } from './producer.ts'
import type { Bytes } from './messages.ts'

/** What a transaction needs of its producer (closures over the producer's own state). */
export interface TransactionHost<V, K> {
  broker: Broker
  transactionalId: string
  identity(): { producerId: number; producerEpoch: number }
  /** Sends in this transaction; `join` is called with the partitions before anything is queued. */
  send(batch: ProducerBatch<V, K>, join: (placed: Array<{ topic: string; partition: number }>) => Promise<void>): Promise<RecordMetadata[]>
  /** Sends what waits for linger and waits for every send in flight to settle. */
  settle(): Promise<void>
  /** After an abort: a new epoch from the coordinator (KIP-360), sequences from 0. */
  bumpEpoch(): Promise<void>
}

export class Transaction<V = Bytes, K = Bytes> {
  private readonly partitions = new Set<string>()
  private offsetsAdded = false
  private ended = false
  private failed: unknown
  private ending = false

  constructor(private readonly host: TransactionHost<V, K>) {}

  isActive(): boolean {
    return !this.ended
  }

  send(record: ProducerRecord<V, K>): Promise<RecordMetadata[]> {
    if (typeof record !== 'object' || record === null) return Promise.reject(new EdgelogError('INVALID_REQUEST', 'send() takes { topic, messages }'))
    return this.sendBatch({ topicMessages: [{ topic: record.topic, messages: record.messages }], acks: record.acks, compression: record.compression })
  }

  async sendBatch(batch: ProducerBatch<V, K>): Promise<RecordMetadata[]> {
    this.guard('send')
    if (batch?.acks !== undefined && batch.acks !== -1) {
      // Kafka's transactional producer requires acks=all.
      throw new EdgelogError('INVALID_REQUIRED_ACKS', 'A transactional producer sends with acks -1 (all)')
    }
    try {
      return await this.host.send(batch, (placed) => this.join(placed))
    } catch (error) {
      // Its records may be stored: the transaction can only be aborted now.
      this.failed ??= error
      throw error
    }
  }

  /** KafkaJS's sendOffsets: the group's offsets are committed if and when the transaction commits. */
  async sendOffsets(req: { consumerGroupId: string; topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string | number }> }> }): Promise<void> {
    this.guard('sendOffsets')
    if (typeof req?.consumerGroupId !== 'string' || req.consumerGroupId === '') throw new EdgelogError('INVALID_GROUP_ID', 'sendOffsets needs a consumerGroupId')
    if (!Array.isArray(req.topics)) throw new EdgelogError('INVALID_REQUEST', 'sendOffsets needs topics: [{ topic, partitions: [{ partition, offset }] }]')
    const offsets = req.topics.flatMap((t) => {
      if (!Array.isArray(t?.partitions)) throw new EdgelogError('INVALID_REQUEST', 'sendOffsets needs topics: [{ topic, partitions: [{ partition, offset }] }]')
      return t.partitions.map((p) => ({ topic: t.topic, partition: p.partition, offset: toOffset(p.offset) }))
    })
    const broker = this.broker()
    const who = this.who()
    try {
      await broker.addOffsetsToTxn!({ ...who, groupId: req.consumerGroupId })
      this.offsetsAdded = true
      await broker.txnOffsetCommit!({ ...who, groupId: req.consumerGroupId, offsets })
    } catch (error) {
      this.failed ??= error
      throw error
    }
  }

  async commit(): Promise<void> {
    this.guard('commit')
    await this.end(true)
  }

  async abort(): Promise<void> {
    this.guard('abort')
    await this.end(false)
  }

  private async end(commit: boolean): Promise<void> {
    if (this.ending) throw new EdgelogError('INVALID_TXN_STATE', 'The transaction is already ending')
    this.ending = true
    try {
      await this.host.settle()
      if (commit && this.failed !== undefined) {
        throw new EdgelogError('INVALID_TXN_STATE', `A send of this transaction failed (${describeError(this.failed)}): it can only be aborted`, { cause: this.failed })
      }
      if (this.partitions.size > 0 || this.offsetsAdded) {
        await this.broker().endTxn!({ ...this.who(), committed: commit })
      }
      this.ended = true
      if (!commit) await this.host.bumpEpoch()
    } finally {
      this.ending = false
    }
  }

  /** AddPartitionsToTxn for partitions new to the transaction, before their first batch. */
  private async join(placed: Array<{ topic: string; partition: number }>): Promise<void> {
    const fresh = new Map<string, number[]>()
    for (const { topic, partition } of placed) {
      if (this.partitions.has(`${topic}\u0000${partition}`)) continue
      let list = fresh.get(topic)
      if (!list) fresh.set(topic, (list = []))
      list.push(partition)
    }
    if (fresh.size === 0) return
    const topics: TopicPartitions[] = [...fresh].map(([topic, partitions]) => ({ topic, partitions }))
    await this.broker().addPartitionsToTxn!({ ...this.who(), topics })
    for (const { topic, partitions } of topics) for (const p of partitions) this.partitions.add(`${topic}\u0000${p}`)
  }

  private guard(what: string): void {
    if (this.ended) throw new EdgelogError('INVALID_TXN_STATE', `Cannot ${what}: the transaction has ended (start another with producer.transaction())`)
    if (this.ending) throw new EdgelogError('INVALID_TXN_STATE', `Cannot ${what}: the transaction is ending`)
    if (what !== 'abort' && what !== 'commit' && this.failed !== undefined) {
      throw new EdgelogError('INVALID_TXN_STATE', `Cannot ${what}: a send of this transaction failed (${describeError(this.failed)}); abort it`, { cause: this.failed })
    }
  }

  private who(): TxnProducer {
    return { transactionalId: this.host.transactionalId, ...this.host.identity() }
  }

  private broker(): Required<Pick<Broker, 'addPartitionsToTxn' | 'addOffsetsToTxn' | 'txnOffsetCommit' | 'endTxn'>> {
    return this.host.broker as Required<Pick<Broker, 'addPartitionsToTxn' | 'addOffsetsToTxn' | 'txnOffsetCommit' | 'endTxn'>>
  }
}

/** Whether the broker has the transaction calls (edgelog/http does not yet). */
export function supportsTransactions(broker: Broker): boolean {
  return typeof broker.addPartitionsToTxn === 'function' && typeof broker.addOffsetsToTxn === 'function' &&
    typeof broker.txnOffsetCommit === 'function' && typeof broker.endTxn === 'function'
}

function toOffset(offset: string | number): number {
  const n = typeof offset === 'string' && /^\d+$/.test(offset) ? Number(offset) : offset
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new EdgelogError('OFFSET_OUT_OF_RANGE', `Offset ${JSON.stringify(offset)} is not a non-negative integer`)
  }
  return n
}

function describeError(error: unknown): string {
  return (error as { code?: string })?.code ?? String((error as Error)?.message ?? error)
}
