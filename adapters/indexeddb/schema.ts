/**
 * The IndexedDB layout of an edgelog database, and how a connection is opened and upgraded.
 *
 *   batches   key [stream, lastOffset]   value { baseOffset, lastOffset, maxTimestamp, bytes }   one value per batch
 *   meta      key string                 value the meta value (structured clone)
 *
 * "The batch holding offset N" is the first key >= [stream, N]: one key-range lookup.
 * The schema is versioned: `MIGRATIONS[v]` takes a database from version v to v + 1, and
 * `DB_VERSION` is their count. A new version appends a step; steps never change once shipped.
 */
import { wrap, type DBSchema, type IDBPDatabase, type IDBPTransaction, type StoreNames } from 'idb'

export interface BatchValue {
  baseOffset: number
  /** The key's lastOffset again, so that a read is one `getAll` (absent in values stored before it was added). */
  lastOffset?: number
  maxTimestamp: number
  /** Exactly the batch's bytes (never a view on a larger buffer). */
  bytes: Uint8Array
}

export interface EdgelogSchema extends DBSchema {
  batches: { key: [string, number]; value: BatchValue }
  meta: { key: string; value: unknown }
}

export type EdgelogDB = IDBPDatabase<EdgelogSchema>
export type UpgradeTransaction = IDBPTransaction<EdgelogSchema, StoreNames<EdgelogSchema>[], 'versionchange'>
export type Migration = (db: EdgelogDB, tx: UpgradeTransaction) => void

export const MIGRATIONS: readonly Migration[] = [
  // 0 → 1: the two stores, keys out of line.
  (db) => {
    db.createObjectStore('batches')
    db.createObjectStore('meta')
  },
  // 1 → 2: no layout change (batch values gain `lastOffset`; older values are read as before).
  // The bump fences code of version 1 still open in other tabs: it appended under a Web Lock
  // without commit preconditions, which the optimistic appends of version 2 cannot trust; the
  // upgrade closes its connection and its next call fails typed ("reload to use it").
  () => {},
]

export const DB_VERSION = MIGRATIONS.length

/** Runs the steps from `oldVersion` up to `newVersion`, inside the upgrade transaction. */
export function upgradeSchema(db: EdgelogDB, oldVersion: number, newVersion: number, tx: UpgradeTransaction, migrations: readonly Migration[] = MIGRATIONS): void {
  for (let v = oldVersion; v < newVersion; v++) {
    const step = migrations[v]
    if (!step) throw new Error(`no migration from version ${v}`)
    step(db, tx)
  }
}

export interface OpenOptions {
  factory: IDBFactory
  version?: number
  migrations?: readonly Migration[]
  /** Another connection holds an older version open and has not closed yet. */
  blocked?: () => void
  /** This connection stands in the way of another context's upgrade or delete. */
  blocking?: (db: EdgelogDB) => void
  /** The browser closed the connection abnormally (storage cleared, disk error). */
  terminated?: () => void
}

/**
 * `idb`'s `openDB`, on a given factory (idb's own always uses the global `indexedDB`).
 * The promise also exposes the request so a caller giving up can close a late success.
 */
export function openDatabase(name: string, options: OpenOptions): Promise<EdgelogDB> {
  const version = options.version ?? DB_VERSION
  const request = options.factory.open(name, version)
  const open = wrap(request) as unknown as Promise<EdgelogDB>
  request.addEventListener('upgradeneeded', (event) => {
    upgradeSchema(
      wrap(request.result) as unknown as EdgelogDB,
      event.oldVersion,
      event.newVersion ?? version,
      wrap(request.transaction!) as unknown as UpgradeTransaction,
      options.migrations ?? MIGRATIONS,
    )
  })
  if (options.blocked) request.addEventListener('blocked', () => options.blocked!())
  return open.then((db) => {
    if (options.terminated) db.addEventListener('close', () => options.terminated!())
    if (options.blocking) db.addEventListener('versionchange', () => options.blocking!(db))
    return db
  })
}
