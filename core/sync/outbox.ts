/**
 * The outbox: records produced locally to a replica topic, kept durably until the leader
 * (the edge) has them. Each replica partition has an outbox log (a partition log on stream
 * `<topicId>/outbox-<p>`, never retained or compacted), so appends get the log's checks,
 * group commit, durability and local idempotence, from any tab sharing the store. The
 * forwarder (forwarder.ts) sends it to the leader and deletes what the leader acknowledged,
 * together with the leader's offsets (`fwd/<topicId>/<p>`), so a page can learn them.
 *
 * A record's outbox offset is its place in that queue, not an offset of the topic: it gets
 * its topic offset from the leader, and reaches local readers only through the replica.
 */
import { EdgelogError } from '../errors.ts'
import type { TopicConfig } from '../config.ts'
import type { StorageAdapter, StorageChange } from '../storage.ts'
import { decodeBatch } from '../codec/record-batch.ts'
import { PartitionLog } from '../log/partition-log.ts'
import { keys } from '../log/keys.ts'
import type { TopicRecord, TopicRegistry } from '../log/topic-registry.ts'

/** The forwarder's state for one partition (meta `fwd/<topicId>/<p>`). */
export interface ForwardState {
  /** The leader's producer id and this partition's epoch under it (-1: none yet). */
  producerId: number
  epoch: number
  /**
   * The outbox offset whose record has sequence 0 in this epoch: a record's sequence is its
   * outbox offset minus this (outbox offsets are contiguous), so every retry of a batch, after
   * any failure or restart, carries the same sequence. -1: no epoch yet.
   */
  epochBase: number
  /** The leader's end offset when this epoch began: none of its batches lie below (where to look for them). */
  leaderFloor?: number
  /** Recent deliveries: where the leader stored each outbox batch (-1: stored, offset unknown). */
  delivered: Array<{ outboxBase: number; outboxLast: number; baseOffset: number }>
}

export interface PendingRecord {
  topic: string
  partition: number
  outboxOffset: number
  key: Uint8Array | null
  value: Uint8Array | null
  headers: Array<{ key: string; value: Uint8Array | null }>
  timestamp: number
}

export interface DeadLetter {
  topic: string
  partition: number
  outboxBase: number
  outboxLast: number
  error: { code: string; message: string }
  /** The refused batch, base64. */
  batch: string
  at: number
}

export const forwardKey = (topicId: string, partition: number) => `fwd/${topicId}/${partition}`
export const deadLetterPrefix = 'fwd-dead/'
export const outboxStream = (topicId: string, partition: number) => `${topicId}/outbox-${partition}`
const MAX_REMEMBERED_DELIVERIES = 1_000

export function emptyForwardState(): ForwardState {
  return { producerId: -1, epoch: 0, epochBase: -1, delivered: [] }
}

/** Outbox logs never lose a record by retention or compaction: only delivery removes them. */
function outboxConfig(config: TopicConfig): TopicConfig {
  return { ...config, 'cleanup.policy': 'delete', 'retention.ms': -1, 'retention.bytes': -1 }
}

export class Outbox {
  private readonly logs = new Map<string, Promise<PartitionLog>>()
  private readonly waiters = new Set<() => void>()

  constructor(private readonly host: { storage: StorageAdapter; topics: TopicRegistry; now: () => number }) {}

  log(record: TopicRecord, partition: number): Promise<PartitionLog> {
    const stream = outboxStream(record.topicId, partition)
    let log = this.logs.get(stream)
    if (!log) {
      log = PartitionLog.open({ storage: this.host.storage, stream, now: this.host.now, config: () => outboxConfig(record.config), topicKey: keys.topic(record.name) })
      this.logs.set(stream, log)
      log.catch(() => this.logs.delete(stream))
    }
    return log
  }

  async append(record: TopicRecord, partition: number, batch: Uint8Array, durability: 'strict' | 'relaxed'): Promise<{ outboxOffset: number }> {
    const log = await this.log(record, partition)
    const { baseOffset } = await log.append(batch, { durability })
    this.wake()
    return { outboxOffset: baseOffset }
  }

  /** Records still waiting for the leader, oldest first (per partition), of one topic or all replica topics. */
  async pending(topics: TopicRecord[]): Promise<PendingRecord[]> {
    const out: PendingRecord[] = []
    for (const record of topics) {
      for (let partition = 0; partition < record.partitions; partition++) {
        const log = await this.log(record, partition)
        let offset = log.logStartOffset
        while (offset < log.highWatermark) {
          const { batches } = await log.read(offset, 1 << 20)
          if (batches.length === 0) break
          for (const b of batches) {
            for (const r of (await decodeBatch(b.bytes)).records) {
              if (r.offset >= offset) out.push({ topic: record.name, partition, outboxOffset: r.offset, key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp })
            }
          }
          offset = batches[batches.length - 1].lastOffset + 1
        }
      }
    }
    return out
  }

  /**
   * Where the leader stored the outbox record at `outboxOffset`: waits until the forwarder
   * delivered it (any tab's forwarder: delivery state is in the shared store).
   */
  async delivered(record: TopicRecord, partition: number, outboxOffset: number, timeoutMs = 2 ** 31 - 1): Promise<{ offset: number }> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const state = await this.host.storage.getMeta<ForwardState>(forwardKey(record.topicId, partition))
      const hit = state?.delivered.find((d) => outboxOffset >= d.outboxBase && outboxOffset <= d.outboxLast)
      if (hit) return { offset: hit.baseOffset < 0 ? -1 : hit.baseOffset + (outboxOffset - hit.outboxBase) }
      const log = await this.log(record, partition)
      const dead = await this.host.storage.listMeta<DeadLetter>(`${deadLetterPrefix}${record.topicId}/${partition}/`)
      const refused = dead.find((d) => outboxOffset >= d.value.outboxBase && outboxOffset <= d.value.outboxLast)
      if (refused) throw new EdgelogError(refused.value.error.code as never, `The leader refused this record for good: ${refused.value.error.message}`)
      if (outboxOffset < log.logStartOffset) return { offset: -1 }
      if (outboxOffset >= log.highWatermark) throw new EdgelogError('OFFSET_OUT_OF_RANGE', `No outbox record ${outboxOffset} in ${record.name}/${partition}`)
      if (Date.now() > deadline) throw new EdgelogError('REQUEST_TIMED_OUT', `Outbox record ${outboxOffset} of ${record.name}/${partition} is not delivered yet`)
      await this.changed(Math.min(1_000, Math.max(0, deadline - Date.now())))
    }
  }

  /** Something changed (this context's outbox, or a forwarder's delivery seen through the store). */
  onStorageChange(change: StorageChange): void {
    if (change.kind === 'meta' && change.key.startsWith('fwd')) this.wake()
    if (change.kind === 'append' && change.stream.includes('/outbox-')) this.wake()
  }

  wake(): void {
    for (const w of [...this.waiters]) w()
  }

  /** Resolves at the next change, or after `ms`. */
  changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); this.waiters.delete(done); resolve() }
      const timer = setTimeout(done, ms)
      this.waiters.add(done)
    })
  }

  static remember(state: ForwardState, delivered: ForwardState['delivered']): ForwardState['delivered'] {
    return [...state.delivered, ...delivered].slice(-MAX_REMEMBERED_DELIVERIES)
  }

  close(): void {
    for (const log of this.logs.values()) void log.then((l) => l.close(), () => {})
    this.wake()
  }
}
