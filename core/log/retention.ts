/**
 * Which segments retention deletes (cleanup.policy delete): whole segments only, oldest
 * first, never the active one, never one that still holds records inside the limits.
 */
import type { TopicConfig } from '../config.ts'
import type { SegmentInfo } from '../broker.ts'

/** The oldest closed segments that are past retention.ms or beyond retention.bytes. */
export function selectExpiredSegments(segments: SegmentInfo[], config: TopicConfig, now: number): SegmentInfo[] {
  const closed = segments.slice(0, -1)
  const retentionMs = config['retention.ms']
  const retentionBytes = config['retention.bytes']
  let excessBytes = retentionBytes >= 0 ? segments.reduce((sum, s) => sum + s.sizeBytes, 0) - retentionBytes : 0
  const expired: SegmentInfo[] = []
  for (const segment of closed) {
    // By time: every record in the segment is older than the limit (its largest timestamp is).
    const byTime = retentionMs >= 0 && segment.batches > 0 && now - segment.maxTimestamp > retentionMs
    // By size: dropping the whole segment still leaves the partition at or above the limit.
    const bySize = retentionBytes >= 0 && excessBytes - segment.sizeBytes >= 0
    const empty = segment.batches === 0
    if (!byTime && !bySize && !empty) break
    expired.push(segment)
    excessBytes -= segment.sizeBytes
  }
  return expired
}
