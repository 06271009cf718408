/**
 * Durable Streams live modes waiting in the Worker (issue 19, docs/scaling.md), as /v1 long
 * polls and tails do: a `live=long-poll` at the tail and an up-to-date `live=sse` hold one
 * watch WebSocket to the partition object (worker/wait/), accepted through the Hibernation
 * API, so the object has no request in progress while they wait.
 *
 * A message on the socket is only a reason to read again: the read goes to the object (the
 * stream's own state — closed, TTL, producers — lives there), so what a reader sees is exactly
 * what a read would answer. The object says something on every append (the batches), on a
 * close or deletion without data (`pos`, WatchHub.nudge), and, when the stream is already
 * closed or gone as the socket opens, `ready` at once (no wake-up is lost between the read
 * that found the tail and the socket's opening). The socket's first `pos` is its greeting.
 * The watch asks for 1 byte: a push then carries one batch, not a whole read nobody uses.
 */
import { errorFromJSON } from '../../core/errors.ts'
import type { Cluster } from '../cluster.ts'
import { WatchSocket } from '../wait/client.ts'
import type { DsAnswer } from './partition-face.ts'

export type Wake = 'changed' | 'timeout'

/** One reader's watch on a stream's partition, reopened as needed; `close` when the reader ends. */
export class DsWatch {
  #socket: WatchSocket | undefined
  #greeted = false

  constructor(private readonly cluster: Cluster, private readonly topic: string, private readonly mode: 'once' | 'stream') {}

  /** Waits until the stream may have changed past `offset`, or `ms` passed. */
  async wait(offset: number, ms: number, signal?: AbortSignal): Promise<Wake> {
    const deadline = Date.now() + ms
    for (;;) {
      if (!this.#socket) {
        const target = await this.cluster.target(this.topic, 0)
        this.#socket = await this.cluster.onPartition(target, (stub) => WatchSocket.open(stub as never, target, { offset, maxBytes: 1, minBytes: 1, mode: this.mode, ds: true }))
        this.#greeted = false
      }
      const m = await this.#socket.next(Math.max(0, deadline - Date.now()), signal)
      if (m === 'timeout') return 'timeout'
      if (signal?.aborted) return 'timeout'
      if (m === 'closed') {
        // The object restarted, or the queue of a slow reader filled: read again, then watch anew.
        this.close()
        return 'changed'
      }
      if (m.t === 'error') throw errorFromJSON({ code: m.code, message: m.message } as never)
      if (m.t === 'pos' && !this.#greeted) { this.#greeted = true; continue }
      this.#greeted = true
      // `ready` ends a watch (the object sends nothing more on it); so does a once-watch's data.
      if (m.t === 'ready' || this.mode === 'once') this.close()
      else await this.#drain()
      return 'changed'
    }
  }

  /** Messages already queued say nothing the next read will not show: drop them. */
  async #drain(): Promise<void> {
    for (;;) {
      const m = await this.#socket?.next(0)
      if (m === undefined || m === 'timeout') return
      if (m === 'closed' || (typeof m === 'object' && m.t === 'ready')) { this.close(); return }
      if (typeof m === 'object' && m.t === 'error') throw errorFromJSON({ code: m.code, message: m.message } as never)
    }
  }

  close(): void {
    this.#socket?.close()
    this.#socket = undefined
  }
}

/**
 * A long poll whose read found the open tail: waits on `watch` until the stream changes, then
 * reads again (`reread`), until there is something to answer or `waitMs` is up (timedOut).
 */
export async function longPollAtTail(watch: DsWatch, first: DsAnswer, waitMs: number, signal: AbortSignal | undefined, reread: (from: number) => Promise<DsAnswer>): Promise<DsAnswer> {
  let answer = first
  const deadline = Date.now() + waitMs
  try {
    while (atOpenTail(answer)) {
      const left = deadline - Date.now()
      if (left <= 0 || (await watch.wait(answer.next, left, signal)) === 'timeout') return { ...answer, timedOut: true }
      answer = await reread(answer.next)
    }
    return answer
  } finally {
    watch.close()
  }
}

/** A read that found nothing at the tail of a stream still open: something to wait for. */
function atOpenTail(answer: DsAnswer): answer is Extract<DsAnswer, { status: 'data' }> {
  return answer.status === 'data' && answer.values.length === 0 && !answer.state.closed && answer.next >= answer.state.tail
}
