/**
 * read_committed (KIP-98) on a replica: below min(high watermark, last stable offset) only,
 * with the aborted transactions that overlap what is returned. The leader and a KIP-392
 * follower answer from their own log's transaction state (core/log/replica-plan.ts keeps it on
 * followers from the batches and markers they copy).
 */
import type { PartitionLog } from '../log/partition-log.ts'
import type { ReplicaReadRequest, ReplicaReadResponse } from './types.ts'

export async function readCommitted(
  log: PartitionLog, highWatermark: () => number, waitForHw: (offset: number, maxWaitMs: number) => Promise<unknown>, req: ReplicaReadRequest,
): Promise<ReplicaReadResponse> {
  const stableEnd = () => Math.min(highWatermark(), log.lastStableOffset)
  if (stableEnd() <= req.offset && (req.maxWaitMs ?? 0) > 0) await waitForHw(req.offset, req.maxWaitMs!)
  const end = stableEnd()
  const read = end > req.offset ? await log.read(req.offset, req.maxBytes, undefined, 'read_committed') : { batches: [], abortedTransactions: [] }
  // The log reads up to its last stable offset; the high watermark may be lower.
  const stored = read.batches.filter((b) => b.lastOffset < end)
  const upTo = stored.length === 0 ? req.offset : stored[stored.length - 1].lastOffset + 1
  return {
    batches: stored.map((b) => b.bytes), highWatermark: highWatermark(), logStartOffset: log.logStartOffset, lastStableOffset: end,
    abortedTransactions: (read.abortedTransactions ?? []).filter((t) => t.firstOffset < upTo),
  }
}
