/**
 * The consumer's view of offsets per partition: what was resolved (processed) and what was
 * committed. Commits carry the next offset to read (resolved + 1), as Kafka's do.
 */
import { tpKey } from './group-member.ts'

export interface OffsetEntry {
  topic: string
  partition: number
  /** Last offset processed (-1: none). */
  resolved: number
  /** Last committed next-offset (-1: none). */
  committed: number
  /** A seek moved the position: commit `resolved + 1` even if nothing was processed. */
  sought: boolean
}

export class OffsetTracker {
  private readonly entries = new Map<string, OffsetEntry>()

  assign(topic: string, partition: number, committed: number): void {
    this.entries.set(tpKey(topic, partition), { topic, partition, resolved: committed >= 0 ? committed - 1 : -1, committed, sought: false })
  }

  /** The partition's entry, for resolving without a lookup per message (undefined: not tracked). */
  entry(topic: string, partition: number): OffsetEntry | undefined {
    return this.entries.get(tpKey(topic, partition))
  }

  /** `resolve` on an entry got from `entry` (a forgotten entry is no longer counted). */
  static resolveEntry(entry: OffsetEntry, offset: number): void {
    if (offset > entry.resolved) entry.resolved = offset
  }

  forget(topic: string, partition: number): void {
    this.entries.delete(tpKey(topic, partition))
  }

  resolve(topic: string, partition: number, offset: number): void {
    const entry = this.entries.get(tpKey(topic, partition))
    if (!entry || offset <= entry.resolved) return
    entry.resolved = offset
  }

  /** After a seek, the next commit moves the group to the new position. */
  seek(topic: string, partition: number, offset: number): void {
    const entry = this.entries.get(tpKey(topic, partition))
    if (!entry) return
    entry.resolved = offset - 1
    entry.sought = true
  }

  /** The position was reset (auto.offset.reset): processing starts again from `offset`. */
  reset(topic: string, partition: number, offset: number): void {
    const entry = this.entries.get(tpKey(topic, partition))
    if (!entry) return
    entry.resolved = offset - 1
    entry.sought = false
  }

  committed(topic: string, partition: number, offset: number): void {
    const entry = this.entries.get(tpKey(topic, partition))
    if (!entry) return
    entry.committed = offset
    if (entry.resolved + 1 === offset) entry.sought = false
  }

  /** Offsets resolved and not committed yet, over every partition (KafkaJS's countResolvedOffsets). */
  resolvedSinceCommit(): number {
    let n = 0
    for (const e of this.entries.values()) {
      if (e.resolved + 1 > e.committed) n += e.committed < 0 ? e.resolved + 1 : e.resolved + 1 - e.committed
    }
    return n
  }

  /** Offsets to commit (next offset to read) where processing moved past the last commit. */
  pendingCommits(only?: string[]): Array<{ topic: string; partition: number; offset: number }> {
    const result: Array<{ topic: string; partition: number; offset: number }> = []
    for (const [key, e] of this.entries) {
      if (only && !only.includes(key)) continue
      if ((e.resolved >= 0 || e.sought) && e.resolved + 1 !== e.committed) result.push({ topic: e.topic, partition: e.partition, offset: e.resolved + 1 })
    }
    return result
  }

  /** KafkaJS's uncommittedOffsets(): partitions as numbers, offsets (the next to read) as decimal strings. */
  uncommitted(): { topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> } {
    const byTopic = new Map<string, Array<{ partition: number; offset: string }>>()
    for (const p of this.pendingCommits()) {
      let list = byTopic.get(p.topic)
      if (!list) byTopic.set(p.topic, (list = []))
      list.push({ partition: p.partition, offset: String(p.offset) })
    }
    return { topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) }
  }
}
