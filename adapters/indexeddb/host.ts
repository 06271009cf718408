/**
 * The worker side: the whole log (LocalBroker over IndexedDBStorage) served to the page
 * through comlink. `serveLog()` is what worker.ts runs; call it from a worker of your own to
 * host the log there (the page then passes that worker to `openBrowserLog({ worker })`).
 *
 * Fetch results go back with their batch buffers transferred, not copied: each batch read
 * from IndexedDB is a fresh structured-clone copy owned by nobody else.
 */
import { expose, transfer, type Endpoint } from 'comlink'
import { EdgelogError } from '../../core/errors.ts'
import type { LogSettings } from '../../core/config.ts'
import type { Broker, FetchRequest, FetchResult, ProduceRequest } from '../../core/broker.ts'
import { LocalBroker } from '../../core/log/local-broker.ts'
import { installErrorTransfer } from './comlink-errors.ts'
import { IndexedDBStorage } from './storage.ts'
import { BrowserSync, type RemoteOptions } from './sync-host.ts'
import { followed } from '../../core/open-log.ts'

export interface HostOpenOptions {
  /** The IndexedDB database name: every tab opening the same name shares one log. */
  name: string
  /** Kafka's broker settings (auto.create.topics.enable, num.partitions, …). */
  settings?: Partial<LogSettings>
  /** How long to wait for other tabs to let an upgrade of the database through (ms). */
  blockedTimeoutMs?: number
  /** Follow topics of an edgelog deployment (sync-host.ts). */
  remote?: RemoteOptions
}

type BrokerArg<K extends keyof Broker> = Broker[K] extends (...args: infer A) => unknown ? A : never

/** Buffers that can be handed over: each view must cover its whole buffer, each buffer once. */
export function transferableBuffers(views: Uint8Array[]): { views: Uint8Array[]; buffers: ArrayBuffer[] } {
  const seen = new Set<ArrayBufferLike>()
  const out: Uint8Array[] = []
  for (const view of views) {
    let v = view
    if (v.byteOffset !== 0 || v.byteLength !== v.buffer.byteLength || seen.has(v.buffer) || !(v.buffer instanceof ArrayBuffer)) {
      v = new Uint8Array(view) // a view on a larger or shared buffer: copy just its bytes
    }
    seen.add(v.buffer)
    out.push(v)
  }
  return { views: out, buffers: [...seen] as ArrayBuffer[] }
}

export class BrokerHost {
  #broker: LocalBroker | undefined
  #sync: BrowserSync | undefined
  #opening: Promise<void> | undefined

  /** Opens the database and the log; the page calls it once, before anything else. */
  open(options: HostOpenOptions): Promise<void> {
    this.#opening ??= (async () => {
      if (!options || typeof options.name !== 'string' || options.name === '') {
        throw new EdgelogError('INVALID_REQUEST', 'openBrowserLog needs a database name')
      }
      const storage = await IndexedDBStorage.open(options.name, { blockedTimeoutMs: options.blockedTimeoutMs })
      const remote = options.remote
      if (remote && (typeof remote.url !== 'string' || !Array.isArray(remote.follow))) {
        throw new EdgelogError('INVALID_CONFIG', 'remote needs { url, follow: [topic names or patterns] }')
      }
      this.#broker = new LocalBroker({
        storage, settings: options.settings,
        replicaProduce: remote ? 'outbox' : 'refuse',
        isFollowed: remote ? (topic) => followed(remote.follow, topic) : undefined,
      })
      if (remote) this.#sync = new BrowserSync(this.#broker, options.name, remote)
    })().catch((e) => {
      this.#opening = undefined
      throw e
    })
    return this.#opening
  }

  #b(): LocalBroker {
    if (!this.#broker) throw new EdgelogError('CLOSED', 'The log in this worker is not open (call open first) or was closed')
    return this.#broker
  }

  describeCluster() { return this.#b().describeCluster() }
  createTopics(...a: BrokerArg<'createTopics'>) { return this.#b().createTopics(...a) }
  deleteTopics(...a: BrokerArg<'deleteTopics'>) { return this.#b().deleteTopics(...a) }
  createPartitions(...a: BrokerArg<'createPartitions'>) { return this.#b().createPartitions(...a) }
  metadata(...a: BrokerArg<'metadata'>) { return this.#b().metadata(...a) }
  alterConfigs(...a: BrokerArg<'alterConfigs'>) { return this.#b().alterConfigs(...a) }
  describePartitions(...a: BrokerArg<'describePartitions'>) { return this.#b().describePartitions(...a) }
  produce(req: ProduceRequest) { return this.#b().produce(req) }
  async fetch(req: FetchRequest): Promise<FetchResult> {
    const broker = this.#b()
    const result = await broker.fetch(req)
    // A store that hands out its own bytes (zero-copy reads) must not see them transferred away.
    const batches = broker.storage.capabilities.zeroCopyReads ? result.batches.map((b) => b.slice()) : result.batches
    const { views, buffers } = transferableBuffers(batches)
    return transfer({ ...result, batches: views }, buffers)
  }
  listOffsets(...a: BrokerArg<'listOffsets'>) { return this.#b().listOffsets(...a) }
  deleteRecords(req: Parameters<NonNullable<Broker['deleteRecords']>>[0]) { return this.#b().deleteRecords(req) }
  initProducerId(...a: BrokerArg<'initProducerId'>) { return this.#b().initProducerId(...a) }
  // Transactions (core/txn): the coordinator runs here, in the worker, beside the partitions.
  addPartitionsToTxn(req: Parameters<LocalBroker['addPartitionsToTxn']>[0]) { return this.#b().addPartitionsToTxn(req) }
  addOffsetsToTxn(req: Parameters<LocalBroker['addOffsetsToTxn']>[0]) { return this.#b().addOffsetsToTxn(req) }
  txnOffsetCommit(req: Parameters<LocalBroker['txnOffsetCommit']>[0]) { return this.#b().txnOffsetCommit(req) }
  endTxn(req: Parameters<LocalBroker['endTxn']>[0]) { return this.#b().endTxn(req) }
  runMaintenance(...a: BrokerArg<'runMaintenance'>) { return this.#b().runMaintenance(...a) }
  groupHeartbeat(...a: BrokerArg<'groupHeartbeat'>) { return this.#b().groupHeartbeat(...a) }
  commitOffsets(...a: BrokerArg<'commitOffsets'>) { return this.#b().commitOffsets(...a) }
  fetchOffsets(...a: BrokerArg<'fetchOffsets'>) { return this.#b().fetchOffsets(...a) }
  describeGroups(...a: BrokerArg<'describeGroups'>) { return this.#b().describeGroups(...a) }
  listGroups() { return this.#b().listGroups() }
  deleteGroups(...a: BrokerArg<'deleteGroups'>) { return this.#b().deleteGroups(...a) }
  groupLag(...a: BrokerArg<'groupLag'>) { return this.#b().groupLag(...a) }

  syncStatus() { return this.#b().syncStatus() }
  syncPending(...a: Parameters<LocalBroker['syncPending']>) { return this.#b().syncPending(...a) }
  syncDeadLetters() { return this.#b().syncDeadLetters() }
  syncDelivered(...a: Parameters<LocalBroker['syncDelivered']>) { return this.#b().syncDelivered(...a) }
  syncFlush(...a: Parameters<LocalBroker['syncFlush']>) { return this.#b().syncFlush(...a) }
  async syncResume(): Promise<void> {
    this.#sync?.resume()
  }

  async syncSetToken(token: string | undefined): Promise<void> {
    if (!this.#sync) throw new EdgelogError('INVALID_REQUEST', 'This log follows no remote')
    this.#sync.setToken(token)
  }

  async close(): Promise<void> {
    const broker = this.#broker
    const sync = this.#sync
    this.#broker = undefined
    this.#sync = undefined
    this.#opening = undefined
    await sync?.close()
    await broker?.close()
  }
}

/** Serves a new BrokerHost on `endpoint` (default: this worker's global scope). */
export function serveLog(endpoint: Endpoint = globalThis as unknown as Endpoint): BrokerHost {
  installErrorTransfer()
  const host = new BrokerHost()
  expose(host, endpoint)
  return host
}
