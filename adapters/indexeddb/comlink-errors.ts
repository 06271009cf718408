/**
 * comlink's default "throw" handler sends only an error's name, message and stack: an
 * EdgelogError's `code` and `retriable` would be lost between the worker and the page. This
 * handler carries them and rebuilds a real EdgelogError on the other side (other errors go
 * through comlink's own handler unchanged). Both sides install it: the worker (serialize) and
 * the page (deserialize). Installing twice is harmless. The handler is comlink's, for the
 * whole page: errors that are not EdgelogErrors pass through it unchanged (other comlink users
 * see comlink's usual errors); the log's own calls translate them with `toBoundaryError`.
 */
import { transferHandlers, type TransferHandler } from 'comlink'
import { EdgelogError, errorFromJSON, isEdgelogError } from '../../core/errors.ts'
import { toEdgelogError } from './errors.ts'

interface Thrown { value: unknown }
interface WireEdgelogError { edgelog: true; code: string; message: string; retriable: boolean }
type Wire = WireEdgelogError | { edgelog: false; fallback: unknown }

let installed = false

export function installErrorTransfer(): void {
  if (installed) return
  const original = transferHandlers.get('throw') as TransferHandler<Thrown, unknown> | undefined
  if (!original) throw new Error('comlink has no "throw" transfer handler to extend')
  const handler: TransferHandler<Thrown, Wire> = {
    canHandle: (value: unknown): value is Thrown => original.canHandle(value),
    serialize(thrown) {
      const e = thrown.value
      if (isEdgelogError(e)) {
        return [{ edgelog: true, code: e.code, message: e.message, retriable: e.retriable }, []]
      }
      const [fallback, transferables] = original.serialize(thrown)
      return [{ edgelog: false, fallback }, transferables]
    },
    deserialize(wire) {
      // Sent by a worker without this handler (another library's comlink worker on the page):
      // comlink's own shape, for comlink's own handler.
      if (typeof wire !== 'object' || wire === null || typeof (wire as { edgelog?: unknown }).edgelog !== 'boolean') return original.deserialize(wire)
      if (wire.edgelog) {
        const base = errorFromJSON(wire)
        throw base.retriable === wire.retriable ? base : new EdgelogError(base.code, base.message, { retriable: wire.retriable })
      }
      return original.deserialize(wire.fallback)
    },
  }
  transferHandlers.set('throw', handler as TransferHandler<unknown, unknown>)
  installed = true
}

/** DOMException names the log's IndexedDB work may throw, translated as the storage adapter does. */
const STORAGE_ERROR_NAMES = new Set(['QuotaExceededError', 'DataError', 'VersionError', 'InvalidStateError', 'TransactionInactiveError', 'UnknownError', 'ReadOnlyError', 'ConstraintError', 'NotFoundError', 'AbortError'])

/**
 * Any failure of a call to the log's worker, as an EdgelogError with the right `retriable`:
 * - an EdgelogError (the log's own, carried by the handler above): as it is;
 * - a request that cannot be cloned to cross to the worker (DataCloneError): INVALID_REQUEST,
 *   not retriable (the same request never will be);
 * - comlink's "Proxy has been released" (the log was closed): CLOSED;
 * - IndexedDB's DOMExceptions that got past the adapter: as the adapter translates them;
 * - anything else thrown in the worker (a bug, or comlink's "Unserializable return value"):
 *   UNKNOWN_SERVER_ERROR, not retriable, with the original name and message.
 */
export function toBoundaryError(error: unknown, doing: string): EdgelogError {
  if (isEdgelogError(error)) return error
  const name = typeof error === 'object' && error !== null ? String((error as { name?: unknown }).name ?? 'Error') : typeof error
  const message = typeof error === 'object' && error !== null ? String((error as { message?: unknown }).message ?? '') : String(error)
  if (name === 'DataCloneError') {
    return new EdgelogError('INVALID_REQUEST', `${doing}: the request cannot cross to the log's worker (not structured-cloneable): ${message}`, { cause: error })
  }
  if (/proxy has been released/i.test(message)) return new EdgelogError('CLOSED', `${doing}: the log is closed`, { cause: error })
  if (STORAGE_ERROR_NAMES.has(name)) return toEdgelogError(error, doing)
  return new EdgelogError('UNKNOWN_SERVER_ERROR', `${doing} failed in the log's worker: ${name}: ${message}`, { cause: error })
}
