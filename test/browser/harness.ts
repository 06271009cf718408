/**
 * Real Chromium for the browser tests: bundles the test page and edgelog's worker with
 * esbuild, serves them from 127.0.0.1 (IndexedDB, Web Locks and BroadcastChannel need a real
 * origin) and launches Debian's chromium through playwright-core with a persistent profile,
 * so that a test can close the browser and start it again on the same data.
 */
import { build } from 'esbuild'
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { extname, join, normalize } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll } from 'vitest'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-quic', '--no-first-run', '--disable-dev-shm-usage',
]

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM)
}

const ROOT = new URL('../../', import.meta.url).pathname

/** Bundles `entries` ({ outName: sourcePath relative to the repo }) into a fresh directory. */
export async function bundle(entries: Record<string, string>): Promise<string> {
  const outdir = mkdtempSync(join(tmpdir(), 'edgelog-browser-build-'))
  await build({
    entryPoints: Object.fromEntries(Object.entries(entries).map(([out, src]) => [out, join(ROOT, src)])),
    outdir, bundle: true, format: 'esm', platform: 'browser', target: 'es2022', logLevel: 'warning',
    sourcemap: 'inline',
  })
  return outdir
}

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.html': 'text/html', '.map': 'application/json' }

export interface StaticServer { url: string; close(): Promise<void> }

/** Serves `dir` on 127.0.0.1; `/` is a blank page loading `/page.js` as a module. */
export async function serve(dir: string, pages: Record<string, string> = {}): Promise<StaticServer> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const html = path === '/' ? '<!doctype html><title>edgelog</title><script type="module" src="/page.js"></script>' : pages[path]
    if (html !== undefined) {
      res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'no-store' }).end(html)
      return
    }
    const file = normalize(join(dir, path))
    if (!file.startsWith(dir) || !existsSync(file)) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' })
    res.end(readFileSync(file))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}

/** A Chromium with a profile directory that outlives it (for restarts). */
export class Browser {
  readonly profile = mkdtempSync(join(tmpdir(), 'edgelog-chromium-'))
  context: BrowserContext | undefined

  async start(): Promise<BrowserContext> {
    this.context = await chromium.launchPersistentContext(this.profile, {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
    })
    return this.context
  }

  /** A new tab on `url`, with the page script loaded. */
  async tab(url: string): Promise<Page> {
    const page = await this.context!.newPage()
    page.on('pageerror', (e) => console.error('[page error]', e))
    await page.goto(url)
    await page.waitForFunction(() => (globalThis as { edgelogReady?: boolean }).edgelogReady === true)
    return page
  }

  async stop(): Promise<void> {
    await this.context?.close()
    this.context = undefined
  }

  async dispose(): Promise<void> {
    await this.stop()
    rmSync(this.profile, { recursive: true, force: true })
  }
}

/** What the page script puts on globalThis. */
export type PageGlobals = typeof import('../../adapters/indexeddb/index.ts') & { isEdgelogError: typeof import('../../core/errors.ts').isEdgelogError
  decodeRecords: typeof import('../../core/codec/record-batch.ts').decodeRecords
}

/**
 * The set-up every browser test file shares: the test page and the log's worker bundled and
 * served on 127.0.0.1, and one Chromium, started before the file's tests and disposed after.
 */
export function useServedLog(): { browser: Browser; url: () => string } {
  let server: StaticServer | undefined
  const browser = new Browser()
  beforeAll(async () => {
    const dir = await bundle({ page: 'test/browser/page.ts', worker: 'adapters/indexeddb/worker.ts' })
    server = await serve(dir)
    await browser.start()
  })
  afterAll(async () => {
    await browser.dispose()
    await server?.close()
  })
  return { browser, url: () => server!.url }
}
