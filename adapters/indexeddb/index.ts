/** `edgelog/indexeddb`: the log in IndexedDB (the storage adapter; the Web Worker front comes beside it). */
export { IndexedDBStorage, type IndexedDBStorageOptions } from './storage.ts'
export { DB_VERSION } from './schema.ts'
