/**
 * The log's worker in browser-crash.test.ts: edgelog's own worker entry (`serveLog()`), plus a
 * report of any promise the log leaves rejected unhandled, as a console error the test sees.
 */
import { serveLog } from '../../adapters/indexeddb/host.ts'
import { isEdgelogError } from '../../core/errors.ts'

globalThis.addEventListener('unhandledrejection', (event: PromiseRejectionEvent) => {
  const e = event.reason as { name?: string; code?: string; message?: string } | undefined
  console.error(`[edgelog worker] unhandled rejection: ${JSON.stringify({ typed: isEdgelogError(e), name: e?.name, code: e?.code, message: String(e?.message ?? e) })}`)
})
globalThis.addEventListener('error', (event: ErrorEvent) => {
  console.error(`[edgelog worker] uncaught error: ${event.message}`)
})

serveLog()
