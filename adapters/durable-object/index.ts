/** `edgelog/durable-object`: the storage port over a SQLite-backed Durable Object's `ctx.storage`. */
export {
  SqliteStorage,
  DurableObjectSqliteStorage,
  DurableObjectStorage,
  DO_MAX_VALUE_BYTES,
  SCHEMA_VERSION,
  type SqliteStorageOptions,
} from './sqlite-storage.ts'
