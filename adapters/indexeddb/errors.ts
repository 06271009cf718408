/** IndexedDB's DOMExceptions, translated into EdgelogError at the adapter's boundary. */
import { EdgelogError, isEdgelogError } from '../../core/errors.ts'

export function toEdgelogError(error: unknown, doing: string): EdgelogError {
  if (isEdgelogError(error)) return error
  const name = typeof error === 'object' && error !== null ? String((error as { name?: unknown }).name) : 'Error'
  const message = typeof error === 'object' && error !== null ? String((error as { message?: unknown }).message ?? '') : String(error)
  switch (name) {
    case 'QuotaExceededError':
      // The transaction aborted: nothing of the write was stored.
      return new EdgelogError('STORAGE_QUOTA_EXCEEDED', `IndexedDB is out of space while ${doing}; nothing was written`, { cause: error })
    case 'DataCloneError':
    case 'DataError':
      return new EdgelogError('INVALID_REQUEST', `IndexedDB refused a value while ${doing}: ${message}`, { cause: error })
    case 'VersionError':
      return new EdgelogError('STORAGE_ERROR', `the database was upgraded by a newer edgelog in another context (${message}); reload to use it`, { cause: error, retriable: false })
    default:
      return new EdgelogError('STORAGE_ERROR', `IndexedDB failed while ${doing}: ${name}: ${message}`, { cause: error })
  }
}
