/**
 * Probes until `ok` holds, answering the last value probed; fails after `ms` with that value.
 * No runtime imports: the Node, workerd and browser-harness tests share it.
 */
export async function until<T>(probe: () => T | Promise<T>, ok: (v: T) => boolean, ms = 5_000, everyMs = 10): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (ok(v)) return v
    if (Date.now() > deadline) throw new Error(`condition not met: ${JSON.stringify(v)}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
