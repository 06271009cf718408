/**
 * The watch channel between a waiting Worker and a partition object (docs/scaling.md).
 *
 * A long poll or a live tail does not park inside the partition object: the Worker opens a
 * WebSocket to the object (`GET /watch`, the request below in the `Edgelog-Watch` header) and
 * the object accepts it through the WebSocket Hibernation API, so while nothing is appended the
 * object has no request in progress and may be evicted from memory, its watchers' connections
 * kept. An append wakes it (it is a request), and before it sleeps again it pushes the new
 * batches to every watcher waiting at that offset: waking a reader costs no request of its own.
 *
 * Object → Worker, one message each:
 *   - binary, a data frame: u32 big-endian length of a JSON `DataHeader`, the header, then the
 *     batches as stored (the bytes of a fetch answer);
 *   - text JSON `{ t: 'pos', hw, ls }`: nothing to read yet at the watcher's offset;
 *   - text JSON `{ t: 'ready', hw, ls }`: data is there but too large for one message (the
 *     runtime's 1 MiB per message): fetch it with an ordinary request;
 *   - text JSON `{ t: 'error', code, message }`, then the object closes the socket.
 */
export const WATCH_HEADER = 'Edgelog-Watch'
export const WATCH_URL = 'https://partition.internal/watch'

/** A watch: `once` ends at the first data frame (a long poll), `stream` goes on (a tail). */
export interface WatchRequest {
  offset: number
  maxBytes: number
  minBytes: number
  mode: 'once' | 'stream'
  /** A Durable Streams reader (worker/ds/wait.ts): told `ready` at once when the stream is closed or gone. */
  ds?: boolean
}

/** What the object keeps on each hibernatable socket (serializeAttachment). */
export interface WatchState extends WatchRequest {
  /** A once-watch that got its data, or a stream watch that got `ready`: sent nothing more. */
  done?: boolean
}

export interface DataHeader {
  t: 'data'
  /** The offset the batches were read from (the watcher's offset). */
  from: number
  /** Offset after the last batch. */
  next: number
  count: number
  hw: number
  ls: number
}

export type ControlMessage =
  | { t: 'pos'; hw: number; ls: number }
  | { t: 'ready'; hw: number; ls: number }
  | { t: 'error'; code: string; message: string }

/** Largest batch payload sent inline (the Workers runtime refuses a received message over 1 MiB). */
export const INLINE_MAX_BYTES = 1024 * 1024 - 16 * 1024

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeData(header: DataHeader, bytes: Uint8Array): Uint8Array {
  const json = encoder.encode(JSON.stringify(header))
  const out = new Uint8Array(4 + json.byteLength + bytes.byteLength)
  new DataView(out.buffer).setUint32(0, json.byteLength)
  out.set(json, 4)
  out.set(bytes, 4 + json.byteLength)
  return out
}

export type WatchMessage = ControlMessage | (DataHeader & { bytes: Uint8Array })

export function decodeMessage(data: string | ArrayBuffer | Uint8Array): WatchMessage {
  if (typeof data === 'string') return JSON.parse(data) as ControlMessage
  const all = data instanceof Uint8Array ? data : new Uint8Array(data)
  const length = new DataView(all.buffer, all.byteOffset, all.byteLength).getUint32(0)
  const header = JSON.parse(decoder.decode(all.subarray(4, 4 + length))) as DataHeader
  return { ...header, bytes: all.subarray(4 + length) }
}
