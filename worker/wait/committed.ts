/**
 * A read_committed long poll, waiting in the Worker as the read_uncommitted ones do (client.ts):
 * the partition object alone knows the last stable offset, so the Worker reads committed data
 * from it without waiting and, when there is none yet, waits on the object's watch socket for
 * anything appended past the high watermark — records, or the marker that moves the LSO — then
 * reads again. An idle read_committed consumer (KafkaJS's default) so leaves the object asleep.
 */
import type { FetchRequest } from '../../core/broker.ts'
import type { EdgeBroker } from '../edge-broker.ts'
import type { FetchOutcome } from '../objects/partition.ts'
import { MAX_FETCH_WAIT_MS } from '../objects/partition.ts'
import { fetchWaiting } from './client.ts'

export async function fetchCommittedWaiting(broker: EdgeBroker, req: FetchRequest, signal?: AbortSignal): Promise<FetchOutcome & { topicId: string }> {
  const maxWait = Math.min(Math.max(0, Number(req.maxWaitMs) || 0), MAX_FETCH_WAIT_MS)
  const minBytes = Math.max(1, Number(req.minBytes) || 1)
  const deadline = Date.now() + maxWait
  for (;;) {
    const read = await broker.fetchRaw({ ...req, maxWaitMs: 0, isolationLevel: 1 })
    const left = deadline - Date.now()
    if (read.bytes.byteLength >= minBytes || left <= 0 || signal?.aborted) return read
    // Wake on the next append past what is stored (a transaction's batch or its marker).
    await fetchWaiting(broker, { topic: req.topic, partition: req.partition, offset: read.highWatermark, maxBytes: 1, maxWaitMs: left, minBytes: 1 }, signal)
  }
}
