/**
 * A live tail of one partition over a WebSocket, beside the SSE tail (same route, same query;
 * the `Upgrade: websocket` header picks this one). Resumable by offset, with back-pressure by
 * credit: the client says how many more records it will take, and the Worker reads no further
 * than that. A client that stops granting credit holds nothing open toward the partition
 * object (its watch socket is closed until credit comes) and nothing buffered in the Worker.
 *
 * Worker → client, JSON text messages:
 *   { type: 'records', records: [...], next, highWatermark }  (next: where to resume)
 *   { type: 'idle', next, highWatermark }                      (keep-alive while waiting)
 *   { type: 'error', error: { code, message } }, then close 1011
 * Client → Worker: { credit: n } grants n more records. `?credit=` is the first grant.
 *
 * The waiting itself is the SSE tail's (tail-source.ts): in the Worker, on a hibernatable
 * WebSocket to the partition object, which sleeps between appends.
 */
import { EdgelogError, isEdgelogError } from '../../core/errors.ts'
import type { EdgeBroker } from '../edge-broker.ts'
import type { Encoding } from './records.ts'
import { tailEvents, type TailEvent } from './tail-source.ts'

type RecordsEvent = Extract<TailEvent, { type: 'records' }>

export interface WebSocketTailOptions {
  topic: string
  partition: number
  offset: number
  /** Records the client takes before it grants more (default 1,000). */
  credit: number
  /** Close (1000) after this many records. */
  limit?: number
  maxWaitMs: number
  encoding: Encoding
}

export const DEFAULT_TAIL_CREDIT = 1000
export const MAX_TAIL_CREDIT = 1_000_000

export function webSocketTail(broker: EdgeBroker, options: WebSocketTailOptions): Response {
  const [client, server] = Object.values(new WebSocketPair())
  server.accept()
  const stop = new AbortController()
  let credit = options.credit
  let wakeForCredit: (() => void) | undefined
  const end = () => { stop.abort(); wakeForCredit?.() }
  server.addEventListener('close', end)
  server.addEventListener('error', end)
  server.addEventListener('message', (event) => {
    const grant = parseGrant(event.data)
    if (grant === undefined) {
      sendError(server, new EdgelogError('INVALID_REQUEST', 'Expected a message { "credit": n } with a whole n ≥ 1'))
      end()
      return
    }
    credit = Math.min(credit + grant, MAX_TAIL_CREDIT)
    wakeForCredit?.()
  })

  void (async () => {
    let offset = options.offset
    let left = options.limit ?? Infinity
    try {
      while (!stop.signal.aborted && left > 0) {
        if (credit <= 0) {
          await new Promise<void>((resolve) => { wakeForCredit = resolve })
          wakeForCredit = undefined
          continue
        }
        // A fresh source at each grant: leaving the loop below closes its watch socket.
        for await (const event of tailEvents(broker, { ...options, offset, signal: stop.signal })) {
          if (event.type === 'idle') { send(server, event); continue }
          const out = take(event, Math.min(credit, left))
          offset = out.next
          if (out.records.length > 0) send(server, out)
          credit -= out.records.length
          left -= out.records.length
          if (credit <= 0 || left <= 0) break
        }
      }
      if (!stop.signal.aborted) server.close(1000, 'limit reached')
    } catch (error) {
      if (!stop.signal.aborted) {
        sendError(server, isEdgelogError(error) ? error : new EdgelogError('UNKNOWN_SERVER_ERROR', String(error)))
      }
    }
  })()
  return new Response(null, { status: 101, webSocket: client })
}

/** The part of an event the client has credit for; `next` is the first record not sent. */
function take(event: RecordsEvent, allowed: number): RecordsEvent {
  if (event.records.length <= allowed) return event
  const records = event.records.slice(0, allowed)
  return { ...event, records, next: event.records[allowed].offset }
}

function send(ws: WebSocket, message: unknown): void {
  try { ws.send(JSON.stringify(message)) } catch { /* the client left: the close event ends the loop */ }
}

function sendError(ws: WebSocket, error: EdgelogError): void {
  send(ws, { type: 'error', error: { code: error.code, message: error.message } })
  try { ws.close(1011, error.code) } catch { /* already closed */ }
}

function parseGrant(data: unknown): number | undefined {
  if (typeof data !== 'string') return undefined
  try {
    const n = (JSON.parse(data) as { credit?: unknown })?.credit
    return typeof n === 'number' && Number.isSafeInteger(n) && n >= 1 ? n : undefined
  } catch {
    return undefined
  }
}
