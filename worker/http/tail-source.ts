/**
 * The records of one partition from an offset on, as a live tail sees them: caught up with
 * ordinary fetches, then, at the end of the log, waited for here in the Worker on one watch
 * socket to the partition object (worker/wait/), which pushes each append's batches while the
 * object itself sleeps between appends. The SSE tail (sse.ts) and the WebSocket tail
 * (ws-tail.ts) are two ways of writing these events out.
 *
 * The generator holds nothing while its consumer is not pulling, beyond the watch socket's
 * bounded queue (WatchSocket drops to fetching when a slow reader lets it fill): a reader that
 * stops reading costs one fetch's worth of memory, whatever is appended meanwhile.
 */
import { errorFromJSON } from '../../core/errors.ts'
import { lastOffsetOf, splitBatches } from '../../core/codec/record-batch.ts'
import type { EdgeBroker } from '../edge-broker.ts'
import { waitsInObject, WatchSocket } from '../wait/client.ts'
import { toJsonRecords, type Encoding, type JsonRecordOut } from './records.ts'

export interface TailSourceOptions {
  topic: string
  partition: number
  /** The first offset to hand out. */
  offset: number
  /** How long an idle wait lasts before an `idle` event (a keep-alive). */
  maxWaitMs: number
  encoding: Encoding
  signal: AbortSignal
  /** Bytes of batches per fetch (default 256 KiB). */
  maxBytes?: number
}

export type TailEvent =
  /** `next` is where the tail goes on from (past compacted-away offsets at a batch's end). */
  | { type: 'records'; records: JsonRecordOut[]; next: number; highWatermark: number }
  | { type: 'idle'; next: number; highWatermark: number }

export async function* tailEvents(broker: EdgeBroker, options: TailSourceOptions): AsyncGenerator<TailEvent, void, undefined> {
  const maxBytes = options.maxBytes ?? 256 * 1024
  let offset = options.offset
  const toEvent = async (bytes: Uint8Array, hw: number): Promise<TailEvent> => {
    const batches = splitBatches(bytes)
    const records = await toJsonRecords(batches, offset, options.encoding)
    // Compacted batches may end past their last kept record: go on after the batch.
    offset = Math.max(offset, lastOffsetOf(batches[batches.length - 1]) + 1)
    return { type: 'records', records, next: offset, highWatermark: hw }
  }
  const inObject = waitsInObject(broker.env)
  while (!options.signal.aborted) {
    const raw = await broker.fetchRaw({ topic: options.topic, partition: options.partition, offset, maxBytes, maxWaitMs: inObject ? options.maxWaitMs : 0 })
    if (raw.batchCount > 0) {
      yield await toEvent(raw.bytes, raw.highWatermark)
      continue
    }
    if (inObject) {
      yield { type: 'idle', next: offset, highWatermark: raw.highWatermark }
      continue
    }
    let hw = raw.highWatermark
    const target = await broker.cluster.target(options.topic, options.partition)
    const watch = await broker.cluster.onPartition(target, (stub) => WatchSocket.open(stub as never, target, { offset, maxBytes, minBytes: 1, mode: 'stream' }))
    try {
      while (!options.signal.aborted) {
        const m = await watch.next(options.maxWaitMs, options.signal)
        if (m === 'closed') break
        if (m === 'timeout') { yield { type: 'idle', next: offset, highWatermark: hw }; continue }
        if (m.t === 'pos') { hw = m.hw; continue }
        if (m.t === 'ready') break
        if (m.t === 'error') throw errorFromJSON({ code: m.code, message: m.message } as never)
        hw = m.hw
        // Pushed batches start where this tail stands; anything else: catch up by fetching.
        if (m.from !== offset || m.count === 0) break
        yield await toEvent(m.bytes, hw)
      }
    } finally {
      watch.close()
    }
  }
}
