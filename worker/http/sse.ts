/**
 * A live tail of one partition as Server-Sent Events, resumable by offset: each record is an
 * `event: record` whose `id` is its offset, so a browser's EventSource reconnects with
 * `Last-Event-ID` and continues after the last record it got. The tail catches up with
 * ordinary fetches; at the end of the log it waits here, in the Worker, on one watch socket to
 * the partition object (worker/wait/), which pushes each append's batches to it while the object
 * itself sleeps between appends. An idle tail sends a comment to keep the connection.
 */
import { errorFromJSON, isEdgelogError } from '../../core/errors.ts'
import { lastOffsetOf, splitBatches } from '../../core/codec/record-batch.ts'
import type { EdgeBroker } from '../edge-broker.ts'
import { waitsInObject, WatchSocket } from '../wait/client.ts'
import { toJsonRecords, type Encoding } from './records.ts'

export interface TailOptions {
  topic: string
  partition: number
  offset: number
  /** End the stream after this many records (default: never). */
  limit?: number
  maxWaitMs: number
  encoding: Encoding
  signal: AbortSignal
}

const encoder = new TextEncoder()

export function tail(broker: EdgeBroker, options: TailOptions): Response {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>()
  const writer = writable.getWriter()
  const send = (text: string) => writer.write(encoder.encode(text))
  void (async () => {
    let offset = options.offset
    let sent = 0
    const more = () => !options.signal.aborted && (options.limit === undefined || sent < options.limit)
    /** Sends the records of `bytes` (batches read from `offset`) and moves `offset` past them. */
    const emit = async (bytes: Uint8Array) => {
      const batches = splitBatches(bytes)
      const records = await toJsonRecords(batches, offset, options.encoding)
      let text = ''
      let cut = false
      for (const r of records) {
        if (options.limit !== undefined && sent >= options.limit) { cut = true; break }
        text += `id: ${r.offset}\nevent: record\ndata: ${JSON.stringify(r)}\n\n`
        offset = r.offset + 1
        sent++
      }
      // Compacted batches may end past their last kept record: continue after the batch.
      if (!cut) offset = Math.max(offset, lastOffsetOf(batches[batches.length - 1]) + 1)
      if (text) await send(text)
    }
    try {
      await send(`retry: 1000\n: tail of ${options.topic}/${options.partition} from offset ${offset}\n\n`)
      const inObject = waitsInObject(broker.env)
      while (more()) {
        const raw = await broker.fetchRaw({ topic: options.topic, partition: options.partition, offset, maxBytes: 256 * 1024, maxWaitMs: inObject ? options.maxWaitMs : 0 })
        if (raw.batchCount > 0) {
          await emit(raw.bytes)
          continue
        }
        if (inObject) {
          await send(`: idle, high watermark ${raw.highWatermark}\n\n`)
          continue
        }
        // At the end of the log: wait in the Worker for the object's pushes.
        let hw = raw.highWatermark
        const target = await broker.cluster.target(options.topic, options.partition)
        const watch = await broker.cluster.onPartition(target, (stub) => WatchSocket.open(stub as never, target, { offset, maxBytes: 256 * 1024, minBytes: 1, mode: 'stream' }))
        try {
          while (more()) {
            const m = await watch.next(options.maxWaitMs, options.signal)
            if (m === 'closed') break
            if (m === 'timeout') { await send(`: idle, high watermark ${hw}\n\n`); continue }
            if (m.t === 'pos') { hw = m.hw; continue }
            if (m.t === 'ready') break
            if (m.t === 'error') throw errorFromJSON({ code: m.code, message: m.message } as never)
            hw = m.hw
            // Pushed batches start where this tail stands; anything else: catch up by fetching.
            if (m.from !== offset || m.count === 0) break
            await emit(m.bytes)
          }
        } finally {
          watch.close()
        }
      }
      await writer.close()
    } catch (error) {
      if (isEdgelogError(error)) {
        await send(`event: error\ndata: ${JSON.stringify({ code: error.code, message: error.message })}\n\n`).catch(() => {})
      }
      await writer.close().catch(() => {})
    }
  })()
  return new Response(readable, {
    headers: { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no' },
  })
}
