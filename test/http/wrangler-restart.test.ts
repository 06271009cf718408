/**
 * Durability as a user sees it: `wrangler dev` (workerd, local SQLite-backed Durable Objects),
 * writes through `edgelog/http`, SIGKILL of the whole process group, a restart on the same
 * persistence directory, and every acknowledged record is there once, at its offset.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { connect, HttpBroker } from '../../adapters/http/index.ts'
import { decodeBatch } from '../../core/codec/record-batch.ts'
import { startWranglerDev, type WranglerDev } from './wrangler-dev.ts'

const dir = mkdtempSync(join(tmpdir(), 'edgelog-restart-'))
let dev: WranglerDev | undefined

afterAll(async () => {
  await dev?.kill()
  rmSync(dir, { recursive: true, force: true })
})

async function readAll(url: string, topic: string, partition: number): Promise<Array<{ offset: number; value: string }>> {
  const broker = new HttpBroker({ url })
  const out: Array<{ offset: number; value: string }> = []
  let offset = 0
  for (;;) {
    const r = await broker.fetch({ topic, partition, offset, maxBytes: 1 << 20 })
    if (r.batches.length === 0) break
    for (const b of r.batches) {
      for (const rec of (await decodeBatch(b)).records) {
        if (rec.offset >= offset) out.push({ offset: rec.offset, value: new TextDecoder().decode(rec.value!) })
      }
    }
    offset = out.length ? out[out.length - 1].offset + 1 : offset
    if (offset >= r.highWatermark) break
  }
  return out
}

describe('wrangler dev: SIGKILL and restart', () => {
  it('keeps every acknowledged record, once, at its offset', async () => {
    dev = await startWranglerDev(dir)
    const log = connect({ url: dev.url })
    const topic = 'durable'
    await log.admin().createTopics({ topics: [{ topic, numPartitions: 2 }] })
    const producer = log.producer({ idempotent: true })
    await producer.connect()
    const acked = new Map<string, string>()
    for (let round = 0; round < 20; round++) {
      const messages = Array.from({ length: 25 }, (_, i) => ({ key: `k${(round * 25 + i) % 7}`, value: `r${round}-${i}` }))
      const results = await producer.send({ topic, messages, acks: -1 })
      // Within one send, messages of a partition get consecutive offsets from its baseOffset, in order.
      const perPartition = new Map<number, number>()
      const partitionOf = new Map(results.map((r) => [r.partition, Number(r.baseOffset)]))
      for (const m of messages) {
        const { murmur2, toPositive } = await import('../../core/partitioner.ts')
        const p = toPositive(murmur2(new TextEncoder().encode(m.key))) % 2
        const k = perPartition.get(p) ?? 0
        perPartition.set(p, k + 1)
        acked.set(`${p}/${partitionOf.get(p)! + k}`, m.value)
      }
    }
    expect(acked.size).toBe(500)
    await dev.kill()

    dev = await startWranglerDev(dir)
    const found = new Map<string, string>()
    for (const p of [0, 1]) {
      const records = await readAll(dev.url, topic, p)
      records.forEach((r, i) => expect(r.offset).toBe(i))
      for (const r of records) {
        const key = `${p}/${r.offset}`
        expect(found.has(key)).toBe(false)
        found.set(key, r.value)
      }
    }
    expect(found).toEqual(acked)
    // The log goes on where it stopped.
    const after = connect({ url: dev.url })
    const [r] = await after.producer().send({ topic, messages: [{ value: 'after', partition: 0 }] })
    expect(Number(r.baseOffset)).toBe([...found.keys()].filter((k) => k.startsWith('0/')).length)
    await after.close()
  }, 90_000)
})
