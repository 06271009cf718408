/**
 * The web demo in real Chromium, as a person uses it: served by `wrangler dev` (the demo built
 * first, as `npm install` builds it), driven through its forms and read from what it shows.
 * Screenshots of the main views go to test-results/web-demo/ (not committed).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect } from '../../adapters/http/index.ts'
import { ROOT, startWranglerDev, type WranglerDev } from '../http/wrangler-dev.ts'
import { Browser, serve } from './harness.ts'

const SHOTS = join(ROOT, 'test-results/web-demo')
const persist = mkdtempSync(join(tmpdir(), 'edgelog-demo-'))
const browser = new Browser()
let edge: WranglerDev
let context: BrowserContext

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true })
  const { build } = await import('vite')
  await build({ configFile: join(ROOT, 'web-demo/vite.config.ts'), logLevel: 'warn' })
  edge = await startWranglerDev(persist)
  context = await browser.start()
}, 120_000)

afterAll(async () => {
  await browser.dispose()
  await edge?.kill()
  rmSync(persist, { recursive: true, force: true })
})

async function openDemo(): Promise<Page> {
  const page = await context.newPage()
  await page.setViewportSize({ width: 1280, height: 900 })
  page.on('pageerror', (e) => console.error('[page error]', e))
  await page.goto(edge.url)
  await waitReady(page)
  return page
}

async function waitReady(page: Page): Promise<void> {
  await page.waitForFunction(() => (globalThis as { edgelogDemo?: { ready: boolean } }).edgelogDemo?.ready === true, null, { timeout: 30_000 })
  expect(await page.evaluate(() => (globalThis as { edgelogDemo?: { browserError?: string } }).edgelogDemo?.browserError)).toBeUndefined()
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })

async function createTopic(page: Page, name: string, partitions: number, kind = 'plain'): Promise<void> {
  await page.getByLabel('Name').fill(name)
  await page.getByLabel('Partitions').fill(String(partitions))
  await page.getByLabel('Kind').selectOption(kind)
  await page.getByRole('button', { name: 'Create topic' }).click()
  await expect.poll(() => page.locator('#topic-select').inputValue()).toBe(name)
  await expect.poll(() => page.locator(`.topic[data-topic="${name}"] .partition`).count()).toBe(partitions)
}

async function produce(page: Page, fields: { key?: string; value: string; headers?: string; partition?: string }): Promise<void> {
  await page.getByLabel('Key').fill(fields.key ?? '')
  await page.getByLabel('Value').fill(fields.value)
  await page.getByLabel('Headers').fill(fields.headers ?? '')
  await page.getByLabel('Partition', { exact: true }).selectOption(fields.partition ?? 'key')
  await page.getByRole('button', { name: 'Produce' }).click()
}

/** What the group view of a tab shows: member → its partitions, and which member is this tab. */
function groupSeen(page: Page): Promise<{ members: Record<string, string>; mine: string[] }> {
  return page.evaluate(() => {
    const members: Record<string, string> = {}
    const mine: string[] = []
    for (const li of document.querySelectorAll<HTMLElement>('.group .member')) {
      members[li.dataset.member!] = li.dataset.partitions!
      if (li.classList.contains('me')) mine.push(li.dataset.partitions!)
    }
    return { members, mine }
  })
}

describe('the web demo', () => {
  it('creates a topic, produces, the console consumer prints it; after a reload it is still there', async () => {
    const page = await openDemo()
    await expect.poll(() => page.locator('.network').getAttribute('data-online')).toBe('true')
    await createTopic(page, 'email', 3)
    await produce(page, { key: 'u1', value: 'hi', headers: 'h=v' })
    // Key u1 goes to partition 1 of 3 (murmur2, as Kafka's Java client).
    await expect.poll(() => page.locator('.sends li').first().getAttribute('data-state'), { timeout: 10_000 }).toBe('stored')
    await expect.poll(() => page.locator('.sends li').first().getAttribute('data-offset'), { timeout: 10_000 }).toBe('1/0')
    for (let i = 0; i < 8; i++) await produce(page, { key: `u${i + 2}`, value: `hello ${i}` })
    await page.getByRole('button', { name: 'Start a console consumer' }).click()
    await expect.poll(() => page.locator('.console li').allTextContents(), { timeout: 15_000 }).toContain('Partition:1\tOffset:0\tu1\thi\th:v')
    await expect.poll(() => page.locator('.console li').count(), { timeout: 15_000 }).toBe(9)
    await expect.poll(() => page.locator('.partition[data-partition="1"] .cell.record[data-offset="0"]').getAttribute('title')).toContain('key "u1", value "hi"')
    await shot(page, '1-topic-producer-console')

    // A typed error, explained: a topic that exists already.
    await page.getByLabel('Name').fill('email')
    await page.getByRole('button', { name: 'Create topic' }).click()
    await expect.poll(() => page.getByRole('alert').first().textContent()).toContain('TOPIC_ALREADY_EXISTS')
    expect(await page.getByRole('alert').first().textContent()).toContain('Topic names are unique')
    await shot(page, '2-typed-error')

    await page.reload()
    await waitReady(page)
    await expect.poll(() => page.locator('#topic-select').inputValue()).toBe('email')
    await expect.poll(() => page.locator('.partition[data-partition="1"] .cell.record[data-offset="0"]').getAttribute('title')).toContain('key "u1", value "hi"')
    await page.getByRole('button', { name: 'Start a console consumer' }).click()
    await expect.poll(() => page.locator('.console li').allTextContents(), { timeout: 15_000 }).toContain('Partition:1\tOffset:0\tu1\thi\th:v')

    // The browser's own log: produce there, reload, find it (IndexedDB keeps it).
    await page.getByLabel("This browser's log").check()
    await createTopic(page, 'local', 2)
    await produce(page, { key: 'k', value: 'kept in IndexedDB', partition: '1' })
    await expect.poll(() => page.locator('.sends li').first().getAttribute('data-offset')).toBe('1/0')
    await page.reload()
    await waitReady(page)
    await expect.poll(() => page.locator(`input[name=store][value=browser]`).isChecked()).toBe(true)
    await expect.poll(() => page.locator('.partition[data-partition="1"] .cell.record[data-offset="0"]').getAttribute('title'), { timeout: 15_000 })
      .toContain('value "kept in IndexedDB"')
    await shot(page, '3-browser-log-after-reload')
    await page.getByLabel('Edge log').check()
    await page.close()
  }, 120_000)

  it('shows retention and compaction at work with short demo settings', async () => {
    const page = await openDemo()
    await createTopic(page, 'profiles', 1, 'compact')
    for (const [k, v] of [['a', '1'], ['b', '1'], ['a', '2'], ['c', '1'], ['a', '3'], ['b', '2'], ['c', '2'], ['a', '4'], ['d', '1'], ['d', '2']]) {
      await produce(page, { key: k, value: v })
    }
    await expect.poll(() => page.locator('.partition .cell.record, .partition .cell.removed').count(), { timeout: 10_000 }).toBe(10)
    await page.getByRole('button', { name: 'Run retention and compaction now' }).click()
    // Older values of a key leave closed segments: offsets stay, as gaps.
    await expect.poll(() => page.locator('.partition .cell.removed').count(), { timeout: 15_000 }).toBeGreaterThan(0)
    await expect.poll(() => page.locator('.partition').first().getAttribute('aria-label')).toMatch(/segments/)
    await shot(page, '4-compaction')
    await page.close()
  }, 60_000)

  it('three tabs in one group split three partitions, and rebalance when one closes', async () => {
    const admin = connect({ url: edge.url })
    await admin.admin().createTopics({ topics: [{ topic: 'jobs', numPartitions: 3 }] })
    await admin.producer().send({ topic: 'jobs', messages: Array.from({ length: 30 }, (_, i) => ({ key: `job-${i}`, value: `work ${i}` })) })
    await admin.close()
    const tabs: Page[] = []
    for (let i = 0; i < 3; i++) {
      const page = await openDemo()
      await expect.poll(() => page.locator('#topic-select option[value="jobs"]').count()).toBe(1)
      await page.locator('#topic-select').selectOption('jobs')
      await page.getByLabel('Group id').fill('workers')
      await page.getByRole('button', { name: 'Join the group with this tab' }).click()
      tabs.push(page)
    }
    const owned = async (page: Page) => (await groupSeen(page)).mine
    for (const page of tabs) await expect.poll(() => owned(page), { timeout: 30_000 }).toHaveLength(1)
    await expect.poll(async () => {
      const mine = await Promise.all(tabs.map(owned))
      return mine.map((m) => m[0]).sort()
    }, { timeout: 30_000 }).toEqual(['jobs-0', 'jobs-1', 'jobs-2'])
    // Everything was consumed between them: the lag falls to 0.
    await expect.poll(() => tabs[0].locator('table.lag tbody td:nth-child(4)').allTextContents(), { timeout: 30_000 }).toEqual(['0', '0', '0'])
    await shot(tabs[0], '5-group-three-tabs')

    await tabs[2].close({ runBeforeUnload: true })
    await expect.poll(async () => Object.keys((await groupSeen(tabs[0])).members).length, { timeout: 30_000 }).toBe(2)
    await expect.poll(async () => {
      const mine = (await Promise.all(tabs.slice(0, 2).map(owned))).map((m) => m[0] ?? '')
      return mine.flatMap((m) => m.split(',')).filter(Boolean).sort()
    }, { timeout: 30_000 }).toEqual(['jobs-0', 'jobs-1', 'jobs-2'])
    await shot(tabs[0], '6-group-after-a-tab-closed')
    for (const page of tabs.slice(0, 2)) await page.close()
  }, 120_000)

  it('offline, a record for the followed topic is pending; back online the edge gives it an offset', async () => {
    const page = await openDemo()
    await expect.poll(() => page.locator('.sync').getAttribute('data-sync'), { timeout: 30_000 }).toBe('online')
    await page.getByLabel("This browser's log").check()
    await expect.poll(() => page.locator('#topic-select option[value="synced"]').count(), { timeout: 30_000 }).toBe(1)
    await page.locator('#topic-select').selectOption('synced')
    await page.context().setOffline(true)
    await expect.poll(() => page.locator('.network').getAttribute('data-online')).toBe('false')
    await produce(page, { key: 'note-1', value: 'written offline' })
    await expect.poll(() => page.locator('.sends li').first().getAttribute('data-state')).toBe('pending')
    await expect.poll(() => page.locator('.partition .cell.pending').count(), { timeout: 10_000 }).toBe(1)
    await expect.poll(() => page.locator('.pending-list li[data-pending]').count()).toBe(1)
    await expect.poll(() => page.locator('.sync').getAttribute('data-sync'), { timeout: 20_000 }).toBe('offline')
    await expect.poll(() => page.locator('[data-fact=outbox]').textContent()).toBe('1')
    await shot(page, '7-offline-pending')

    await page.context().setOffline(false)
    await expect.poll(() => page.locator('.sends li').first().getAttribute('data-state'), { timeout: 30_000 }).toBe('confirmed')
    const at = await page.locator('.sends li').first().getAttribute('data-offset')
    expect(at).toMatch(/^\d\/\d+$/)
    const [partition, offset] = at!.split('/')
    await expect.poll(() => page.locator('.partition .cell.pending').count(), { timeout: 15_000 }).toBe(0)
    await expect.poll(() => page.locator(`.partition[data-partition="${partition}"] .cell.record[data-offset="${offset}"]`).getAttribute('title'), { timeout: 15_000 })
      .toContain('value "written offline"')
    await expect.poll(() => page.locator('.sync').getAttribute('data-sync'), { timeout: 20_000 }).toBe('online')
    await shot(page, '8-online-confirmed')
    // And the edge has it at that offset.
    const res = await fetch(`${edge.url}/v1/topics/synced/partitions/${partition}/records?offset=${offset}`)
    const body = await res.json() as { records: Array<{ offset: number; key: string; value: string }> }
    expect(body.records[0]).toMatchObject({ offset: Number(offset), key: 'note-1', value: 'written offline' })
    await page.close()
  }, 120_000)
})

describe('examples/browser: a page with its own log, built with Vite', () => {
  it('stores a visit in IndexedDB and reads every visit back, across a reload', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'edgelog-example-page-'))
    const { build } = await import('vite')
    await build({ root: join(ROOT, 'examples/browser'), configFile: join(ROOT, 'examples/browser/vite.config.ts'), logLevel: 'warn', build: { outDir, emptyOutDir: true } })
    const server = await serve(outDir)
    try {
      const page = await context.newPage()
      page.on('pageerror', (e) => console.error('[page error]', e))
      for (const visits of [1, 2]) {
        await page.goto(`${server.url}/index.html`)
        await page.waitForFunction(() => document.body.dataset.done === 'true', null, { timeout: 30_000 })
        const out = await page.locator('#out').textContent()
        expect(out).toContain(`stored at visits-0, offset ${visits - 1}`)
        expect(out!.split('\n').filter((l) => /^\d+: visited at/.test(l))).toHaveLength(visits)
      }
      await page.close()
    } finally {
      await server.close()
      rmSync(outDir, { recursive: true, force: true })
    }
  }, 60_000)
})
