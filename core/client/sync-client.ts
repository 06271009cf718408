/**
 * `log.sync`: a log that follows a leader (the browser following the edge) — its status, the
 * records waiting to reach the leader, those refused for good, and the leader's offsets of
 * what was produced here. Works the same in process and across the browser worker.
 */
import { EdgelogError } from '../errors.ts'
import type { Broker } from '../broker.ts'
import type { DeadLetter, PendingRecord } from '../sync/outbox.ts'
import type { SyncState } from '../sync/view.ts'
import type { RecordMetadata } from './producer.ts'

export class SyncClient {
  constructor(private readonly broker: Broker) {}

  private need<K extends 'syncStatus' | 'syncPending' | 'syncDeadLetters' | 'syncDelivered' | 'syncFlush' | 'syncSetToken'>(name: K): NonNullable<Broker[K]> {
    const fn = this.broker[name]
    if (typeof fn !== 'function') throw new EdgelogError('INVALID_REQUEST', 'This log follows no leader (open it with a remote to follow)')
    return fn.bind(this.broker) as NonNullable<Broker[K]>
  }

  /** Online or not, replica lag per partition, records waiting, last sync, recent notable events. */
  status(): Promise<SyncState> { return this.need('syncStatus')() }

  /** Records produced here that the leader does not have yet (to show them as pending). */
  pending(topic?: string): Promise<PendingRecord[]> { return this.need('syncPending')({ topic }) }

  /** Records the leader refused for good, with their typed errors. */
  deadLetters(): Promise<DeadLetter[]> { return this.need('syncDeadLetters')() }

  /** Replaces an expired or wrong token: a sync paused by it goes on at once. */
  async setToken(token: string | undefined): Promise<void> { await this.need('syncSetToken')(token) }

  /** Resolves once everything produced here so far reached the leader (or was refused). */
  flush(timeoutMs?: number): Promise<void> { return this.need('syncFlush')({ timeoutMs }) }

  /**
   * The same metadata with the leader's offsets, once the leader stored those records (waits
   * for it; a record refused for good rejects with its error). Metadata not pending is as is.
   */
  async delivered(metadata: RecordMetadata[], timeoutMs?: number): Promise<RecordMetadata[]> {
    const pending = metadata.filter((m) => m.pending && m.outboxOffset !== undefined)
    if (pending.length === 0) return metadata
    const offsets = await this.need('syncDelivered')({
      records: pending.map((m) => ({ topic: m.topicName, partition: m.partition, outboxOffset: Number(m.outboxOffset) })), timeoutMs,
    })
    const found = new Map(pending.map((m, i) => [m, offsets[i]]))
    return metadata.map((m) => (found.has(m) ? { ...m, pending: false, baseOffset: String(found.get(m)) } : m))
  }

  /** Calls `listener` with the status whenever it changes (checked every `intervalMs`). Returns a stop function. */
  watch(listener: (state: SyncState) => void, intervalMs = 1_000): () => void {
    let last = ''
    let stopped = false
    const tick = async () => {
      if (stopped) return
      try {
        const state = await this.status()
        const seen = JSON.stringify(state)
        if (seen !== last && !stopped) {
          last = seen
          listener(state)
        }
      } catch { /* closed or not reachable: try again */ }
      if (!stopped) timer = setTimeout(tick, intervalMs)
    }
    let timer: ReturnType<typeof setTimeout> = setTimeout(tick, 0)
    return () => { stopped = true; clearTimeout(timer) }
  }
}
