/**
 * The Worker's side of the watch channel (protocol.ts): long polls and live tails wait here,
 * in the Worker (billed by CPU time, nothing while idle), not inside the partition object.
 *
 * A long poll is one request to the object whatever happens: the watch upgrade. The object
 * answers at once with the batches when there are enough, or keeps the (hibernatable) socket
 * and pushes them on the append that brings them; at the deadline the Worker closes the
 * socket and answers empty. A socket that closes unexpectedly (the object restarted) or says
 * `ready` (more than one message holds) falls back to an ordinary fetch: nothing is missed.
 */
import { EdgelogError, errorFromJSON } from '../../core/errors.ts'
import type { FetchRequest } from '../../core/broker.ts'
import { validateMaxBytes, validateOffset } from '../../core/log/validate.ts'
import type { EdgeBroker } from '../edge-broker.ts'
import type { EdgelogEnv } from '../env.ts'
import type { FetchOutcome, PartitionTarget } from '../objects/partition.ts'
import { MAX_FETCH_WAIT_MS } from '../objects/partition.ts'
import { unwrap } from '../rpc.ts'
import { decodeMessage, WATCH_HEADER, WATCH_URL, type WatchMessage, type WatchRequest } from './protocol.ts'

type Stub = { fetch(input: string, init?: RequestInit): Promise<Response> }

/** `EDGELOG_WAIT=object` parks long polls and tails inside the object, as before (benchmarks). */
export function waitsInObject(env: EdgelogEnv): boolean {
  return env.EDGELOG_WAIT === 'object'
}

/** Pushed bytes a watch keeps for a reader that has not taken them yet. */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024

/** One open watch: its messages in arrival order. */
export class WatchSocket {
  private readonly queue: WatchMessage[] = []
  private queuedBytes = 0
  private wake: (() => void) | undefined
  private closed = false

  private constructor(private readonly ws: WebSocket) {
    ws.addEventListener('message', (event) => {
      if (this.closed) return
      try {
        const m = decodeMessage(event.data as string | ArrayBuffer)
        this.queue.push(m)
        if (m.t === 'data') this.queuedBytes += m.bytes.byteLength
      } catch (e) {
        this.queue.push({ t: 'error', code: 'CORRUPT_MESSAGE', message: `Unreadable watch message: ${String(e)}` })
      }
      // A reader that does not keep up (a slow tail client): stop taking pushes rather than
      // buffer them without bound; once the queue is drained the reader sees 'closed' and
      // catches up by fetching from its own offset, so nothing is missed.
      if (this.queuedBytes > MAX_QUEUED_BYTES) this.close()
      this.wake?.()
    })
    const end = () => { this.closed = true; this.wake?.() }
    ws.addEventListener('close', end)
    ws.addEventListener('error', end)
  }

  static async open(stub: Stub, target: PartitionTarget, request: WatchRequest): Promise<WatchSocket> {
    let response: Response
    try {
      response = await stub.fetch(WATCH_URL, { headers: { Upgrade: 'websocket', [WATCH_HEADER]: JSON.stringify({ target, ...request }) } })
    } catch (error) {
      throw new EdgelogError('NETWORK_EXCEPTION', `Durable Object watch failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error, retriable: true })
    }
    const ws = response.webSocket
    if (!ws) {
      const body = await response.json().catch(() => undefined) as { error?: { code: string; message: string } } | undefined
      if (body?.error) throw errorFromJSON(body.error as never)
      throw new EdgelogError('NETWORK_EXCEPTION', `Durable Object watch refused (${response.status})`, { retriable: true })
    }
    // Binary frames as ArrayBuffer (newer compatibility dates default to Blob).
    try { (ws as { binaryType?: string }).binaryType = 'arraybuffer' } catch { /* older runtimes: ArrayBuffer already */ }
    ws.accept()
    return new WatchSocket(ws)
  }

  /** The next message, or 'timeout' after `ms`, or 'closed' (the socket ended, or `signal` aborted). */
  async next(ms: number, signal?: AbortSignal): Promise<WatchMessage | 'timeout' | 'closed'> {
    const deadline = Date.now() + ms
    for (;;) {
      const m = this.queue.shift()
      if (m) {
        if (m.t === 'data') this.queuedBytes -= m.bytes.byteLength
        return m
      }
      if (this.closed || signal?.aborted) return 'closed'
      const left = deadline - Date.now()
      if (left <= 0) return 'timeout'
      let timer: ReturnType<typeof setTimeout> | undefined
      const onAbort = () => this.wake?.()
      signal?.addEventListener('abort', onAbort, { once: true })
      await new Promise<void>((resolve) => {
        this.wake = resolve
        timer = setTimeout(resolve, left)
      })
      this.wake = undefined
      if (timer !== undefined) clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    try { this.ws.close(1000, 'done') } catch { /* already closed */ }
  }
}

/**
 * A fetch with `maxWaitMs`, waiting in the Worker. Same answer and errors as
 * `EdgeBroker.fetchRaw`, which it calls for a fetch that does not wait.
 */
export async function fetchWaiting(broker: EdgeBroker, req: FetchRequest, signal?: AbortSignal): Promise<FetchOutcome & { topicId: string }> {
  const maxWait = Math.min(Math.max(0, Number(req.maxWaitMs) || 0), MAX_FETCH_WAIT_MS)
  if (maxWait === 0 || waitsInObject(broker.env)) return broker.fetchRaw(req)
  const target = await broker.cluster.target(req?.topic, req?.partition)
  validateOffset(req.offset)
  validateMaxBytes(req.maxBytes)
  const topicId = target.stream.slice(0, target.stream.indexOf('/'))
  const minBytes = Math.max(1, Number(req.minBytes) || 1)
  const outcome = await broker.cluster.onPartition(target, async (stub) => {
    const rpc = () => unwrap(stub.fetchBatches(target, { offset: req.offset, maxBytes: req.maxBytes }))
    const watch = await WatchSocket.open(stub as unknown as Stub, target, { offset: req.offset, maxBytes: req.maxBytes, minBytes, mode: 'once' })
    let position: { hw: number; ls: number } | undefined
    const deadline = Date.now() + maxWait
    try {
      for (;;) {
        const m = await watch.next(deadline - Date.now(), signal)
        if (m === 'closed') return signal?.aborted ? empty(position ?? { hw: -1, ls: -1 }) : rpc()
        if (m === 'timeout') return position && minBytes <= 1 ? empty(position) : rpc()
        if (m.t === 'pos') { position = m; continue }
        if (m.t === 'ready') return rpc()
        if (m.t === 'error') throw errorFromJSON({ code: m.code, message: m.message } as never)
        return { bytes: m.bytes, batchCount: m.count, highWatermark: m.hw, logStartOffset: m.ls }
      }
    } finally {
      watch.close()
    }
  })
  return { ...outcome, topicId }
}

function empty(position: { hw: number; ls: number }): FetchOutcome {
  return { bytes: new Uint8Array(0), batchCount: 0, highWatermark: position.hw, logStartOffset: position.ls }
}
