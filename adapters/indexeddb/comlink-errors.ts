/**
 * comlink's default "throw" handler sends only an error's name, message and stack: an
 * EdgelogError's `code` and `retriable` would be lost between the worker and the page. This
 * handler carries them and rebuilds a real EdgelogError on the other side (other errors go
 * through comlink's own handler unchanged). Both sides install it: the worker (serialize) and
 * the page (deserialize). Installing twice is harmless.
 */
import { transferHandlers, type TransferHandler } from 'comlink'
import { EdgelogError, errorFromJSON, isEdgelogError } from '../../core/errors.ts'

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
