/**
 * The test page's script: puts `edgelog/indexeddb` on `globalThis.edgelog` for the tests'
 * `page.evaluate` calls. Bundled beside worker.js, so openBrowserLog's default worker URL
 * (`./worker.js` next to the module) resolves as it would in a user's build.
 */
import * as edgelog from '../../adapters/indexeddb/index.ts'
import { isEdgelogError } from '../../core/errors.ts'
import { decodeRecords } from '../../core/codec/record-batch.ts'
import * as schemas from '../../core/schemas/index.ts'

const g = globalThis as Record<string, unknown>
// esbuild's keepNames helper, in case a test function passed to page.evaluate carries it.
g.__name ??= (f: unknown) => f
g.edgelog = { ...edgelog, isEdgelogError, decodeRecords, schemas }
g.edgelogReady = true
