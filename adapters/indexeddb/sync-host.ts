/**
 * The browser's sync: one follower and one forwarder per origin and database, whatever the
 * number of tabs. Every tab's worker asks for the Web Lock `edgelog-sync:<db>`; the one that
 * holds it runs the sync, the others wait their turn and take over when that tab closes (the
 * browser releases a closed tab's locks). Any tab produces into the outbox and reads the
 * replicas meanwhile: they are in the shared database.
 *
 * A new token reaches the tab running the sync over a BroadcastChannel, so that replacing an
 * expired token in any tab resumes the sync.
 */
import { HttpBroker } from '../http/index.ts'
import type { LocalBroker } from '../../core/log/local-broker.ts'
import { Sync } from '../../core/sync/sync.ts'

export interface RemoteOptions {
  /** The edgelog Worker's origin, e.g. https://log.example.com. */
  url: string
  /** A bearer token of the deployment (EDGELOG_TOKENS); `log.sync.setToken()` replaces it. */
  token?: string
  /** Topic names or patterns to follow. Records produced to them wait in the outbox until the edge has them. */
  follow: Array<string | RegExp>
  /** Long-poll wait at the edge when caught up (ms, default 10 s). */
  maxWaitMs?: number
  /** How often the edge's topics are listed again (ms, default 30 s). */
  discoveryIntervalMs?: number
}

interface LockManagerLike {
  request<T>(name: string, options: { signal?: AbortSignal }, callback: () => Promise<T>): Promise<T>
}

export class BrowserSync {
  #token: string | undefined
  #sync: Sync | undefined
  readonly #stopped: Promise<void>
  #stop!: () => void
  readonly #abort = new AbortController()
  readonly #channel: BroadcastChannel | undefined
  readonly #running: Promise<void>
  readonly #onOnline = () => this.#sync?.resume()

  constructor(private readonly broker: LocalBroker, private readonly name: string, private readonly remote: RemoteOptions) {
    this.#token = remote.token
    this.#stopped = new Promise((resolve) => (this.#stop = resolve))
    if (typeof BroadcastChannel !== 'undefined') {
      this.#channel = new BroadcastChannel(`edgelog-sync-token:${name}`)
      this.#channel.onmessage = (event) => this.#useToken(event.data as string | undefined)
    }
    ;(globalThis as { addEventListener?: (type: string, fn: () => void) => void }).addEventListener?.('online', this.#onOnline)
    this.#running = this.#runWhenLeader()
  }

  /** Whether this context runs the sync now (holds the lock). */
  get leader(): boolean { return this.#sync !== undefined }

  /** Try again now (the page saw the network come back: workers do not always get `online`). */
  resume(): void {
    this.#sync?.resume()
  }

  setToken(token: string | undefined): void {
    this.#useToken(token)
    this.#channel?.postMessage(token)
  }

  #useToken(token: string | undefined): void {
    this.#token = token
    this.#sync?.resume()
  }

  async #runWhenLeader(): Promise<void> {
    const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks
    const run = async () => {
      const leader = new HttpBroker({
        url: this.remote.url,
        // The token is read per request: replacing it applies to the next one.
        fetch: (request) => {
          if (this.#token) request.headers.set('authorization', `Bearer ${this.#token}`)
          return fetch(request)
        },
      })
      const sync = new Sync(this.broker, {
        leader, source: this.remote.url, follow: this.remote.follow,
        maxWaitMs: this.remote.maxWaitMs, discoveryIntervalMs: this.remote.discoveryIntervalMs,
      })
      this.#sync = sync
      try {
        await sync.start()
        await this.#stopped
      } finally {
        this.#sync = undefined
        await sync.stop()
        await leader.close()
      }
    }
    try {
      if (locks) await locks.request(`edgelog-sync:${this.name}`, { signal: this.#abort.signal }, run)
      else await run()
    } catch {
      // Aborted while waiting for the lock: this tab closed before its turn came.
    }
  }

  async close(): Promise<void> {
    this.#abort.abort()
    this.#stop()
    ;(globalThis as { removeEventListener?: (type: string, fn: () => void) => void }).removeEventListener?.('online', this.#onOnline)
    this.#channel?.close()
    await this.#running
  }
}
