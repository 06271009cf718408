/**
 * The page side of the browser log: `openBrowserLog({ name })` starts the Web Worker that
 * runs the log over IndexedDB and returns the KafkaJS-shaped client over a comlink proxy of
 * it. Produce batches cross to the worker as transferred ArrayBuffers; fetched batches come
 * back the same way. Typed errors keep their `code` (comlink-errors.ts); a worker that fails to
 * start, dies or stops answering fails every call typed instead of leaving it pending for ever.
 */
import { releaseProxy, transfer, wrap, type Remote } from 'comlink'
import type {
  Broker, ClusterInfo, FetchOptions, FetchRequest, FetchResult, ProduceRequest, ProduceResult,
} from '../../core/broker.ts'
import type { LogSettings } from '../../core/config.ts'
import { createClient, type EdgelogClient } from '../../core/client/client.ts'
import { EdgelogError, isEdgelogError } from '../../core/errors.ts'
import { installErrorTransfer, toBoundaryError } from './comlink-errors.ts'
import type { BrokerHost, HostOpenOptions } from './host.ts'
import type { RemoteOptions } from './sync-host.ts'

export interface OpenBrowserLogOptions {
  /** The IndexedDB database name; every tab of the origin opening it shares one log. */
  name: string
  /**
   * The worker to run the log in: a Worker whose script calls `serveLog()` (or is edgelog's
   * own worker.js), or a function making one. Default: edgelog's worker, through
   * `new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })`, which Vite,
   * webpack 5, Parcel and Rollup (with a worker plugin) bundle on their own.
   */
  worker?: Worker | (() => Worker)
  clientId?: string
  /** Kafka's broker settings for the log in the worker. */
  settings?: Partial<LogSettings>
  /** How long to wait for other tabs to let a database upgrade through (ms, default 10 s). */
  blockedTimeoutMs?: number
  /**
   * Follow topics of an edgelog deployment: `{ url, token, follow: ['orders', /^metrics\./] }`.
   * They are kept here at the edge's offsets; records produced to them wait in a durable
   * outbox until the edge has them, exactly once (`log.sync`; docs/sync.md).
   */
  remote?: RemoteOptions
  /** How long the worker may leave a ping unanswered while calls are pending before it is taken for dead (ms, default 15 s; 0: never). */
  livenessTimeoutMs?: number
}

/** The largest batch Chromium keeps inline in IndexedDB (bigger values become blob files). */
const PREFERRED_BATCH_BYTES = 60 * 1024

/** Default `livenessTimeoutMs`: how long a worker with calls pending may leave a ping unanswered. */
export const DEFAULT_LIVENESS_TIMEOUT_MS = 15_000

type Listener = (event: Event) => void
/** What WorkerBroker watches for the worker's end: a Worker, a MessagePort, or anything alike. */
export interface WatchedEndpoint {
  addEventListener(type: string, listener: Listener): void
  removeEventListener(type: string, listener: Listener): void
}

export interface WorkerBrokerOptions {
  /** The worker (or port) behind `remote`: its 'error', 'messageerror' and 'close' events are watched. */
  endpoint?: WatchedEndpoint
  /**
   * While calls are pending the worker is pinged; one that leaves a ping unanswered this long
   * (ms) is taken for dead (crashed, killed, hung) and every call fails typed instead of
   * waiting for ever. 0 turns the check off. Default 15 s.
   */
  livenessTimeoutMs?: number
  /** Run once when the broker ends (closed or its worker gone): release the proxy, terminate the worker. */
  onShutdown?: () => void
}

/**
 * The Broker protocol forwarded to the log in a worker. comlink alone never settles a call whose
 * worker died, whose answer could not be read (`messageerror`) or that was in flight when the
 * proxy was released; here every call is tracked and ends as an EdgelogError:
 * - the worker failed to start, crashed, closed its port or stopped answering pings: STORAGE_ERROR,
 *   not retriable (this client cannot reach the log again: open it anew), for every call now and later;
 * - an answer that could not be deserialised: STORAGE_ERROR, retriable, for the calls in flight
 *   (which of them it was is unknown, and so is its outcome);
 * - after close(): CLOSED; anything else: see `toBoundaryError`.
 */
export class WorkerBroker implements Broker {
  readonly #remote: Remote<BrokerHost>
  readonly #options: WorkerBrokerOptions
  readonly #liveness: number
  /** Calls in flight: each entry fails its call. */
  readonly #pending = new Set<(error: EdgelogError) => void>()
  /** Set once the broker can serve nothing more (closed, or its worker gone). */
  #gone: EdgelogError | undefined
  #opened = false
  #pingTimer: ReturnType<typeof setTimeout> | undefined
  #pinging = false
  readonly #listeners: Array<[string, Listener]> = []

  constructor(remote: Remote<BrokerHost>, options: WorkerBrokerOptions = {}) {
    this.#remote = remote
    this.#options = options
    this.#liveness = options.livenessTimeoutMs ?? DEFAULT_LIVENESS_TIMEOUT_MS
    const endpoint = options.endpoint
    if (endpoint) {
      const on = (type: string, listener: Listener) => {
        endpoint.addEventListener(type, listener)
        this.#listeners.push([type, listener])
      }
      on('error', (event) => {
        // An error before the log opened is the worker's script failing to load or run: it will
        // never answer. Later ones are uncaught errors inside a live worker: the calls go on.
        if (!this.#opened) {
          const message = (event as ErrorEvent).message
          this.#end(gone(`the log's worker failed to start${message ? `: ${message}` : ''}`))
        }
      })
      on('messageerror', () => {
        this.#failPending(new EdgelogError('STORAGE_ERROR', "An answer from the log's worker could not be read (messageerror); the request's outcome is unknown", { retriable: true }))
      })
      on('close', () => this.#end(gone("the log's worker closed its channel")))
    }
  }

  /** Opens the log in the worker (openBrowserLog calls it once, first). */
  async open(options: HostOpenOptions): Promise<void> {
    await this.#call('open', () => this.#remote.open(options))
    this.#opened = true
  }

  describeCluster(): Promise<ClusterInfo> { return this.#call('describeCluster', () => this.#remote.describeCluster()) }
  createTopics(req: Parameters<Broker['createTopics']>[0]) { return this.#call('createTopics', () => this.#remote.createTopics(req)) }
  deleteTopics(req: Parameters<Broker['deleteTopics']>[0]) { return this.#call('deleteTopics', () => this.#remote.deleteTopics(req)) }
  createPartitions(req: Parameters<Broker['createPartitions']>[0]) { return this.#call('createPartitions', () => this.#remote.createPartitions(req)) }
  metadata(req: Parameters<Broker['metadata']>[0]) { return this.#call('metadata', () => this.#remote.metadata(req)) }
  alterConfigs(req: Parameters<Broker['alterConfigs']>[0]) { return this.#call('alterConfigs', () => this.#remote.alterConfigs(req)) }
  describePartitions(req: Parameters<Broker['describePartitions']>[0]) { return this.#call('describePartitions', () => this.#remote.describePartitions(req)) }

  produce(req: ProduceRequest): Promise<ProduceResult[]> {
    return this.#call('produce', () => {
      // The producer keeps its batch to retry it: hand over a copy of each (one memcpy, then
      // zero-copy across the boundary) rather than detaching the producer's own buffer.
      const buffers: ArrayBuffer[] = []
      const entries = (req?.entries ?? []).map((entry) => {
        if (!(entry?.batch instanceof Uint8Array)) return entry
        const batch = new Uint8Array(entry.batch)
        buffers.push(batch.buffer)
        return { ...entry, batch }
      })
      return this.#remote.produce(transfer({ ...req, entries }, buffers))
    })
  }

  /**
   * The signal cannot cross to the worker: an aborted fetch settles here at once (CLOSED-like
   * reason of the caller), and the worker's parked read ends at its maxWaitMs on its own.
   */
  fetch(req: FetchRequest, options?: FetchOptions): Promise<FetchResult> {
    const answer = this.#call('fetch', () => this.#remote.fetch(req))
    const signal = options?.signal
    if (!signal) return answer
    if (signal.aborted) {
      answer.catch(() => {})
      return Promise.reject(abortedError(signal))
    }
    return new Promise<FetchResult>((resolve, reject) => {
      const onAbort = () => reject(abortedError(signal))
      signal.addEventListener('abort', onAbort, { once: true })
      answer.then(
        (value) => { signal.removeEventListener('abort', onAbort); resolve(value) },
        (error) => { signal.removeEventListener('abort', onAbort); reject(error) },
      )
    })
  }

  listOffsets(req: Parameters<Broker['listOffsets']>[0]) { return this.#call('listOffsets', () => this.#remote.listOffsets(req)) }
  deleteRecords(req: Parameters<NonNullable<Broker['deleteRecords']>>[0]) { return this.#call('deleteRecords', () => this.#remote.deleteRecords(req)) }
  initProducerId(req: Parameters<Broker['initProducerId']>[0]) { return this.#call('initProducerId', () => this.#remote.initProducerId(req)) }
  addPartitionsToTxn(req: Parameters<NonNullable<Broker['addPartitionsToTxn']>>[0]) { return this.#call('addPartitionsToTxn', () => this.#remote.addPartitionsToTxn(req)) }
  addOffsetsToTxn(req: Parameters<NonNullable<Broker['addOffsetsToTxn']>>[0]) { return this.#call('addOffsetsToTxn', () => this.#remote.addOffsetsToTxn(req)) }
  txnOffsetCommit(req: Parameters<NonNullable<Broker['txnOffsetCommit']>>[0]) { return this.#call('txnOffsetCommit', () => this.#remote.txnOffsetCommit(req)) }
  endTxn(req: Parameters<NonNullable<Broker['endTxn']>>[0]) { return this.#call('endTxn', () => this.#remote.endTxn(req)) }
  runMaintenance(req: Parameters<Broker['runMaintenance']>[0]) { return this.#call('runMaintenance', () => this.#remote.runMaintenance(req)) }
  groupHeartbeat(req: Parameters<Broker['groupHeartbeat']>[0]) { return this.#call('groupHeartbeat', () => this.#remote.groupHeartbeat(req)) }
  commitOffsets(req: Parameters<Broker['commitOffsets']>[0]) { return this.#call('commitOffsets', () => this.#remote.commitOffsets(req)) }
  fetchOffsets(req: Parameters<Broker['fetchOffsets']>[0]) { return this.#call('fetchOffsets', () => this.#remote.fetchOffsets(req)) }
  describeGroups(req: Parameters<Broker['describeGroups']>[0]) { return this.#call('describeGroups', () => this.#remote.describeGroups(req)) }
  listGroups() { return this.#call('listGroups', () => this.#remote.listGroups()) }
  deleteGroups(req: Parameters<Broker['deleteGroups']>[0]) { return this.#call('deleteGroups', () => this.#remote.deleteGroups(req)) }
  groupLag(req: Parameters<Broker['groupLag']>[0]) { return this.#call('groupLag', () => this.#remote.groupLag(req)) }

  syncStatus() { return this.#call('syncStatus', () => this.#remote.syncStatus()) }
  syncPending(req: { topic?: string }) { return this.#call('syncPending', () => this.#remote.syncPending(req)) }
  syncDeadLetters() { return this.#call('syncDeadLetters', () => this.#remote.syncDeadLetters()) }
  syncDelivered(req: Parameters<NonNullable<Broker['syncDelivered']>>[0]) { return this.#call('syncDelivered', () => this.#remote.syncDelivered(req)) }
  syncFlush(req: { timeoutMs?: number }) { return this.#call('syncFlush', () => this.#remote.syncFlush(req)) }
  syncSetToken(token: string | undefined) { return this.#call('syncSetToken', () => this.#remote.syncSetToken(token)) }
  syncResume() { return this.#call('syncResume', () => this.#remote.syncResume()) }

  /** Closes the log in the worker, then ends this broker: calls still in flight and later ones fail with CLOSED. */
  async close(): Promise<void> {
    if (this.#gone) return this.#end(this.#gone)
    try {
      await this.#call('close', () => this.#remote.close())
    } finally {
      this.#end(new EdgelogError('CLOSED', 'The log is closed'))
    }
  }

  /** One tracked call: it settles with the worker's answer, or fails when the worker is gone. */
  #call<T>(doing: string, invoke: () => Promise<T>): Promise<T> {
    if (this.#gone) return Promise.reject(this.#gone)
    return new Promise<T>((resolve, reject) => {
      const fail = (error: EdgelogError) => {
        if (this.#settle(fail)) reject(error)
      }
      this.#pending.add(fail)
      this.#watch()
      let answer: Promise<T>
      try {
        answer = Promise.resolve(invoke())
      } catch (error) {
        answer = Promise.reject(error) // comlink throws synchronously on a released proxy
      }
      answer.then(
        (value) => { if (this.#settle(fail)) resolve(value) },
        (error) => { if (this.#settle(fail)) reject(toBoundaryError(error, doing)) },
      )
    })
  }

  /** Whether the call was still pending; with none left, no ping stays scheduled. */
  #settle(call: (error: EdgelogError) => void): boolean {
    if (!this.#pending.delete(call)) return false
    if (this.#pending.size === 0 && this.#pingTimer !== undefined) {
      clearTimeout(this.#pingTimer)
      this.#pingTimer = undefined
    }
    return true
  }

  #failPending(error: EdgelogError): void {
    for (const fail of [...this.#pending]) fail(error)
  }

  /** The broker serves nothing more: every call in flight and every later one fails with `error`. */
  #end(error: EdgelogError): void {
    const first = this.#gone === undefined
    this.#gone ??= error
    this.#failPending(this.#gone)
    if (!first) return
    if (this.#pingTimer !== undefined) clearTimeout(this.#pingTimer)
    for (const [type, listener] of this.#listeners) this.#options.endpoint?.removeEventListener(type, listener)
    this.#options.onShutdown?.()
  }

  /** While calls are pending, pings the worker now and then (see livenessTimeoutMs). */
  #watch(): void {
    if (this.#pingTimer !== undefined || this.#pinging || !(this.#liveness > 0) || this.#gone) return
    this.#pingTimer = setTimeout(() => {
      this.#pingTimer = undefined
      if (this.#pending.size > 0) void this.#ping()
    }, Math.max(1, this.#liveness / 3))
  }

  async #ping(): Promise<void> {
    this.#pinging = true
    const sentAt = Date.now()
    let answered = false
    const deadline = setTimeout(() => {
      if (answered || this.#gone) return
      // This page's own timers ran late (a frozen or throttled tab): no verdict on the worker.
      if (Date.now() - sentAt > 2 * this.#liveness) return
      this.#end(gone(`the log's worker has not answered for ${this.#liveness} ms (crashed, killed or hung)`))
    }, this.#liveness)
    try {
      // Any property read is answered by comlink itself in the worker, without touching the log.
      await (this.#remote as unknown as Record<string, PromiseLike<unknown>>).edgelogPing
    } catch {
      // An error is an answer too.
    }
    answered = true
    clearTimeout(deadline)
    this.#pinging = false
    if (this.#pending.size > 0) this.#watch()
  }
}

function gone(reason: string): EdgelogError {
  return new EdgelogError('STORAGE_ERROR', `The log is unreachable: ${reason}. Open it again.`, { retriable: false })
}

function abortedError(signal: AbortSignal): EdgelogError {
  if (isEdgelogError(signal.reason)) return signal.reason
  return new EdgelogError('NETWORK_EXCEPTION', 'The fetch was aborted', { cause: signal.reason, retriable: false })
}

function defaultWorker(): Worker {
  // Kept literal so that bundlers recognise the pattern and emit the worker chunk.
  return new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'edgelog' })
}

/** Starts the log in a Web Worker over IndexedDB and returns the KafkaJS-shaped client. */
export async function openBrowserLog(options: OpenBrowserLogOptions): Promise<EdgelogClient> {
  installErrorTransfer()
  const given = options?.worker
  const worker = typeof given === 'function' ? given() : given ?? defaultWorker()
  const remote = wrap<BrokerHost>(worker)
  const broker = new WorkerBroker(remote, {
    endpoint: worker as unknown as WatchedEndpoint,
    livenessTimeoutMs: options.livenessTimeoutMs,
    onShutdown: () => {
      try { remote[releaseProxy]() } catch { /* released already */ }
      worker.terminate()
    },
  })
  try {
    await broker.open({ name: options.name, settings: options.settings, blockedTimeoutMs: options.blockedTimeoutMs, remote: options.remote })
  } catch (e) {
    await broker.close().catch(() => {})
    throw e
  }
  const storage = (globalThis as { navigator?: { storage?: StorageManager } }).navigator?.storage
  // The page hears the network come back; its worker may not: tell the sync to try at once.
  const events = globalThis as { addEventListener?: (t: string, f: () => void) => void; removeEventListener?: (t: string, f: () => void) => void }
  const onOnline = () => { void broker.syncResume().catch(() => {}) }
  if (options.remote) events.addEventListener?.('online', onOnline)
  return createClient(broker, {
    clientId: options.clientId,
    preferredBatchBytes: PREFERRED_BATCH_BYTES,
    ...(storage?.estimate ? { storageEstimate: () => storage.estimate() } : {}),
    ...(storage?.persist ? { persist: () => storage.persist() } : {}),
    onClose: () => {
      events.removeEventListener?.('online', onOnline)
      return broker.close()
    },
  })
}
