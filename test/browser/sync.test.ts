/**
 * Sync in real Chromium against `wrangler dev`: the page's log follows an edge topic (replicas
 * at the edge's offsets, byte for byte), reads it offline, produces offline through its outbox
 * across a reload, and the edge ends up with every record once, in order.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Page } from 'playwright-core'
import { connect, HttpBroker } from '../../adapters/http/index.ts'
import { freePort, startWranglerDev, type WranglerDev } from '../http/wrangler-dev.ts'
import { useServedLog } from './harness.ts'

const { browser, url } = useServedLog()
const persist = mkdtempSync(join(tmpdir(), 'edgelog-sync-'))
let edge: WranglerDev
let edgePort: number

async function startEdge(): Promise<void> {
  edge = await startWranglerDev(persist, { port: edgePort, vars: { EDGELOG_CORS_ORIGINS: '*' } })
}

beforeAll(async () => {
  edgePort = await freePort()
  await startEdge()
}, 60_000)
afterAll(async () => {
  await edge?.kill()
  rmSync(persist, { recursive: true, force: true })
})

interface Stored { partition: number; offset: number; crc: number; value: string }

/** Every batch of a topic at the edge: offsets, CRCs and values. */
async function edgeRecords(topic: string, partitions: number): Promise<Stored[]> {
  const broker = new HttpBroker({ url: edge.url })
  const { decodeBatch } = await import('../../core/codec/record-batch.ts')
  const out: Stored[] = []
  for (let partition = 0; partition < partitions; partition++) {
    let offset = (await broker.listOffsets({ topic, partitions: [partition], spec: 'earliest' }))[0].offset
    for (;;) {
      const r = await broker.fetch({ topic, partition, offset, maxBytes: 1 << 20 })
      if (r.batches.length === 0) break
      for (const b of r.batches) {
        const { header, records } = await decodeBatch(b)
        for (const rec of records) out.push({ partition, offset: rec.offset, crc: header.crc, value: new TextDecoder().decode(rec.value!) })
        offset = header.baseOffset + header.lastOffsetDelta + 1
      }
      if (offset >= r.highWatermark) break
    }
  }
  await broker.close()
  return out
}

/** The same, read on the page from its local log (the replica). */
function pageRecords(page: Page, topic: string, partitions: number): Promise<Stored[]> {
  return page.evaluate(async ({ topic, partitions }) => {
    const g = globalThis as any
    const out: Stored[] = []
    for (let partition = 0; partition < partitions; partition++) {
      let offset = (await g.log.broker.listOffsets({ topic, partitions: [partition], spec: 'earliest' }))[0].offset
      for (;;) {
        const r = await g.log.broker.fetch({ topic, partition, offset, maxBytes: 1 << 20 })
        if (r.batches.length === 0) break
        for (const b of r.batches) {
          const view = new DataView(b.buffer, b.byteOffset, b.byteLength)
          const crc = view.getUint32(17)
          for (const rec of g.edgelog.decodeRecords(b)) out.push({ partition, offset: rec.offset, crc, value: new TextDecoder().decode(rec.value) })
          offset = Number(view.getBigInt64(0)) + view.getInt32(23) + 1
        }
      }
    }
    return out
  }, { topic, partitions }) as Promise<Stored[]>
}

async function openSynced(page: Page, name: string, follow: string[]): Promise<void> {
  await page.evaluate(async ({ name, edgeUrl, follow }) => {
    const g = globalThis as any
    g.log = await g.edgelog.openBrowserLog({ name, remote: { url: edgeUrl, follow, maxWaitMs: 1_000, discoveryIntervalMs: 500 } })
  }, { name, edgeUrl: `http://127.0.0.1:${edgePort}`, follow })
}

/** Waits until the page's replicas of `topic` hold everything the edge has. */
async function caughtUp(page: Page, topic: string, expected: number): Promise<void> {
  await expect.poll(async () => page.evaluate(async (topic) => {
    const g = globalThis as any
    const status = await g.log.sync.status()
    const t = status.topics.find((x: any) => x.topic === topic)
    return t ? t.partitions.reduce((n: number, p: any) => n + p.highWatermark, 0) : -1
  }, topic), { timeout: 30_000, interval: 200 }).toBe(expected)
}

describe('sync: the page follows an edge topic', () => {
  it('holds the edge\'s batches at the edge\'s offsets, reads them offline, and follows the tail when online', async () => {
    const admin = connect({ url: edge.url })
    await admin.admin().createTopics({ topics: [{ topic: 'orders', numPartitions: 2 }] })
    const producer = admin.producer({ idempotent: true })
    for (let i = 0; i < 20; i++) {
      await producer.send({ topic: 'orders', messages: Array.from({ length: 500 }, (_, j) => ({ key: `k${j % 17}`, value: `order-${i}-${j}`.padEnd(100, '.') })) })
    }
    const page = await browser.tab(url())
    await openSynced(page, 'follow', ['orders'])
    await caughtUp(page, 'orders', 10_000)
    // Offline, a local consumer group reads all of it, at the edge's offsets.
    await page.context().setOffline(true)
    // The worker's long poll to the edge fails: the sync says it is offline.
    await expect.poll(() => page.evaluate(async () => (await (globalThis as any).log.sync.status()).follower), { timeout: 15_000 }).toBe('offline')
    const atEdge = await edgeRecords('orders', 2)
    expect(await pageRecords(page, 'orders', 2)).toEqual(atEdge)
    const consumed = await page.evaluate(async () => {
      const g = globalThis as any
      const consumer = g.log.consumer({ groupId: 'offline-reader', maxWaitTimeInMs: 100 })
      await consumer.subscribe({ topics: ['orders'], fromBeginning: true })
      const seen: string[] = []
      await new Promise<void>((resolve) => {
        void consumer.run({ eachBatch: async ({ batch }: any) => {
          for (const m of batch.messages) seen.push(`${batch.partition}/${m.offset}`)
          if (seen.length >= 10_000) resolve()
        } })
      })
      await consumer.disconnect()
      return seen
    })
    expect(new Set(consumed)).toEqual(new Set(atEdge.map((r) => `${r.partition}/${r.offset}`)))
    // Online again: what the edge gets next reaches the page by itself.
    await page.context().setOffline(false)
    await producer.send({ topic: 'orders', messages: [{ value: 'late-0', partition: 0 }, { value: 'late-1', partition: 1 }] })
    await caughtUp(page, 'orders', 10_002)
    expect(await pageRecords(page, 'orders', 2)).toEqual(await edgeRecords('orders', 2))
    await page.evaluate(() => (globalThis as any).log.close())
    await page.close()
    await admin.close()
  }, 120_000)

  it('produces offline through the outbox, across a reload; online, the edge has every record once, in order', async () => {
    const admin = connect({ url: edge.url })
    await admin.admin().createTopics({ topics: [{ topic: 'notes', numPartitions: 3 }] })
    let page = await browser.tab(url())
    await openSynced(page, 'outbox', ['notes'])
    await caughtUp(page, 'notes', 0)
    await admin.close()
    // The edge goes away (the page cannot reach it): produce 1,000, reload, produce 1,000 more.
    await edge.kill()
    const produce = (p: Page, round: number) => p.evaluate(async (round) => {
      const g = globalThis as any
      const producer = g.log.producer({ idempotent: true })
      const sent = []
      for (let i = 0; i < 20; i++) {
        sent.push(...await producer.send({ topic: 'notes', acks: -1, messages: Array.from({ length: 50 }, (_, j) => ({ key: `k${j % 7}`, value: `r${round}-${i}-${j}` })) }))
      }
      return sent.every((m: any) => m.pending && m.baseOffset === '-1')
    }, round)
    expect(await produce(page, 0)).toBe(true)
    await page.reload()
    await page.waitForFunction(() => (globalThis as { edgelogReady?: boolean }).edgelogReady === true)
    await openSynced(page, 'outbox', ['notes'])
    expect(await produce(page, 1)).toBe(true)
    const pending = await page.evaluate(async () => (await (globalThis as any).log.sync.pending('notes')).length)
    expect(pending).toBe(2_000)
    await startEdge()
    await page.evaluate(() => (globalThis as any).log.sync.flush(60_000))
    const atEdge = await edgeRecords('notes', 3)
    const values = atEdge.map((r) => r.value)
    expect(values).toHaveLength(2_000)
    expect(new Set(values).size).toBe(2_000)
    // Order per partition: each round's sends in order (keys map to partitions as in Kafka).
    for (let p = 0; p < 3; p++) {
      const mine = atEdge.filter((r) => r.partition === p).map((r) => r.value.split('-').map((x) => x.replace('r', '')).map(Number))
      for (let i = 1; i < mine.length; i++) {
        const [a, b] = [mine[i - 1], mine[i]]
        expect(a[0] < b[0] || (a[0] === b[0] && (a[1] < b[1] || (a[1] === b[1] && a[2] < b[2])))).toBe(true)
      }
    }
    // They come back through the replica at the edge's offsets.
    await caughtUp(page, 'notes', 2_000)
    expect(await pageRecords(page, 'notes', 3)).toEqual(atEdge)
    expect(await page.evaluate(async () => (await (globalThis as any).log.sync.pending()).length)).toBe(0)
    await page.evaluate(() => (globalThis as any).log.close())
    page = page
    await page.close()
  }, 180_000)

  it('a forward whose answer is lost, or whose edge is killed mid-request, leaves no duplicate and no gap', async () => {
    const admin = connect({ url: edge.url })
    await admin.admin().createTopics({ topics: [{ topic: 'lossy', numPartitions: 2 }] })
    await admin.close()
    const page = await browser.tab(url())
    await openSynced(page, 'lossy', ['lossy'])
    await caughtUp(page, 'lossy', 0)
    // Answers to produce requests are dropped after the edge stored the batch.
    let dropped = 0
    await page.context().route(`http://127.0.0.1:${edgePort}/v1/topics/lossy/partitions/*/records?*`, async (route) => {
      if (route.request().method() !== 'POST' || dropped >= 4) return route.fallback()
      await route.fetch()
      dropped++
      await route.abort('connectionreset')
    })
    const produce = (round: number) => page.evaluate(async (round) => {
      const g = globalThis as any
      const producer = g.log.producer({ idempotent: true })
      for (let i = 0; i < 10; i++) await producer.send({ topic: 'lossy', messages: Array.from({ length: 50 }, (_, j) => ({ value: `r${round}-${i}-${j}`, partition: j % 2 })) })
    }, round)
    await produce(0)
    await page.evaluate(() => (globalThis as any).log.sync.flush(60_000))
    expect(dropped).toBe(4)
    await page.context().unroute(`http://127.0.0.1:${edgePort}/v1/topics/lossy/partitions/*/records?*`)
    // The edge killed with SIGKILL while forwards are in flight, three times.
    for (let round = 1; round <= 3; round++) {
      await produce(round)
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 200))
      await edge.kill()
      await startEdge()
    }
    await page.evaluate(() => (globalThis as any).log.sync.flush(60_000))
    const values = (await edgeRecords('lossy', 2)).map((r) => r.value)
    expect(values).toHaveLength(2_000)
    expect(new Set(values).size).toBe(2_000)
    await caughtUp(page, 'lossy', 2_000)
    expect(await pageRecords(page, 'lossy', 2)).toEqual(await edgeRecords('lossy', 2))
    await page.evaluate(() => (globalThis as any).log.close())
    await page.close()
  }, 180_000)

  it('follows partitions added at the edge, stops on a topic created again, restarts past the edge\'s retention', async () => {
    const admin = connect({ url: edge.url })
    await admin.admin().createTopics({ topics: [
      { topic: 'shape', numPartitions: 1 },
      { topic: 'short', numPartitions: 1, configEntries: [{ name: 'segment.bytes', value: '2000' }, { name: 'retention.bytes', value: '4000' }] },
    ] })
    const producer = admin.producer()
    await producer.send({ topic: 'shape', messages: [{ value: 'first' }] })
    await producer.send({ topic: 'short', messages: [{ value: 'old'.padEnd(200, '.') }] })
    const page = await browser.tab(url())
    await openSynced(page, 'shapes', ['shape', 'short'])
    await caughtUp(page, 'shape', 1)
    await caughtUp(page, 'short', 1)
    const status = () => page.evaluate(async () => (globalThis as any).log.sync.status())
    // Partitions added at the edge are followed.
    await admin.admin().createPartitions({ topicPartitions: [{ topic: 'shape', count: 2 }] })
    await admin.producer().send({ topic: 'shape', messages: [{ value: 'in p1', partition: 1 }] })
    await caughtUp(page, 'shape', 2)
    expect(await pageRecords(page, 'shape', 2)).toEqual(await edgeRecords('shape', 2))
    // The edge's retention passes the replica while the page is closed: it restarts at the edge's log start.
    await page.evaluate(() => (globalThis as any).log.close())
    for (let i = 0; i < 40; i++) await producer.send({ topic: 'short', messages: [{ value: `r${i}`.padEnd(200, '.') }] })
    await admin.admin().runMaintenance({ topic: 'short' })
    const [{ low }] = await admin.admin().fetchTopicOffsets('short')
    expect(Number(low)).toBeGreaterThan(1)
    await openSynced(page, 'shapes', ['shape', 'short'])
    await caughtUp(page, 'short', 41)
    await expect.poll(async () => (await status()).recent.some((e: any) => e.type === 'replica.reset' && e.topic === 'short'), { timeout: 15_000 }).toBe(true)
    expect(await pageRecords(page, 'short', 1)).toEqual(await edgeRecords('short', 1))
    // Deleted and created again at the edge: a new topic id; the replica stops, typed, and keeps what it has.
    await admin.admin().deleteTopics({ topics: ['shape'] })
    await admin.admin().createTopics({ topics: [{ topic: 'shape', numPartitions: 1 }] })
    await admin.producer().send({ topic: 'shape', messages: [{ value: 'another log' }] })
    await expect.poll(async () => (await status()).recent.find((e: any) => e.type === 'replica.stopped' && e.topic === 'shape')?.code, { timeout: 15_000 }).toBe('INCONSISTENT_TOPIC_ID')
    expect((await pageRecords(page, 'shape', 2)).map((r) => r.value)).toEqual(['first', 'in p1'])
    await page.evaluate(() => (globalThis as any).log.close())
    await page.close()
    await admin.close()
  }, 180_000)

  it('two tabs produce offline; closing the forwarding tab hands forwarding to the other', async () => {
    const admin = connect({ url: edge.url })
    await admin.admin().createTopics({ topics: [{ topic: 'tabs', numPartitions: 2 }] })
    await admin.close()
    const [a, b] = [await browser.tab(url()), await browser.tab(url())]
    await openSynced(a, 'two-tabs', ['tabs'])
    await caughtUp(a, 'tabs', 0)
    await openSynced(b, 'two-tabs', ['tabs'])
    await edge.kill()
    for (const [tab, name] of [[a, 'a'], [b, 'b']] as const) {
      await tab.evaluate(async (name) => {
        const g = globalThis as any
        const producer = g.log.producer({ idempotent: true })
        for (let i = 0; i < 10; i++) await producer.send({ topic: 'tabs', messages: Array.from({ length: 10 }, (_, j) => ({ value: `${name}-${i}-${j}`, partition: j % 2 })) })
      }, name)
    }
    // The tab running the sync (the first) closes; the other takes the lock and forwards.
    await a.close()
    await startEdge()
    await b.evaluate(() => (globalThis as any).log.sync.flush(60_000))
    const values = (await edgeRecords('tabs', 2)).map((r) => r.value)
    expect(values).toHaveLength(200)
    expect(new Set(values).size).toBe(200)
    await b.evaluate(() => (globalThis as any).log.close())
    await b.close()
  }, 180_000)
})
