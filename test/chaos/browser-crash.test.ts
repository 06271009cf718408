/**
 * Crash the browser mid-produce (issue 13): every record acknowledged with acks -1 (strict
 * IndexedDB durability) must be in the log after the crash, exactly once, at the offset it
 * was acknowledged at; offsets stay contiguous; the log opens again and takes writes.
 *
 * Real Chromium, started here (not through playwright's launcher) with a profile directory
 * that outlives it, in a process group of its own, so that the whole browser can be killed
 * with SIGKILL; playwright drives it over CDP. Pages run producers (idempotent and plain)
 * that send continuously; each acknowledgement leaves the page at once through a binding
 * (page.exposeFunction), so the record of it survives the crash. Crashes, at a random moment:
 * - `page-crash`: CDP `Page.crash` (the tab's renderer, with the log's worker, dies);
 * - `worker-terminate`: `worker.terminate()` from the page, mid-commit (CDP cannot close a
 *   dedicated worker target: "Specified target doesn't support closing");
 * - `browser-kill`: SIGKILL to every process of the browser.
 * In two-tab rounds one tab is crashed and the other keeps producing. After each crash the log
 * is opened again (a new tab; after a kill, a new browser on the same profile), read back in
 * full and checked against every record acknowledged so far; then it must take writes again.
 * Uncaught errors and unhandled rejections (pages and the log's workers) and send errors that
 * are not EdgelogErrors fail the test too.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser as PwBrowser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHROMIUM, CHROMIUM_ARGS, bundle, chromiumAvailable, serve, type StaticServer } from '../browser/harness.ts'
import { SHORT, report, scaled } from './scale.ts'
import type { ProduceOptions, ReadResult } from './browser-crash-page.ts'

type Crash = 'page-crash' | 'worker-terminate' | 'browser-kill'
/** One round: how it crashes, how many tabs produce, and whether it crashes almost at once (mid-open). */
interface Plan { crash: Crash; tabs: 1 | 2; early?: boolean }

const DB = 'crash-log'
const TOPIC = 'crash'
const PARTITIONS = 4
const CYCLE: Plan[] = [
  { crash: 'page-crash', tabs: 2 },
  { crash: 'worker-terminate', tabs: 1 },
  { crash: 'browser-kill', tabs: 2 },
  { crash: 'page-crash', tabs: 1 },
  { crash: 'worker-terminate', tabs: 2 },
  { crash: 'browser-kill', tabs: 1 },
]
// Full: first a SIGKILL while the database is being created, then the cycle and most of it again.
const PLANS: Plan[] = scaled(CYCLE.slice(0, 3), [{ crash: 'browser-kill', tabs: 2, early: true }, ...CYCLE, ...CYCLE.slice(0, 5)])
const ROUNDS = PLANS.length

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

function withTimeout<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms) }),
  ])
}

/** Chromium in a process group of its own (killable whole), on a profile that outlives it. */
class CrashableChromium {
  readonly profile = mkdtempSync(join(tmpdir(), 'edgelog-chaos-chromium-'))
  process: ChildProcess | undefined
  browser: PwBrowser | undefined
  context: BrowserContext | undefined
  #exited: Promise<void> | undefined

  async start(): Promise<void> {
    const child = spawn(CHROMIUM, [...CHROMIUM_ARGS, '--remote-debugging-port=0', `--user-data-dir=${this.profile}`, 'about:blank'], {
      detached: true, stdio: ['ignore', 'ignore', 'pipe'],
    })
    this.process = child
    // If this test process dies first, the browser must not outlive it.
    const orphaned = () => { try { process.kill(-child.pid!, 'SIGKILL') } catch { /* gone */ } }
    process.once('exit', orphaned)
    this.#exited = new Promise((resolve) => child.once('exit', () => {
      process.off('exit', orphaned)
      resolve()
    }))
    let output = ''
    const endpoint = await withTimeout('chromium to listen for DevTools', new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        output = (output + d.toString()).slice(-8_000)
        const m = /DevTools listening on (ws:\/\/\S+)/.exec(output)
        if (m) resolve(m[1])
      })
      child.once('exit', (code, signal) => reject(new Error(`chromium exited (${code ?? signal}) before listening: ${output}`)))
    }), 30_000)
    this.browser = await chromium.connectOverCDP(endpoint)
    this.context = this.browser.contexts()[0]
  }

  /** SIGKILL to the browser and everything it started (its process group), mid-write. */
  async kill(): Promise<void> {
    const child = this.process!
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      // already gone
    }
    await withTimeout('chromium to die', this.#exited!, 20_000)
    await this.browser?.close().catch(() => {})
    this.browser = this.context = this.process = undefined
  }

  async stop(): Promise<void> {
    if (!this.process) return
    try {
      const session = await this.browser!.newBrowserCDPSession()
      await session.send('Browser.close').catch(() => {})
      await withTimeout('chromium to close', this.#exited!, 15_000)
      await this.browser?.close().catch(() => {})
      this.browser = this.context = this.process = undefined
    } catch {
      await this.kill()
    }
  }

  async dispose(): Promise<void> {
    await this.stop().catch(() => this.kill().catch(() => {}))
    rmSync(this.profile, { recursive: true, force: true })
  }
}

/** Every record acknowledged so far, by id: where it was acknowledged. */
const acked = new Map<string, { partition: number; offset: number; tab: string }>()
/** Acknowledgements that contradict another (two ids at one offset, one id twice). */
const contradictions: string[] = []
const ackedAt = new Map<string, string>()
const notes: Array<{ tab: string; note: { kind: string; error?: { typed: boolean; code?: string; message?: string } } }> = []
const acksByTab = new Map<string, number>()
/** Uncaught errors and unhandled rejections of the pages and of the log's workers. */
const pageErrors: string[] = []

function onAck(tab: string, payload: string): void {
  if (payload === '') return
  for (const line of payload.split('\n')) {
    const [p, o, id] = line.split(' ')
    const partition = Number(p)
    const offset = Number(o)
    const where = `${partition}/${offset}`
    const other = ackedAt.get(where)
    if (other !== undefined && other !== id) contradictions.push(`${id} and ${other} both acknowledged at ${where}`)
    if (acked.has(id)) contradictions.push(`${id} acknowledged twice`)
    if (offset >= 0) ackedAt.set(where, id)
    acked.set(id, { partition, offset, tab })
    acksByTab.set(tab, (acksByTab.get(tab) ?? 0) + 1)
  }
}

let server: StaticServer | undefined
const chrome = new CrashableChromium()

async function tab(name: string): Promise<Page> {
  const page = await chrome.context!.newPage()
  await page.exposeFunction('edgelogAck', (payload: string) => onAck(name, payload))
  await page.exposeFunction('edgelogNote', (payload: string) => notes.push({ tab: name, note: JSON.parse(payload) }))
  page.on('pageerror', (e) => pageErrors.push(`tab ${name}: ${String(e).slice(0, 300)}`))
  page.on('worker', (worker) => worker.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`tab ${name}, worker: ${m.text().slice(0, 300)}`)
  }))
  await page.goto(server!.url)
  await page.waitForFunction(() => (globalThis as { edgelogReady?: boolean }).edgelogReady === true)
  return page
}

interface Figures {
  acknowledged: number
  stored: number
  lost: number
  misplaced: number
  duplicated: number
  gaps: number
  corrupt: number
  beyondHead: number
}

/** Checks a full read of the log against every acknowledgement so far. */
function check(read: ReadResult, problems: string[]): Figures {
  const found = new Map<string, Array<{ partition: number; offset: number }>>()
  let gaps = 0
  let corrupt = 0
  let stored = 0
  for (const part of read.partitions) {
    corrupt += part.corrupt
    stored += part.records.length
    // Offsets logStart … hw-1, each once, in order.
    part.records.forEach(([offset, id], i) => {
      if (offset !== part.logStartOffset + i && gaps++ < 5) problems.push(`partition ${part.partition}: record ${i} at offset ${offset}, expected ${part.logStartOffset + i}`)
      const at = found.get(id) ?? []
      at.push({ partition: part.partition, offset })
      found.set(id, at)
    })
    if (part.logStartOffset + part.records.length !== part.highWatermark) {
      gaps++
      problems.push(`partition ${part.partition}: ${part.records.length} records from ${part.logStartOffset} but high watermark ${part.highWatermark}`)
    }
  }
  let duplicated = 0
  for (const [id, at] of found) {
    if (at.length > 1) {
      duplicated += at.length - 1
      if (duplicated < 10) problems.push(`${id} stored ${at.length} times: ${at.map((a) => `${a.partition}/${a.offset}`).join(', ')}`)
    }
  }
  let lost = 0
  let misplaced = 0
  for (const [id, want] of acked) {
    const at = found.get(id)
    if (!at) {
      if (lost++ < 10) problems.push(`${id} acknowledged at ${want.partition}/${want.offset} (tab ${want.tab}) is missing`)
    } else if (!at.some((a) => a.partition === want.partition && (a.offset === want.offset || want.offset < 0))) {
      if (misplaced++ < 10) problems.push(`${id} acknowledged at ${want.partition}/${want.offset} is at ${at.map((a) => `${a.partition}/${a.offset}`).join(', ')}`)
    }
  }
  if (corrupt > 0) problems.push(`${corrupt} records with a value that does not match its id`)
  if (read.beyondHead > 0) problems.push(`${read.beyondHead} batches stored past their partition's head`)
  return { acknowledged: acked.size, stored, lost, misplaced, duplicated, gaps, corrupt, beyondHead: read.beyondHead }
}

describe.skipIf(!chromiumAvailable())('crashing the browser mid-produce (acks -1)', () => {
  beforeAll(async () => {
    const dir = await bundle({ page: 'test/chaos/browser-crash-page.ts', worker: 'test/chaos/browser-crash-worker.ts' })
    server = await serve(dir)
    await chrome.start()
  })
  afterAll(async () => {
    await chrome.dispose()
    await server?.close()
  })

  it('keeps every acknowledged record exactly once, at its offset, through page crashes, worker terminations and SIGKILL', async () => {
    const started = Date.now()
    const counts = { 'page-crash': 0, 'worker-terminate': 0, 'browser-kill': 0 }
    const problems: string[] = []
    let last: Figures | undefined
    let crashes = 0
    let survivorAcksAfterCrash = 0
    /** One line per round, shown if the test fails. */
    const log: string[] = []

    for (let round = 0; round < ROUNDS; round++) {
      const plan = PLANS[round]
      const names = plan.tabs === 2 ? [`r${round}a`, `r${round}b`] : [`r${round}a`]
      const pages = await Promise.all(names.map((n) => tab(n)))
      const atStart = acked.size
      const options = (tag: string): ProduceOptions => ({
        topic: TOPIC, partitions: PARTITIONS, tag,
        producers: [{ idempotent: true, loops: 2 }, { idempotent: false, loops: 2 }],
      })
      // Started, not awaited: a crash may come while the log is still opening.
      const running = pages.map((page, i) => page.evaluate(
        ({ db, worker, options }) => (globalThis as any).crashTest.start(db, worker, options), { db: DB, worker: `edgelog-${names[i]}`, options: options(names[i]) },
      ).then(() => 'started', (e: unknown) => `start failed: ${String(e).slice(0, 200)}`))

      // A random moment: now and then almost at once (mid-open: the database is created or
      // opened, the topic created, producer ids taken), mostly mid-stream.
      const early = plan.early || Math.random() < 0.15
      if (!early) {
        const state = await withTimeout('the tab to start producing', running[0], 30_000)
        if (state !== 'started') problems.push(`round ${round}: tab ${names[0]}: ${state}`)
      }
      const delay = early ? Math.random() * 200 : 50 + Math.random() * scaled(1_800, 2_500)
      await sleep(delay)
      const victim = pages[0]
      const beforeCrash = acked.size - atStart
      counts[plan.crash]++
      crashes++
      if (plan.crash === 'page-crash') {
        const session = await chrome.context!.newCDPSession(victim)
        const crashed = new Promise<void>((resolve) => victim.once('crash', () => resolve()))
        void session.send('Page.crash').catch(() => {})
        await withTimeout('the page to crash', crashed, 10_000)
      } else if (plan.crash === 'worker-terminate') {
        await victim.evaluate(() => (globalThis as any).crashTest.terminateWorker())
      } else {
        await chrome.kill()
      }

      if (plan.crash !== 'browser-kill' && pages.length === 2) {
        // The other tab keeps producing to the same log for a while, then stops cleanly.
        const survivor = pages[1]
        const name = names[1]
        const had = acksByTab.get(name) ?? 0
        const state = await withTimeout('the other tab to start', running[1], 30_000)
        if (state !== 'started') problems.push(`round ${round}: tab ${name}: ${state}`)
        await sleep(500 + Math.random() * 1_000)
        await withTimeout('the other tab to stop', survivor.evaluate(() => (globalThis as any).crashTest.stop()), 60_000)
        const gained = (acksByTab.get(name) ?? 0) - had
        survivorAcksAfterCrash += gained
        if (gained === 0) problems.push(`round ${round}: tab ${name} acknowledged nothing after the other tab's ${plan.crash}`)
        await survivor.close()
      }
      if (plan.crash === 'browser-kill') await chrome.start()
      await sleep(200) // acknowledgements already sent are all delivered

      // Read back: a new tab (after a worker termination, the same tab opens the log again).
      const afterCrash = acked.size - atStart - beforeCrash
      const reader = plan.crash === 'worker-terminate' && pages.length === 1 ? victim : await tab(`r${round}-reader`)
      const read: ReadResult = await withTimeout('the read-back', reader.evaluate(
        ({ db, topic, partitions }) => (globalThis as any).crashTest.verify(db, 'edgelog-reader', topic, partitions),
        { db: DB, topic: TOPIC, partitions: PARTITIONS },
      ), 120_000)
      const roundProblems: string[] = []
      last = check(read, roundProblems)
      problems.push(...roundProblems.map((p) => `round ${round} (${plan.crash}, ${plan.tabs} tab${plan.tabs > 1 ? 's' : ''}): ${p}`))

      // The log takes writes again, at the end of each partition.
      const after = await withTimeout('writes after the crash', reader.evaluate(
        ({ db, topic, partitions, tag }) => (globalThis as any).crashTest.writeAfter(db, 'edgelog-writer', topic, partitions, tag, 3),
        { db: DB, topic: TOPIC, partitions: PARTITIONS, tag: `r${round}` },
      ), 60_000) as Array<{ partition: number; baseOffset: number }>
      for (const { partition, baseOffset } of after) {
        const hw = read.partitions[partition].highWatermark
        if (baseOffset !== hw) problems.push(`round ${round}: write after the crash to partition ${partition} got offset ${baseOffset}, the end was ${hw}`)
      }
      log.push(`round ${round}: ${plan.crash} (${plan.tabs} tab${plan.tabs > 1 ? 's' : ''}) ${early ? 'mid-open, ' : ''}${Math.round(delay)} ms in: `
        + `acknowledged ${beforeCrash} before the crash, ${afterCrash} by the other tab after it; `
        + `log: ${last.stored} records, lost ${last.lost}, misplaced ${last.misplaced}, duplicated ${last.duplicated}`)
      for (const page of chrome.context!.pages()) await page.close().catch(() => {})
    }

    // Everything once more, with the writes of the last round.
    const finalPage = await tab('final')
    const read: ReadResult = await finalPage.evaluate(
      ({ db, topic, partitions }) => (globalThis as any).crashTest.verify(db, 'edgelog-final', topic, partitions),
      { db: DB, topic: TOPIC, partitions: PARTITIONS },
    )
    const finalProblems: string[] = []
    last = check(read, finalProblems)
    problems.push(...finalProblems.map((p) => `final read: ${p}`))
    await finalPage.close()

    const untyped = notes.filter((n) => n.note.error && !n.note.error.typed)
    for (const n of untyped.slice(0, 5)) problems.push(`tab ${n.tab}: a send failed with an error that is not an EdgelogError: ${JSON.stringify(n.note.error)}`)
    const sendErrors = notes.filter((n) => n.note.kind === 'send-error').length
    for (const n of notes.filter((n) => n.note.kind !== 'send-error').slice(0, 5)) problems.push(`tab ${n.tab}: ${JSON.stringify(n.note)}`)
    problems.push(...pageErrors.slice(0, 10))
    problems.push(...contradictions.slice(0, 10))

    report('browser-crash', {
      rounds: ROUNDS, crashes, acknowledged: acked.size, lost: last.lost + last.misplaced, duplicated: last.duplicated,
      unknownOffsets: [...acked.values()].filter((a) => a.offset < 0).length,
      stored: last.stored, gaps: last.gaps, corrupt: last.corrupt, pageCrashes: counts['page-crash'],
      workerTerminations: counts['worker-terminate'], browserKills: counts['browser-kill'], survivorAcks: survivorAcksAfterCrash,
      sendErrors, untypedErrors: untyped.length, mode: SHORT ? 'short' : 'full', seconds: Math.round((Date.now() - started) / 1000),
    })
    expect(problems, [...log, ...problems].join('\n')).toEqual([])
    expect(last.lost + last.misplaced).toBe(0)
    expect(last.duplicated).toBe(0)
    expect(acked.size).toBeGreaterThan(0)
  })
})
