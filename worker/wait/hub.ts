/**
 * The partition object's side of the watch channel (protocol.ts): waiting Workers' WebSockets,
 * accepted through the WebSocket Hibernation API, so that they hold no request open in the
 * object. After every change of the log the object calls `notify`, which reads once per
 * distinct (offset, maxBytes) among the watchers and pushes the batches to each.
 */
import { isEdgelogError } from '../../core/errors.ts'
import { concatBytes } from '../../core/codec/bytes.ts'
import { lastOffsetOf } from '../../core/codec/record-batch.ts'
import { encodeData, INLINE_MAX_BYTES, type ControlMessage, type WatchRequest, type WatchState } from './protocol.ts'

type Read = { bytes: Uint8Array; count: number; next: number } | { error: { code: string; message: string } }

/**
 * What watchers read: a partition object's log, or a replicated partition's leader bounded by
 * its high watermark (worker/replication/host.ts). `highWatermark` is where readers stop.
 */
export interface WatchSource {
  readonly highWatermark: number
  readonly logStartOffset: number
  read(offset: number, maxBytes: number): Promise<{ batches: Array<{ bytes: Uint8Array }> }>
}

export class WatchHub {
  constructor(private readonly ctx: DurableObjectState, private readonly onPush: () => void = () => {}) {}

  /** Watchers connected (hibernated or not). */
  get size(): number {
    return this.ctx.getWebSockets().length
  }

  /**
   * Accepts a watch; the first message (data, `pos` or `error`) is sent at once. `ready`: there
   * is news the log does not show (a Durable Stream closed): say `ready` at once instead of `pos`.
   */
  async accept(log: WatchSource, request: WatchRequest, options: { ready?: boolean } = {}): Promise<Response> {
    const pair = new WebSocketPair()
    const [client, server] = [pair[0], pair[1]]
    this.ctx.acceptWebSocket(server)
    const state: WatchState = { offset: request.offset, maxBytes: request.maxBytes, minBytes: request.minBytes, mode: request.mode }
    server.serializeAttachment(state)
    const sent = options.ready ? 0 : await this.serve(log, [server], new Map())
    if (options.ready) {
      this.send(server, { t: 'ready', hw: log.highWatermark, ls: log.logStartOffset })
      server.serializeAttachment({ ...state, done: true })
    } else if (sent === 0) {
      // Nothing yet at its offset: tell it where the log stands, then wait without a request.
      this.send(server, { t: 'pos', hw: log.highWatermark, ls: log.logStartOffset })
    }
    return new Response(null, { status: 101, webSocket: client })
  }

  /** The log changed (an append, retention, a reset): push what each watcher waits for. */
  async notify(log: WatchSource): Promise<void> {
    const sockets = this.ctx.getWebSockets()
    if (sockets.length > 0) await this.serve(log, sockets, new Map())
  }

  /**
   * Something changed that the offsets do not show (a Durable Stream closed, deleted, or its
   * TTL moved): every live watcher gets a `pos`, which /v1 readers take as a position and
   * Durable Streams readers as a reason to read again.
   */
  nudge(log: WatchSource): void {
    for (const ws of this.ctx.getWebSockets()) {
      if (this.stateOf(ws)?.done) continue
      this.send(ws, { t: 'pos', hw: log.highWatermark, ls: log.logStartOffset })
    }
  }

  /**
   * Closes every watch without an error (a replica that stopped leading): each Worker fetches
   * again through the current leader, so nothing is missed.
   */
  closeAll(): void {
    for (const ws of this.ctx.getWebSockets()) {
      try { ws.close(1012, 'leader changed') } catch { /* already closed */ }
    }
  }

  /** Ends every watch with an error (the partition was dropped). */
  failAll(code: string, message: string): void {
    for (const ws of this.ctx.getWebSockets()) {
      this.send(ws, { t: 'error', code, message })
      try { ws.close(1011, code) } catch { /* already closed */ }
    }
  }

  /** Serves each socket whose offset has data; answers how many were sent a message. */
  private async serve(log: WatchSource, sockets: WebSocket[], reads: Map<string, Promise<Read>>): Promise<number> {
    const hw = log.highWatermark
    const ls = log.logStartOffset
    let sent = 0
    for (const ws of sockets) {
      const state = this.stateOf(ws)
      if (!state || state.done) continue
      if (state.offset === hw) continue
      const key = `${state.offset}/${state.maxBytes}`
      let read = reads.get(key)
      if (!read) reads.set(key, (read = readAt(log, state.offset, state.maxBytes)))
      const result = await read
      if ('error' in result) {
        this.send(ws, { t: 'error', ...result.error })
        try { ws.close(1011, result.error.code) } catch { /* already closed */ }
        sent++
        continue
      }
      if (result.bytes.byteLength < state.minBytes && result.bytes.byteLength < state.maxBytes) continue
      if (result.bytes.byteLength > INLINE_MAX_BYTES) {
        this.send(ws, { t: 'ready', hw, ls })
        ws.serializeAttachment({ ...state, done: true })
        sent++
        continue
      }
      try {
        ws.send(encodeData({ t: 'data', from: state.offset, next: result.next, count: result.count, hw, ls }, result.bytes))
        this.onPush()
      } catch { continue }
      ws.serializeAttachment(state.mode === 'once' ? { ...state, done: true } : { ...state, offset: result.next })
      sent++
    }
    return sent
  }

  private stateOf(ws: WebSocket): WatchState | undefined {
    try {
      return ws.deserializeAttachment() as WatchState | undefined
    } catch {
      return undefined
    }
  }

  private send(ws: WebSocket, message: ControlMessage): void {
    try {
      ws.send(JSON.stringify(message))
      this.onPush()
    } catch { /* the Worker went away */ }
  }
}

async function readAt(log: WatchSource, offset: number, maxBytes: number): Promise<Read> {
  try {
    const read = await log.read(offset, maxBytes)
    const parts = read.batches.map((b) => b.bytes)
    const next = parts.length === 0 ? offset : lastOffsetOf(parts[parts.length - 1]) + 1
    return { bytes: concatBytes(parts), count: parts.length, next }
  } catch (error) {
    if (isEdgelogError(error)) return { error: { code: error.code, message: error.message } }
    return { error: { code: 'UNKNOWN_SERVER_ERROR', message: error instanceof Error ? error.message : String(error) } }
  }
}
