/**
 * A live tail of one partition as Server-Sent Events, resumable by offset: each record is an
 * `event: record` whose `id` is its offset, so a browser's EventSource reconnects with
 * `Last-Event-ID` and continues after the last record it got. The tail catches up with
 * ordinary fetches; at the end of the log it waits here, in the Worker, on one watch socket to
 * the partition object (worker/wait/), which pushes each append's batches to it while the object
 * itself sleeps between appends. An idle tail sends a comment to keep the connection.
 */
import { isEdgelogError } from '../../core/errors.ts'
import type { EdgeBroker } from '../edge-broker.ts'
import type { Encoding } from './records.ts'
import { tailEvents } from './tail-source.ts'

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
  // Awaiting each write is the back-pressure: the source is not pulled while the reader lags.
  const send = (text: string) => writer.write(encoder.encode(text))
  void (async () => {
    let sent = 0
    try {
      await send(`retry: 1000\n: tail of ${options.topic}/${options.partition} from offset ${options.offset}\n\n`)
      for await (const event of tailEvents(broker, options)) {
        if (event.type === 'idle') {
          await send(`: idle, high watermark ${event.highWatermark}\n\n`)
          continue
        }
        let text = ''
        for (const r of event.records) {
          if (options.limit !== undefined && sent >= options.limit) break
          text += `id: ${r.offset}\nevent: record\ndata: ${JSON.stringify(r)}\n\n`
          sent++
        }
        if (text) await send(text)
        if (options.limit !== undefined && sent >= options.limit) break
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
