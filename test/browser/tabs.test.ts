/**
 * Several tabs of one origin sharing one log: each tab runs its own worker over the same
 * IndexedDB database. Appends to a partition serialise through a Web Lock with the head
 * re-read inside it; other tabs hear of appends and group changes through BroadcastChannel.
 */
import { describe, expect, it } from 'vitest'
import type { Page } from 'playwright-core'
import { useServedLog } from './harness.ts'

const { browser, url } = useServedLog()

async function openLog(page: Page, name: string) {
  await page.evaluate(async (name) => {
    const g = globalThis as any
    g.log = await g.edgelog.openBrowserLog({ name, clientId: `tab-${Math.random().toString(36).slice(2, 6)}` })
  }, name)
}

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: T = await fn()
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last)}`)
    await new Promise((r) => setTimeout(r, 200))
    last = await fn()
  }
  return last
}

describe('two tabs producing to one partition at once', () => {
  it('yield contiguous, unique offsets and lose no record', async () => {
    const [a, b] = [await browser.tab(url()), await browser.tab(url())]
    await openLog(a, 'two-writers')
    await openLog(b, 'two-writers')
    await a.evaluate(() => (globalThis as any).log.admin().createTopics({ topics: [{ topic: 'shared', numPartitions: 1 }] }))

    const SENDS = 60
    const PER_SEND = 5
    const produce = (page: Page, tab: string) => page.evaluate(async ({ tab, SENDS, PER_SEND }) => {
      const producer = (globalThis as any).log.producer({ idempotent: true })
      await producer.connect()
      // Many sends in flight at once from each tab, to collide with the other tab's.
      const results = await Promise.all(Array.from({ length: SENDS }, (_, s) => producer.send({
        topic: 'shared', acks: 1,
        messages: Array.from({ length: PER_SEND }, (_, i) => ({ partition: 0, value: `${tab}-${s}-${i}` })),
      })))
      await producer.disconnect()
      return results.map((r: any[]) => Number(r[0].baseOffset))
    }, { tab, SENDS, PER_SEND })
    const [fromA, fromB] = await Promise.all([produce(a, 'A'), produce(b, 'B')])

    // Every send got its own run of PER_SEND offsets; together they tile 0 … total-1.
    const bases = [...fromA, ...fromB].sort((x, y) => x - y)
    expect(bases).toEqual(bases.map((_, i) => i * PER_SEND))
    const total = 2 * SENDS * PER_SEND

    // Either tab reads the whole partition back: offsets 0 … total-1, each value once.
    for (const page of [a, b]) {
      const read = await page.evaluate(async (total) => {
        const broker = (globalThis as any).log.broker
        const { decodeRecords } = (globalThis as any).edgelog
        const out: Array<[number, string]> = []
        let offset = 0
        const dec = new TextDecoder()
        while (offset < total) {
          const r = await broker.fetch({ topic: 'shared', partition: 0, offset, maxBytes: 1 << 20 })
          if (r.batches.length === 0) break
          for (const batch of r.batches) for (const rec of decodeRecords(batch)) {
            if (rec.offset >= offset) out.push([rec.offset, dec.decode(rec.value)])
          }
          offset = out.length > 0 ? out[out.length - 1][0] + 1 : offset
        }
        return { hw: (await broker.fetch({ topic: 'shared', partition: 0, offset: 0, maxBytes: 1 })).highWatermark, out }
      }, total)
      expect(read.hw).toBe(total)
      expect(read.out.map(([o]) => o)).toEqual(Array.from({ length: total }, (_, i) => i))
      const values = read.out.map(([, v]) => v)
      expect(new Set(values).size).toBe(total)
      for (const tab of ['A', 'B']) for (let s = 0; s < SENDS; s++) for (let i = 0; i < PER_SEND; i++) {
        expect(values).toContain(`${tab}-${s}-${i}`)
      }
    }
    for (const p of [a, b]) {
      await p.evaluate(() => (globalThis as any).log.close())
      await p.close()
    }
  })

  it('a consumer in one tab sees the other tab\'s appends without polling (long poll woken)', async () => {
    const [a, b] = [await browser.tab(url()), await browser.tab(url())]
    await openLog(a, 'wake')
    await openLog(b, 'wake')
    await a.evaluate(() => (globalThis as any).log.admin().createTopics({ topics: [{ topic: 'live', numPartitions: 1 }] }))
    // Tab B parks a long fetch (30 s) at offset 0; tab A appends; B's fetch answers at once.
    await b.evaluate(() => {
      const g = globalThis as any
      g.started = Date.now()
      g.parked = g.log.broker.fetch({ topic: 'live', partition: 0, offset: 0, maxBytes: 1 << 20, maxWaitMs: 30_000 })
        .then((r: any) => ({ batches: r.batches.length, hw: r.highWatermark, ms: Date.now() - g.started }))
    })
    await new Promise((r) => setTimeout(r, 300))
    await a.evaluate(async () => {
      const producer = (globalThis as any).log.producer()
      await producer.connect()
      await producer.send({ topic: 'live', messages: [{ value: 'wake up' }] })
    })
    const parked = await b.evaluate(() => (globalThis as any).parked)
    expect(parked.batches).toBe(1)
    expect(parked.hw).toBe(1)
    expect(parked.ms).toBeLessThan(5_000)
    for (const p of [a, b]) {
      await p.evaluate(() => (globalThis as any).log.close())
      await p.close()
    }
  })
})

describe('a consumer group across two tabs', () => {
  it('splits the partitions, and gives a closed tab\'s partitions to the other tab', async () => {
    const [a, b] = [await browser.tab(url()), await browser.tab(url())]
    await openLog(a, 'group-tabs')
    await openLog(b, 'group-tabs')
    await a.evaluate(() => (globalThis as any).log.admin().createTopics({ topics: [{ topic: 'jobs', numPartitions: 4 }] }))

    const join = (page: Page) => page.evaluate(async () => {
      const g = globalThis as any
      g.got = [] as string[]
      g.consumer = g.log.consumer({ groupId: 'workers', sessionTimeout: 2_000, heartbeatInterval: 300, maxWaitTimeInMs: 200 })
      g.events = [] as string[]
      for (const ev of ['consumer.crash', 'consumer.rebalancing', 'consumer.group_join', 'consumer.fetch_start']) {
        g.consumer.on(ev, (e: any) => g.events.push(`${Date.now() % 100000} ${ev} ${JSON.stringify(e?.payload ?? e, (k, v) => (v instanceof Error ? { code: (v as any).code, message: v.message } : v))}`))
      }
      await g.consumer.connect()
      await g.consumer.subscribe({ topics: ['jobs'], fromBeginning: true })
      // autoCommit on, as users run it: a commit racing the other tab's expiry retries with the
      // member's new epoch (it once crashed the consumer with ILLEGAL_GENERATION).
      void g.consumer.run({ eachMessage: async ({ partition, message }: any) => { g.got.push(`${partition}:${new TextDecoder().decode(message.value)}`) } })
    })
    await join(a)
    await join(b)

    const describe = () => a.evaluate(async () => {
      const { groups: [group] } = await (globalThis as any).log.admin().describeGroups(['workers'])
      return group.members.map((m: any) => Object.values(m.memberAssignment).flat().length).sort()
    })
    await until('two members with two partitions each', describe, (v) => JSON.stringify(v) === '[2,2]')

    const produce = (page: Page, tag: string) => page.evaluate(async (tag) => {
      const producer = (globalThis as any).log.producer()
      await producer.connect()
      await producer.send({ topic: 'jobs', messages: [0, 1, 2, 3].map((p) => ({ partition: p, value: `${tag}${p}` })) })
      await producer.disconnect()
    }, tag)
    await produce(a, 'before')
    const got = (page: Page) => page.evaluate(() => [...(globalThis as any).got].sort())
    await until('both tabs to consume their share', async () => [...await got(a), ...await got(b)].sort(),
      (v) => v.length === 4)
    const aBefore = await got(a)
    const bBefore = await got(b)
    expect(aBefore.length).toBe(2)
    expect(bBefore.length).toBe(2)

    // Tab B goes away without leaving the group: its member stops heart-beating.
    await b.close()
    await until('tab A to own all four partitions', describe, (v) => JSON.stringify(v) === '[4]')
    await produce(a, 'after')
    const all = await until('tab A to consume from every partition', () => got(a), (v) => v.filter((s) => s.includes('after')).length === 4).catch(async (e) => {
      console.log((await a.evaluate(() => (globalThis as any).events)).filter((l: string) => !l.includes('fetch_start')).join('\n'))
      throw e
    })
    expect(all.filter((s) => s.includes('after')).sort()).toEqual(['0:after0', '1:after1', '2:after2', '3:after3'])
    // Nothing was committed: tab A reads B's former partitions from the beginning.
    const seenBefore = new Set([...all, ...bBefore].filter((s) => s.includes('before')))
    expect(seenBefore.size).toBe(4)

    await a.evaluate(async () => {
      const g = globalThis as any
      await g.consumer.disconnect()
      await g.log.close()
    })
    await a.close()
  })
})
