/**
 * Mutual exclusion across every context sharing a database: the Web Locks API where there
 * is one (browsers, workers), else an in-process queue (Node with fake-indexeddb), which
 * still excludes every instance in this JS realm.
 */
interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>
}

const tails = new Map<string, Promise<void>>()

function localLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const previous = tails.get(name) ?? Promise.resolve()
  let release!: () => void
  const mine = new Promise<void>((resolve) => (release = resolve))
  const tail = previous.then(() => mine)
  tails.set(name, tail)
  return previous.then(async () => {
    try {
      return await fn()
    } finally {
      release()
      if (tails.get(name) === tail) tails.delete(name)
    }
  })
}

export function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks
  return locks ? locks.request(name, () => fn()) : localLock(name, fn)
}
