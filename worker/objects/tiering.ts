/**
 * When a partition's sealed segments move to R2 (Kafka's KIP-405 local retention; the move
 * itself is adapters/durable-object/remote-tier.ts, docs/tiered-storage.md).
 *
 * Kafka keeps a tiered topic's newest segments on the broker's disk for local.retention.ms /
 * local.retention.bytes (-2: the total retention) and serves older ones from the remote tier.
 * Here the same rule picks, after each retention run, the oldest sealed segments still in the
 * object's SQLite that are past the local limits, and moves them; the active segment never
 * moves. The selection is retention's own (core/log/retention.ts) over the local segments with
 * the local limits, so "past local retention" means what "past retention" means.
 */
import { localRetention, type TopicConfig } from '../../core/config.ts'
import { EdgelogError } from '../../core/errors.ts'
import type { PartitionLog } from '../../core/log/partition-log.ts'
import { selectExpiredSegments } from '../../core/log/retention.ts'
import type { SqliteStorage } from '../../adapters/durable-object/sqlite-storage.ts'
import type { RemoteSegment } from '../../adapters/durable-object/remote-tier.ts'

/** Test-only faults at the worst point of a move: the file is in R2, the transaction that adopts it has not run. */
export type TierFault = 'tier-pause-after-put' | 'tier-fail-after-put' | undefined

export interface TierStatus {
  /** An R2 binding is present. */
  remoteStorage: boolean
  /** The topic's remote.storage.enable. */
  enabled: boolean
  /** A move paused by the test fault switch, at this R2 key. */
  pausedAt?: string
  lastError?: string
  local: { segments: number; bytes: number }
  remote: { segments: RemoteSegment[]; bytes: number }
  /** R2 keys recorded as possibly written and not indexed: swept on the next run. */
  orphans: string[]
  /** The R2 keys under this partition's prefix (one list request; status and tests). */
  objects?: string[]
}

export class Tiering {
  #running: Promise<number> | undefined
  pausedAt: string | undefined
  /** The last run's failure (it is tried again on the next run). */
  lastError: string | undefined

  constructor(private readonly storage: SqliteStorage, public fault: TierFault) {}

  /** Moves what is past the local retention; one run at a time. Returns the batches moved. */
  run(log: PartitionLog, config: TopicConfig, now: number): Promise<number> {
    this.#running ??= this.#run(log, config, now).then(
      (moved) => { this.lastError = undefined; return moved },
      (error) => { this.lastError = error instanceof Error ? error.message : String(error); throw error },
    ).finally(() => { this.#running = undefined })
    return this.#running
  }

  async #run(log: PartitionLog, config: TopicConfig, now: number): Promise<number> {
    const remote = this.storage.remote
    if (!remote.bucket) return 0
    // Failed or interrupted moves, and files of deleted segments, first.
    await remote.sweep()
    if (!config['remote.storage.enable']) return 0
    const { ms, bytes } = localRetention(config)
    if (ms < 0 && bytes < 0) return 0
    const state = log.state()
    const end = remote.end(log.stream)
    const local = state.segments.filter((s) => s.endOffset > end)
    const due = selectExpiredSegments(local, { ...config, 'retention.ms': ms, 'retention.bytes': bytes }, now)
    let moved = 0
    for (const segment of due) {
      if (segment.batches === 0) continue
      moved += await this.storage.moveToRemote(log.stream, segment.baseOffset, segment.endOffset, { afterPut: (key) => this.#afterPut(key) })
    }
    // A file not adopted (its rows changed during the upload, or the partition was dropped) goes now.
    await remote.sweep()
    return moved
  }

  async #afterPut(key: string): Promise<void> {
    if (this.fault === 'tier-fail-after-put') throw new EdgelogError('STORAGE_ERROR', `Injected fault after writing ${key} to R2`)
    if (this.fault === 'tier-pause-after-put') {
      // The test kills the process here: long enough never to end on its own within a test.
      this.pausedAt = key
      await new Promise((resolve) => setTimeout(resolve, 10 * 60_000))
    }
  }

  async status(log: PartitionLog, config: TopicConfig, listObjects: boolean): Promise<TierStatus> {
    const remote = this.storage.remote
    const { segments, orphans } = remote.describe(log.stream)
    const end = remote.end(log.stream)
    const local = log.state().segments.filter((s) => s.endOffset > end)
    const status: TierStatus = {
      remoteStorage: remote.bucket !== undefined,
      enabled: config['remote.storage.enable'] === true,
      ...(this.pausedAt ? { pausedAt: this.pausedAt } : {}),
      ...(this.lastError ? { lastError: this.lastError } : {}),
      local: { segments: local.length, bytes: local.reduce((n, s) => n + s.sizeBytes, 0) },
      remote: { segments, bytes: segments.reduce((n, s) => n + s.bytes, 0) },
      orphans,
    }
    if (listObjects && remote.bucket) {
      const objects: string[] = []
      let cursor: string | undefined
      do {
        const page = await remote.bucket.list({ prefix: `${remote.prefix}${log.stream}/`, cursor })
        for (const o of page.objects) objects.push(o.key)
        cursor = page.truncated ? page.cursor : undefined
      } while (cursor)
      status.objects = objects
    }
    return status
  }
}
