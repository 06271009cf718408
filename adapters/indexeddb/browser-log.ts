/**
 * The page side of the browser log: `openBrowserLog({ name })` starts the Web Worker that
 * runs the log over IndexedDB and returns the KafkaJS-shaped client over a comlink proxy of
 * it. Produce batches cross to the worker as transferred ArrayBuffers; fetched batches come
 * back the same way. Typed errors keep their `code` (comlink-errors.ts).
 */
import { releaseProxy, transfer, wrap, type Remote } from 'comlink'
import type {
  Broker, ClusterInfo, FetchRequest, FetchResult, ProduceRequest, ProduceResult,
} from '../../core/broker.ts'
import type { LogSettings } from '../../core/config.ts'
import { createClient, type EdgelogClient } from '../../core/client/client.ts'
import { installErrorTransfer } from './comlink-errors.ts'
import type { BrokerHost } from './host.ts'

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
}

/** The largest batch Chromium keeps inline in IndexedDB (bigger values become blob files). */
const PREFERRED_BATCH_BYTES = 60 * 1024

/** The Broker protocol forwarded to the log in a worker. */
export class WorkerBroker implements Broker {
  readonly #remote: Remote<BrokerHost>

  constructor(remote: Remote<BrokerHost>) {
    this.#remote = remote
  }

  describeCluster(): Promise<ClusterInfo> { return this.#remote.describeCluster() }
  createTopics(req: Parameters<Broker['createTopics']>[0]) { return this.#remote.createTopics(req) }
  deleteTopics(req: Parameters<Broker['deleteTopics']>[0]) { return this.#remote.deleteTopics(req) }
  createPartitions(req: Parameters<Broker['createPartitions']>[0]) { return this.#remote.createPartitions(req) }
  metadata(req: Parameters<Broker['metadata']>[0]) { return this.#remote.metadata(req) }
  alterConfigs(req: Parameters<Broker['alterConfigs']>[0]) { return this.#remote.alterConfigs(req) }
  describePartitions(req: Parameters<Broker['describePartitions']>[0]) { return this.#remote.describePartitions(req) }

  produce(req: ProduceRequest): Promise<ProduceResult[]> {
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
  }

  fetch(req: FetchRequest): Promise<FetchResult> { return this.#remote.fetch(req) }
  listOffsets(req: Parameters<Broker['listOffsets']>[0]) { return this.#remote.listOffsets(req) }
  initProducerId(req: Parameters<Broker['initProducerId']>[0]) { return this.#remote.initProducerId(req) }
  runMaintenance(req: Parameters<Broker['runMaintenance']>[0]) { return this.#remote.runMaintenance(req) }
  groupHeartbeat(req: Parameters<Broker['groupHeartbeat']>[0]) { return this.#remote.groupHeartbeat(req) }
  commitOffsets(req: Parameters<Broker['commitOffsets']>[0]) { return this.#remote.commitOffsets(req) }
  fetchOffsets(req: Parameters<Broker['fetchOffsets']>[0]) { return this.#remote.fetchOffsets(req) }
  describeGroups(req: Parameters<Broker['describeGroups']>[0]) { return this.#remote.describeGroups(req) }
  listGroups() { return this.#remote.listGroups() }
  deleteGroups(req: Parameters<Broker['deleteGroups']>[0]) { return this.#remote.deleteGroups(req) }
  groupLag(req: Parameters<Broker['groupLag']>[0]) { return this.#remote.groupLag(req) }

  close(): Promise<void> { return this.#remote.close() }
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
  const shutdown = () => {
    remote[releaseProxy]()
    worker.terminate()
  }
  try {
    await remote.open({ name: options.name, settings: options.settings, blockedTimeoutMs: options.blockedTimeoutMs })
  } catch (e) {
    shutdown()
    throw e
  }
  const broker = new WorkerBroker(remote)
  const storage = (globalThis as { navigator?: { storage?: StorageManager } }).navigator?.storage
  return createClient(broker, {
    clientId: options.clientId,
    preferredBatchBytes: PREFERRED_BATCH_BYTES,
    ...(storage?.estimate ? { storageEstimate: () => storage.estimate() } : {}),
    ...(storage?.persist ? { persist: () => storage.persist() } : {}),
    onClose: async () => {
      try {
        await broker.close()
      } finally {
        shutdown()
      }
    },
  })
}
