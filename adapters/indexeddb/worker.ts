/**
 * The Web Worker entry of `openBrowserLog`: the log over IndexedDB, served with comlink.
 * Bundlers pick it up from `new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })`.
 */
import { serveLog } from './host.ts'

serveLog()
