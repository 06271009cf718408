/**
 * Kafka's leader-epoch cache (leader-epoch-checkpoint): for each leader epoch seen in this
 * replica's log, the offset of its first record. It answers KIP-101's OffsetsForLeaderEpoch —
 * where an epoch ends — which is what lets a returning replica cut its log exactly where it
 * diverged from the new leader's, instead of trusting a high watermark that may be stale.
 * Entries are immutable arrays: a change is a new cache, adopted once it is persisted.
 */
export interface EpochEntry { epoch: number; startOffset: number }

/** What a replica persists beside its log, in one meta value (`replication/<stream>`). */
export interface ReplicationCheckpoint {
  epochs: EpochEntry[]
  /** The high watermark as last known here (Kafka's replication-offset-checkpoint): a lower bound. */
  highWatermark: number
}

export class LeaderEpochCache {
  constructor(readonly entries: readonly EpochEntry[] = []) {}

  get latest(): EpochEntry | undefined { return this.entries[this.entries.length - 1] }
  get latestEpoch(): number { return this.latest?.epoch ?? -1 }

  /**
   * Epoch `epoch` starts at `startOffset`. An older epoch than the latest is ignored (batches
   * arrive in epoch order); a start at or before existing entries replaces them (after a
   * truncation the same offsets belong to the new epoch).
   */
  assign(epoch: number, startOffset: number): LeaderEpochCache {
    if (epoch < 0) return this
    const latest = this.latest
    if (latest && epoch < latest.epoch) return this
    if (latest && epoch === latest.epoch) return this
    const kept = this.entries.filter((e) => e.startOffset < startOffset && e.epoch < epoch)
    return new LeaderEpochCache([...kept, { epoch, startOffset }])
  }

  /** The start offset of `epoch` (undefined: not in this log). */
  startOffsetOf(epoch: number): number | undefined {
    return this.entries.find((e) => e.epoch === epoch)?.startOffset
  }

  /**
   * OffsetsForLeaderEpoch as the leader answers it: the largest epoch ≤ `epoch` this log has,
   * and where it ends (the next epoch's start, or `logEndOffset` for the latest). None: epoch
   * -1, ending where this log's first epoch starts (everything before it is not shared).
   */
  endOffsetFor(epoch: number, logEndOffset: number): { epoch: number; endOffset: number } {
    let found = -1
    for (let i = 0; i < this.entries.length; i++) if (this.entries[i].epoch <= epoch) found = i
    if (found < 0) return { epoch: -1, endOffset: this.entries[0]?.startOffset ?? logEndOffset }
    const next = this.entries[found + 1]
    return { epoch: this.entries[found].epoch, endOffset: next ? next.startOffset : logEndOffset }
  }

  /** The log was truncated to `offset`: epochs starting at or past it are gone. */
  truncateFromEnd(offset: number): LeaderEpochCache {
    const kept = this.entries.filter((e) => e.startOffset < offset)
    return kept.length === this.entries.length ? this : new LeaderEpochCache(kept)
  }

  toJSON(): EpochEntry[] { return this.entries.map((e) => ({ ...e })) }
}

export function checkpointOf(epochs: LeaderEpochCache, highWatermark: number): ReplicationCheckpoint {
  return { epochs: epochs.toJSON(), highWatermark }
}

/**
 * Writes a leader's epoch into a batch header's partitionLeaderEpoch (bytes 12..15: outside the
 * CRC, patched in place as the log patches the base offset); answers the batch's record count.
 */
export function stampEpoch(bytes: Uint8Array, epoch: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  view.setInt32(12, epoch)
  return view.getInt32(23) + 1
}
