/**
 * The partition object's row accounting (adapters/durable-object/row-meter.ts): SQLite's own
 * counts of rows written and read, which Cloudflare bills, per produce and per fetch. The
 * figures docs/scaling.md's model uses (rows written per commit) are checked here.
 */
import { describe, expect, it } from 'vitest'
import { activity, json, unique } from './helpers.ts'

describe('rows written and read, as SQLite counts them', () => {
  it('per produce request and per fetch', async () => {
    const topic = unique('rows')
    expect((await json('POST', '/v1/topics', { name: topic, partitions: 1 })).status).toBe(201)
    await json('POST', `/v1/topics/${topic}/partitions/0/records`, { records: [{ value: 'warm' }] })
    const deltas: Array<{ written: number; read: number }> = []
    for (let i = 0; i < 3; i++) {
      const before = await activity(topic)
      expect((await json('POST', `/v1/topics/${topic}/partitions/0/records`, { records: Array.from({ length: 100 }, (_, k) => ({ value: `v${i}-${k}` })) })).status).toBe(200)
      const after = await activity(topic)
      deltas.push({ written: after.rowsWritten - before.rowsWritten, read: after.rowsRead - before.rowsRead })
    }
    // The batch, the partition head, the active segment's record: 3 rows per commit, whatever the
    // number of records in it (an idempotent producer's state adds a fourth).
    expect(deltas.map((d) => d.written)).toEqual([3, 3, 3])
    const fetchRows = async (offset: number) => {
      const before = await activity(topic)
      expect((await json('GET', `/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxBytes=100`)).status).toBe(200)
      const after = await activity(topic)
      return { read: after.rowsRead - before.rowsRead, written: after.rowsWritten - before.rowsWritten }
    }
    // A fetch reads its batch row; the first one also records the cache lease (one row per 10 s).
    const first = await fetchRows(1)
    expect(first.written).toBe(1)
    expect(first.read).toBeGreaterThanOrEqual(1)
    const second = await fetchRows(150)
    expect(second.written).toBe(0)
    expect(second.read).toBeGreaterThanOrEqual(1)
    expect(second.read).toBeLessThanOrEqual(3)
  })
})
