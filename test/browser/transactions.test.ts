/**
 * Transactions in real Chromium: the coordinator and partitions in the log's Web Worker over
 * IndexedDB, the KafkaJS-shaped transactional producer and read_committed consumer on the page;
 * then two tabs (two workers sharing the database) where one tab's producer fences the other's.
 */
import { describe, expect, it } from 'vitest'
import type { Page } from 'playwright-core'
import { useServedLog } from './harness.ts'

const { browser, url } = useServedLog()

async function openLog(page: Page, name: string) {
  await page.evaluate(async (name) => {
    const g = globalThis as any
    g.log = await g.edgelog.openBrowserLog({ name })
  }, name)
}

/** Every value of `topic`-0 a consumer at the given isolation reads from the beginning (waits for `count`). */
function consume(page: Page, topic: string, readUncommitted: boolean, count: number): Promise<string[]> {
  return page.evaluate(async ({ topic, readUncommitted, count }) => {
    const g = globalThis as any
    const consumer = g.log.consumer({ groupId: `r-${Math.random()}`, readUncommitted, maxWaitTimeInMs: 100 })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    const seen: string[] = []
    await consumer.run({ eachMessage: async ({ message }: any) => { seen.push(new TextDecoder().decode(message.value)) } })
    const deadline = Date.now() + 15_000
    while (seen.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    await new Promise((r) => setTimeout(r, 300)) // anything more would show up now
    await consumer.disconnect()
    return seen
  }, { topic, readUncommitted, count })
}

describe('transactions in the browser worker', () => {
  it('commit, abort and sendOffsets; read_committed and readUncommitted consumers', async () => {
    const page = await browser.tab(url())
    await openLog(page, 'txn-one-tab')
    const offsets = await page.evaluate(async () => {
      const g = globalThis as any
      await g.log.admin().createTopics({ topics: [{ topic: 'out', numPartitions: 1 }, { topic: 'in', numPartitions: 1 }] })
      const producer = g.log.producer({ transactionalId: 'page', idempotent: true, maxInFlightRequests: 1 })
      const t1 = await producer.transaction()
      await t1.send({ topic: 'out', messages: [{ value: 'c1' }, { value: 'c2' }] })
      await t1.sendOffsets({ consumerGroupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '9' }] }] })
      await t1.commit()
      const t2 = await producer.transaction()
      await t2.send({ topic: 'out', messages: [{ value: 'a1' }] })
      await t2.sendOffsets({ consumerGroupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '99' }] }] })
      await t2.abort()
      const t3 = await producer.transaction()
      await t3.send({ topic: 'out', messages: [{ value: 'c3' }] })
      await t3.commit()
      return g.log.admin().fetchOffsets({ groupId: 'g', topics: ['in'] })
    })
    expect(offsets[0].partitions[0].offset).toBe('9')
    expect(await consume(page, 'out', false, 3)).toEqual(['c1', 'c2', 'c3'])
    expect(await consume(page, 'out', true, 4)).toEqual(['c1', 'c2', 'a1', 'c3'])
  })

  it('two tabs: a producer in one fences the same transactional id in the other', async () => {
    const [a, b] = [await browser.tab(url()), await browser.tab(url())]
    await openLog(a, 'txn-two-tabs')
    await openLog(b, 'txn-two-tabs')
    await a.evaluate(async () => {
      const g = globalThis as any
      await g.log.admin().createTopics({ topics: [{ topic: 'out', numPartitions: 1 }] })
      g.txn = await g.log.producer({ transactionalId: 'shared' }).transaction()
      await g.txn.send({ topic: 'out', messages: [{ value: 'from-a' }] })
    })
    await b.evaluate(async () => {
      const g = globalThis as any
      g.txn = await g.log.producer({ transactionalId: 'shared' }).transaction()
    })
    const refused = await a.evaluate(async () => {
      const g = globalThis as any
      try {
        await g.txn.send({ topic: 'out', messages: [{ value: 'late' }] })
        return 'accepted'
      } catch (e: any) {
        return e.code
      }
    })
    expect(refused).toBe('INVALID_PRODUCER_EPOCH')
    await b.evaluate(async () => {
      const g = globalThis as any
      await g.txn.send({ topic: 'out', messages: [{ value: 'from-b' }] })
      await g.txn.commit()
    })
    expect(await consume(a, 'out', false, 1)).toEqual(['from-b'])
    expect(await consume(a, 'out', true, 2)).toEqual(['from-a', 'from-b'])
  })
})
