/**
 * Batches the in-process producer encoded itself and handed straight to the log, in the same
 * realm: their bytes never crossed a boundary where they could be corrupted, and nobody else
 * holds them, so the log may skip re-checking the CRC and re-parsing every record. Anything
 * that arrives over HTTP, postMessage or from user code is a different object and is fully
 * validated.
 */
const encodedInProcess = new WeakSet<Uint8Array>()

export function markEncodedInProcess(bytes: Uint8Array): Uint8Array {
  encodedInProcess.add(bytes)
  return bytes
}

export function wasEncodedInProcess(bytes: Uint8Array): boolean {
  return encodedInProcess.has(bytes)
}

/**
 * For an in-process store committing `bytes`: true once if the in-process producer made them
 * (and the log handed them on), so the store may keep this very array instead of a copy. The
 * mark goes with the answer: the same array appended again is a stranger, validated and copied.
 */
export function takeEncodedInProcess(bytes: Uint8Array): boolean {
  return encodedInProcess.delete(bytes)
}
