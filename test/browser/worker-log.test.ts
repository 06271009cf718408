/**
 * openBrowserLog in real Chromium: the log in a Web Worker over IndexedDB, driven through
 * the KafkaJS-shaped client on the page.
 */
import { describe, expect, it } from 'vitest'
import type { Page } from 'playwright-core'
import { useServedLog } from './harness.ts'

const { browser, url } = useServedLog()

/** Opens the log on the page (kept as globalThis.log) and creates `topic` if asked. */
async function openLog(page: Page, name: string, topic?: { topic: string; numPartitions: number }) {
  await page.evaluate(async ({ name, topic }) => {
    const g = globalThis as any
    g.log = await g.edgelog.openBrowserLog({ name })
    if (topic) await g.log.admin().createTopics({ topics: [topic] })
  }, { name, topic })
}

/** Reads every record of `topic` from the beginning with a fresh group; resolves with them. */
async function consumeAll(page: Page, topic: string, count: number) {
  return page.evaluate(async ({ topic, count }) => {
    const g = globalThis as any
    const consumer = g.log.consumer({ groupId: `reader-${Math.random()}`, maxWaitTimeInMs: 200 })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    const seen: Array<{ partition: number; offset: string; key: string | null; value: string; headers: Record<string, string> }> = []
    const dec = new TextDecoder()
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${count} records arrived`)), 20_000)
      void consumer.run({
        eachMessage: async ({ partition, message }: any) => {
          const headers: Record<string, string> = {}
          for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = dec.decode(v as Uint8Array)
          seen.push({
            partition, offset: message.offset, key: message.key ? dec.decode(message.key) : null,
            value: dec.decode(message.value), headers,
          })
          if (seen.length >= count) {
            clearTimeout(timer)
            resolve()
          }
        },
      }).catch(reject)
    })
    await consumer.disconnect()
    return seen
  }, { topic, count })
}

describe('openBrowserLog: produce and consume through the worker', () => {
  it('sends, fetches offsets and consumes records with keys, values and headers', async () => {
    const page = await browser.tab(url())
    await openLog(page, 'produce-consume', { topic: 'email', numPartitions: 3 })
    const sent = await page.evaluate(async () => {
      const g = globalThis as any
      const producer = g.log.producer({ idempotent: true })
      await producer.connect()
      const out = []
      for (let i = 0; i < 10; i++) {
        out.push(...await producer.send({ topic: 'email', messages: [{ key: `u${i}`, value: `hi ${i}`, headers: { h: `v${i}` } }] }))
      }
      await producer.disconnect()
      return out
    })
    expect(sent).toHaveLength(10)
    for (const r of sent) expect(r).toMatchObject({ topicName: 'email', errorCode: 0 })

    const offsets = await page.evaluate(() => (globalThis as any).log.admin().fetchTopicOffsets('email'))
    expect(offsets.reduce((n: number, p: { high: string }) => n + Number(p.high), 0)).toBe(10)

    const records = await consumeAll(page, 'email', 10)
    expect(records.map((r) => r.value).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `hi ${i}`).sort())
    for (const r of records) {
      const i = Number(r.value.slice(3))
      expect(r).toMatchObject({ key: `u${i}`, headers: { h: `v${i}` } })
      const sentFor = sent.find((s: { partition: number; baseOffset: string }) => s.partition === r.partition && s.baseOffset === r.offset)
      expect(sentFor, `record ${r.value} at ${r.partition}/${r.offset}`).toBeDefined()
    }
    await page.evaluate(() => (globalThis as any).log.close())
    await page.close()
  })

  it('moves large sends across the boundary: 2,000 records of 1 KiB round-trip intact', async () => {
    const page = await browser.tab(url())
    await openLog(page, 'large', { topic: 'big', numPartitions: 1 })
    const result = await page.evaluate(async () => {
      const g = globalThis as any
      const producer = g.log.producer()
      await producer.connect()
      const value = (i: number) => { const b = new Uint8Array(1024); b.fill(i % 251); b[0] = i & 255; b[1] = i >> 8; return b }
      const messages = Array.from({ length: 2000 }, (_, i) => ({ value: value(i) }))
      await producer.send({ topic: 'big', messages })
      const consumer = g.log.consumer({ groupId: 'big-reader', maxWaitTimeInMs: 100 })
      await consumer.connect()
      await consumer.subscribe({ topics: ['big'], fromBeginning: true })
      let ok = 0
      let bad = 0
      await new Promise<void>((resolve) => {
        void consumer.run({
          eachBatch: async ({ batch }: any) => {
            for (const m of batch.messages) {
              const v = m.value as Uint8Array
              const i = v[0] | (v[1] << 8)
              if (String(i) === m.offset && v.length === 1024 && v[2] === i % 251) ok++
              else bad++
            }
            if (ok + bad >= 2000) resolve()
          },
        })
      })
      await consumer.disconnect()
      await producer.disconnect()
      await g.log.close()
      return { ok, bad }
    })
    expect(result).toEqual({ ok: 2000, bad: 0 })
    await page.close()
  })

  it('a typed error crosses the worker boundary with its code and retriable flag', async () => {
    const page = await browser.tab(url())
    await openLog(page, 'errors')
    const errors = await page.evaluate(async () => {
      const g = globalThis as any
      const capture = async (fn: () => Promise<unknown>) => {
        try {
          await fn()
          return null
        } catch (e: any) {
          return { name: e.name, code: e.code, retriable: e.retriable, isError: e instanceof Error, typed: g.edgelog.isEdgelogError(e), message: e.message }
        }
      }
      const admin = g.log.admin()
      return {
        badName: await capture(() => admin.createTopics({ topics: [{ topic: 'no spaces allowed' }] })),
        unknown: await capture(() => g.log.broker.fetch({ topic: 'missing', partition: 0, offset: 0, maxBytes: 1024 })),
        decrease: await capture(async () => {
          await admin.createTopics({ topics: [{ topic: 't', numPartitions: 3 }] })
          await admin.createPartitions({ topicPartitions: [{ topic: 't', count: 2 }] })
        }),
      }
    })
    expect(errors.badName).toMatchObject({ name: 'EdgelogError', code: 'INVALID_TOPIC_EXCEPTION', retriable: false, isError: true, typed: true })
    expect(errors.unknown).toMatchObject({ name: 'EdgelogError', code: 'UNKNOWN_TOPIC_OR_PARTITION', retriable: true, typed: true })
    expect(errors.decrease).toMatchObject({ code: 'INVALID_PARTITIONS' })
    await page.evaluate(() => (globalThis as any).log.close())
    await page.close()
  })

  it('reports navigator.storage.estimate() and offers persist() through the admin client', async () => {
    const page = await browser.tab(url())
    await openLog(page, 'estimate')
    const out = await page.evaluate(async () => {
      const admin = (globalThis as any).log.admin()
      const estimate = await admin.storageEstimate()
      const persisted = await admin.persistStorage()
      await (globalThis as any).log.close()
      return { quota: estimate.quota, usage: estimate.usage, persisted }
    })
    expect(out.quota).toBeGreaterThan(0)
    expect(out.usage).toBeGreaterThanOrEqual(0)
    expect(typeof out.persisted).toBe('boolean')
    await page.close()
  })
})

describe('openBrowserLog: nothing acknowledged is lost', () => {
  it('records survive a page reload and a browser restart', async () => {
    let page = await browser.tab(url())
    await openLog(page, 'durable', { topic: 'keep', numPartitions: 2 })
    const produce = (from: number) => page.evaluate(async (from) => {
      const producer = (globalThis as any).log.producer()
      await producer.connect()
      await producer.send({ topic: 'keep', acks: -1, messages: Array.from({ length: 50 }, (_, i) => ({ key: `k${from + i}`, value: `v${from + i}` })) })
      await producer.disconnect()
    }, from)
    await produce(0)
    // No close: the reload kills the worker as a user closing the tab would.
    await page.reload()
    await page.waitForFunction(() => (globalThis as any).edgelogReady === true)
    await openLog(page, 'durable')
    expect((await consumeAll(page, 'keep', 50)).map((r) => r.value).sort()).toEqual(Array.from({ length: 50 }, (_, i) => `v${i}`).sort())
    await produce(50)

    await browser.stop()
    await browser.start()
    page = await browser.tab(url())
    await openLog(page, 'durable')
    const after = await consumeAll(page, 'keep', 100)
    expect(after.map((r) => r.value).sort()).toEqual(Array.from({ length: 100 }, (_, i) => `v${i}`).sort())
    // Offsets per partition are still contiguous from 0.
    for (const p of [0, 1]) {
      const offsets = after.filter((r) => r.partition === p).map((r) => Number(r.offset)).sort((a, b) => a - b)
      expect(offsets).toEqual(offsets.map((_, i) => i))
    }
    await page.evaluate(() => (globalThis as any).log.close())
    await page.close()
  })
})
