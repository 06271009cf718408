/**
 * A live tail of one partition as Server-Sent Events, resumable by offset: each record is an
 * `event: record` whose `id` is its offset, so a browser's EventSource reconnects with
 * `Last-Event-ID` and continues after the last record it got. Each read is a long-poll fetch
 * that waits inside the partition object; an idle tail sends a comment to keep the connection.
 */
import { isEdgelogError } from '../../core/errors.ts'
import { lastOffsetOf, splitBatches } from '../../core/codec/record-batch.ts'
import type { EdgeBroker } from '../edge-broker.ts'
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
    try {
      await send(`retry: 1000\n: tail of ${options.topic}/${options.partition} from offset ${offset}\n\n`)
      while (!options.signal.aborted && (options.limit === undefined || sent < options.limit)) {
        const raw = await broker.fetchRaw({ topic: options.topic, partition: options.partition, offset, maxBytes: 256 * 1024, maxWaitMs: options.maxWaitMs })
        if (raw.batchCount === 0) {
          await send(`: idle, high watermark ${raw.highWatermark}\n\n`)
          continue
        }
        const batches = splitBatches(raw.bytes)
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
