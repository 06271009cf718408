/**
 * `edgelog/indexeddb`: the log in IndexedDB.
 * - `openBrowserLog({ name })` (page): the log in a Web Worker, as the KafkaJS-shaped client.
 * - `IndexedDBStorage` (any context with IndexedDB): the storage adapter, for
 *   `openLog({ storage: await IndexedDBStorage.open('app') })` in a worker of your own.
 * - `serveLog()` (in a worker of your own): host the log for `openBrowserLog({ worker })`.
 */
export { IndexedDBStorage, type IndexedDBStorageOptions } from './storage.ts'
export { DB_VERSION } from './schema.ts'
export { openBrowserLog, WorkerBroker, type OpenBrowserLogOptions } from './browser-log.ts'
export { serveLog, BrokerHost, type HostOpenOptions } from './host.ts'
export type { RemoteOptions } from './sync-host.ts'
export { installErrorTransfer } from './comlink-errors.ts'
