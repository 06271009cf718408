/**
 * Counts the rows SQLite reads and writes for a store's statements: what Cloudflare bills a
 * Durable Object for (`SqlStorageCursor.rowsRead` / `rowsWritten`). Read by the partition
 * object's accounting (worker/wait/activity.ts) and the scale simulation (bench/simulate.ts),
 * so that docs/scaling.md's model is checked against counted rows, not derived ones.
 *
 * A cursor's counts grow while it is stepped; every statement of this adapter is stepped to its
 * end (or dropped) before the code awaits anything, so `settle` may run at any await point.
 */
export class RowMeter {
  read = 0
  written = 0
  readonly #open: SqlStorageCursor<Record<string, SqlStorageValue>>[] = []

  constructor(private readonly onRows?: (read: number, written: number) => void) {}

  /** `sql` with every `exec` counted. */
  wrap(sql: SqlStorage): SqlStorage {
    const open = this.#open
    return new Proxy(sql, {
      get(target, prop) {
        if (prop === 'exec') {
          return (query: string, ...bindings: unknown[]) => {
            const cursor = target.exec(query, ...bindings)
            open.push(cursor)
            return cursor
          }
        }
        const value = Reflect.get(target, prop, target)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
  }

  /** Adds what the statements since the last call counted. */
  settle(): void {
    if (this.#open.length === 0) return
    let read = 0
    let written = 0
    for (const cursor of this.#open) {
      read += cursor.rowsRead
      written += cursor.rowsWritten
    }
    this.#open.length = 0
    this.read += read
    this.written += written
    if (read + written > 0) this.onRows?.(read, written)
  }
}
