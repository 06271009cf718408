/**
 * The schema registry in the browser log (a Web Worker over IndexedDB, real Chromium): the
 * `_schemas` topic survives a reload with the same ids, versions and levels, new registrations
 * continue the id sequence, records written with the producer's serializer are read back with
 * the consumer's deserializer after the reload, and two tabs registering at once get distinct ids.
 */
import { describe, expect, it } from 'vitest'
import type { Page } from 'playwright-core'
import { useServedLog } from './harness.ts'

const { browser, url } = useServedLog()

const orderV1 = { type: 'record', name: 'Order', namespace: 'shop', fields: [{ name: 'id', type: 'long' }, { name: 'item', type: 'string' }] }
const orderV2 = { ...orderV1, fields: [...orderV1.fields, { name: 'note', type: ['null', 'string'], default: null }] }
const orderV3 = { ...orderV2, fields: [...orderV2.fields, { name: 'qty', type: 'int', default: 1 }] }
const click = { type: 'object', properties: { user: { type: 'string' } }, required: ['user'], additionalProperties: false }

/** Opens the log `name` on the page: globalThis.log, and globalThis.registry over its broker. */
async function open(page: Page, name: string): Promise<void> {
  await page.evaluate(async (name) => {
    const g = globalThis as any
    g.log = await g.edgelog.openBrowserLog({ name })
    g.registry = new g.edgelog.schemas.SchemaRegistry(g.log.broker)
  }, name)
}

/** What a reload must keep: subjects, versions with their ids and text, levels, ids by number. */
function snapshot(page: Page) {
  return page.evaluate(async () => {
    const r = (globalThis as any).registry
    const subjects: string[] = await r.subjects()
    const versions: Record<string, unknown[]> = {}
    for (const s of subjects) {
      versions[s] = await Promise.all((await r.versions(s)).map((v: number) => r.getVersion(s, v)))
    }
    return {
      subjects, versions,
      levels: { global: (await r.getConfig()).compatibilityLevel, clicks: (await r.getConfig('clicks-value')).compatibilityLevel },
      byId: await Promise.all([1, 2, 3].map((id) => r.schemaById(id))),
    }
  })
}

describe('schema registry in the browser log', () => {
  it('keeps ids, versions and levels across a reload; new registrations continue the sequence; serialized records read back', async () => {
    const page = await browser.tab(url())
    await open(page, 'registry-reload')
    const ids = await page.evaluate(async ({ orderV1, orderV2, click }) => {
      const g = globalThis as any
      const r = g.registry
      const a = await r.register('orders-value', { schema: JSON.stringify(orderV1) })
      const b = await r.register('orders-value', { schema: JSON.stringify(orderV2) })
      const c = await r.register('clicks-value', { schema: JSON.stringify(click), schemaType: 'JSON' })
      await r.setConfig('clicks-value', 'FULL')
      const serde = new g.edgelog.schemas.SchemaSerde(r)
      const producer = g.log.producer({ serializers: { value: serde.serializer() } })
      await producer.send({ topic: 'orders', messages: Array.from({ length: 20 }, (_, i) => ({ key: `o${i}`, value: { id: i, item: `item-${i}`, note: i % 2 ? null : `n${i}` } })) })
      await producer.disconnect()
      return [a.id, b.id, c.id]
    }, { orderV1, orderV2, click })
    expect(ids).toEqual([1, 2, 3])
    const before = await snapshot(page)
    expect(before.subjects).toEqual(['clicks-value', 'orders-value'])
    expect(before.levels).toEqual({ global: 'BACKWARD', clicks: 'FULL' })

    await page.evaluate(() => (globalThis as any).log.close())
    await page.reload()
    await page.waitForFunction(() => (globalThis as { edgelogReady?: boolean }).edgelogReady === true)
    await open(page, 'registry-reload')
    expect(await snapshot(page)).toEqual(before)

    const after = await page.evaluate(async ({ orderV2, orderV3 }) => {
      const g = globalThis as any
      const r = g.registry
      const again = await r.register('orders-value', { schema: JSON.stringify(orderV2) })
      const next = await r.register('orders-value', { schema: JSON.stringify(orderV3) })
      const other = await r.register('pings-value', { schema: '"long"' })
      const incompatible = await r.register('orders-value', { schema: JSON.stringify({ ...orderV3, fields: [...orderV3.fields, { name: 'must', type: 'string' }] }) }).then(() => null, (e: any) => e.code)
      const serde = new g.edgelog.schemas.SchemaSerde(r)
      const consumer = g.log.consumer({ groupId: 'after-reload', maxWaitTimeInMs: 200, deserializers: { value: serde.deserializer() } })
      await consumer.subscribe({ topics: ['orders'], fromBeginning: true })
      const values: any[] = []
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${values.length} of 20`)), 20_000)
        consumer.run({ eachMessage: async ({ message }: any) => {
          values.push(message.value)
          if (values.length === 20) { clearTimeout(timer); resolve() }
        } }).catch(reject)
      })
      await consumer.disconnect()
      return { again: again.id, next: next.id, nextVersion: (await r.getVersion('orders-value', 'latest')).version, other: other.id, incompatible, values }
    }, { orderV2, orderV3 })
    expect(after).toMatchObject({ again: 2, next: 4, nextVersion: 3, other: 5, incompatible: 'INCOMPATIBLE_SCHEMA' })
    expect(after.values.sort((a: any, b: any) => a.id - b.id)).toEqual(Array.from({ length: 20 }, (_, i) => ({ id: i, item: `item-${i}`, note: i % 2 ? null : `n${i}` })))
    await page.evaluate(() => (globalThis as any).log.close())
    await page.close()
  })

  it('two tabs registering at once over one IndexedDB get distinct ids and contiguous versions', async () => {
    const tabs = [await browser.tab(url()), await browser.tab(url())]
    for (const t of tabs) await open(t, 'registry-tabs')
    // Unrelated fixed types: any level but NONE would refuse the second version of a subject.
    await tabs[0].evaluate(() => (globalThis as any).registry.setConfig(undefined, 'NONE'))
    const register = (t: Page, tab: number) => t.evaluate(async (tab) => {
      const r = (globalThis as any).registry
      return Promise.all(Array.from({ length: 6 }, (_, i) => r.register(i % 2 ? 'shared-value' : `tab${tab}-value`, { schema: JSON.stringify({ type: 'fixed', name: `F${tab}x${i}`, size: i + 1 }) }).then((x: any) => x.id)))
    }, tab)
    const [a, b] = await Promise.all([register(tabs[0], 0), register(tabs[1], 1)])
    const all = [...a, ...b]
    expect(new Set(all).size).toBe(12)
    expect(all.slice().sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1))
    const versions = await tabs[1].evaluate(() => (globalThis as any).registry.versions('shared-value'))
    expect(versions).toEqual([1, 2, 3, 4, 5, 6])
    for (const t of tabs) {
      await t.evaluate(() => (globalThis as any).log.close())
      await t.close()
    }
  })
})
