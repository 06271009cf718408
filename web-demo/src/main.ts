/**
 * The demo's entry: the edge log (this page's own origin, the Worker that serves it) at once,
 * then the browser's own log in IndexedDB (a Web Worker), following the edge topic `synced`.
 */
import { connect } from '../../adapters/http/index.ts'
import { openBrowserLog } from '../../adapters/indexeddb/index.ts'
import { App, type Store } from './app.ts'
import './style.css'

export const FOLLOWED = 'synced'

const tabId = `tab-${Math.random().toString(36).slice(2, 6)}`
const edge: Store = { id: 'edge', label: 'Edge log (Durable Objects, over HTTP)', client: connect({ url: location.origin, clientId: tabId }) }
const root = document.getElementById('app')!
const app = new App(root, [edge], { tabId, storage: localStorage })
app.start()
const g = globalThis as { edgelogDemo?: { app: App; ready: boolean; browserError?: string } }
g.edgelogDemo = { app, ready: false }

async function openBrowserStore(): Promise<void> {
  // The followed topic must exist at the edge before the browser can follow it.
  await edge.client.admin().createTopics({ topics: [{ topic: FOLLOWED, numPartitions: 2 }] }).catch(() => false)
  const log = await openBrowserLog({
    name: 'edgelog-demo',
    clientId: tabId,
    // Vite bundles the worker from this pattern (edgelog's own worker entry, from the sources).
    worker: () => new Worker(new URL('../../adapters/indexeddb/worker.ts', import.meta.url), { type: 'module', name: 'edgelog' }),
    settings: { 'log.retention.check.interval.ms': 5_000 },
    remote: { url: location.origin, follow: [FOLLOWED], maxWaitMs: 2_000, discoveryIntervalMs: 2_000 },
  })
  app.addStore({ id: 'browser', label: "This browser's log (IndexedDB in a Web Worker)", client: log, follows: [FOLLOWED] })
}

openBrowserStore().catch((error: unknown) => {
  g.edgelogDemo!.browserError = String((error as Error)?.message ?? error)
  console.error('the browser log did not open', error)
}).finally(() => { g.edgelogDemo!.ready = true })

// A closing tab leaves its group at once (the session timeout covers a crash).
addEventListener('pagehide', () => { void app.stop() })
