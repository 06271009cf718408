/** Grouping a produce request's entries by partition (one append call per partition, as Kafka's brokers do). */

/**
 * The indexes of `entries` per (topic, partition): partitions in first-seen order, the entries
 * of one partition in request order. Entries that are not objects group by their (undefined)
 * topic and partition, so malformed entries still get an answer from the caller.
 */
export function groupEntriesByPartition<T extends { topic: string; partition: number }>(entries: T[]): number[][] {
  const groups = new Map<string, number[]>()
  entries.forEach((entry, i) => {
    const key = `${entry?.topic}\u0000${entry?.partition}`
    const list = groups.get(key)
    if (list) list.push(i)
    else groups.set(key, [i])
  })
  return [...groups.values()]
}
