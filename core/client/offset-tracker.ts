/**
 * The consumer's view of offsets per partition: what was resolved (processed) and what was
 * committed. Commits carry the next offset to read (resolved + 1), as Kafka's do.
 */
import { tpKey } from './group-member.ts'

interface Entry { topic: string; partition: number; resolved: number; committed: number }

export class OffsetTracker {
  private readonly entries = new Map<string, Entry>()
  private sinceCommit = 0

  assign(topic: string, partition: number, committed: number): void {
    this.entries.set(tpKey(topic, partition), { topic, partition, resolved: committed >= 0 ? committed - 1 : -1, committed })
  }

  forget(topic: string, partition: number): void {
    this.entries.delete(tpKey(topic, partition))
  }

  resolve(topic: string, partition: number, offset: number): void {
    const entry = this.entries.get(tpKey(topic, partition))
    if (!entry || offset <= entry.resolved) return
    this.sinceCommit += offset - entry.resolved
    entry.resolved = offset
  }

  /** After a seek, the next commit moves the group to the new position. */
  seek(topic: string, partition: number, offset: number): void {
    const entry = this.entries.get(tpKey(topic, partition))
    if (entry) entry.resolved = offset - 1
  }

  committed(topic: string, partition: number, offset: number): void {
    const entry = this.entries.get(tpKey(topic, partition))
    if (entry) entry.committed = offset
    this.sinceCommit = 0
  }

  resolvedSinceCommit(): number {
    return this.sinceCommit
  }

  /** Offsets to commit (next offset to read) where processing moved past the last commit. */
  pendingCommits(only?: string[]): Array<{ topic: string; partition: number; offset: number }> {
    const result: Array<{ topic: string; partition: number; offset: number }> = []
    for (const [key, e] of this.entries) {
      if (only && !only.includes(key)) continue
      if (e.resolved >= 0 && e.resolved + 1 !== e.committed) result.push({ topic: e.topic, partition: e.partition, offset: e.resolved + 1 })
    }
    return result
  }

  uncommitted(): { topics: Array<{ topic: string; partitions: Array<{ partition: string; offset: string }> }> } {
    const byTopic = new Map<string, Array<{ partition: string; offset: string }>>()
    for (const p of this.pendingCommits()) {
      let list = byTopic.get(p.topic)
      if (!list) byTopic.set(p.topic, (list = []))
      list.push({ partition: String(p.partition), offset: String(p.offset) })
    }
    return { topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) }
  }
}
