/**
 * The partition object's own work per batch (issue 18, part 3), measured in workerd: a bench
 * Worker (bench/do/worker.js) on `wrangler dev -c bench/do/wrangler.jsonc`, one Durable Object
 * repeating one kind of work on the same 1,000-record batch (100-byte values) `n` times per
 * request; each kind's time per batch is (its request − a null request) / n, medians of
 * alternating rounds. The limit: a raw SQLite BLOB insert of the same bytes, one
 * transactionSync per batch, in the same object. Reads: PartitionLog.read of about 1 MiB (nine
 * batches) against a raw SELECT of the same BLOB rows, both concatenated as a fetch answer is.
 *   npx tsx bench/do.ts [batchesPerRequest] [rounds]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeBatch } from '../core/codec/record-batch.ts'
import { startWranglerDev } from '../test/http/wrangler-dev.ts'
import { median, table } from './report.ts'

const N = Number(process.argv[2] ?? 200)
const ROUNDS = Number(process.argv[3] ?? 7)
const value = new Uint8Array(100).fill(120)
const now = Date.now()
const batch = encodeBatch(Array.from({ length: 1000 }, (_, i) => ({ key: null, value, timestamp: now + i })))

const tmp = mkdtempSync(join(tmpdir(), 'edgelog-bench-do-'))
const dev = await startWranglerDev(join(tmp, 'state'), { args: ['-c', 'bench/do/wrangler.jsonc', '--log-level', 'warn'] })
try {
  const call = async (kind: string, n: number, object: string) => {
    const start = performance.now()
    const res = await fetch(`${dev.url}/${kind}?n=${n}&object=${object}`, { method: 'POST', body: batch.buffer as ArrayBuffer })
    if (!res.ok) throw new Error(`${kind}: ${res.status} ${await res.text()}`)
    await res.json()
    return performance.now() - start
  }
  const kinds = ['null', 'raw', 'raw-layout', 'raw-layout-insert', 'raw-indexed', 'raw-split', 'crc', 'validate', 'commit', 'commit-no-expect', 'commit-one-meta', 'append', 'raw-read', 'read']
  // Each kind in an object of its own (a fresh database per kind); warm up each once.
  for (const kind of kinds) await call(kind, 5, kind)
  const times: Record<string, number[]> = Object.fromEntries(kinds.map((k) => [k, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of kinds) times[kind].push(await call(kind, N, kind))
  }
  const nullMs = median(times.null)
  const per = (kind: string) => Math.max(0, (median(times[kind]) - nullMs) / N)
  const raw = per('raw')
  // Reads against the raw read of the same rows (per read of ~1 MiB), the rest against the raw insert.
  const limitOf = (k: string) => k.endsWith('read') ? per('raw-read') : raw
  const rows = kinds.filter((k) => k !== 'null').map((k) => [k, (per(k) * 1000).toFixed(0), `${(per(k) / limitOf(k)).toFixed(2)}x`])
  const stats = await (await fetch(`${dev.url}/stats?object=append`)).json() as Record<string, number>
  const commitStats = await (await fetch(`${dev.url}/stats?object=commit`)).json() as Record<string, number>
  table(
    `Durable Object work per 1,000-record batch (${batch.length.toLocaleString('en')} bytes), wrangler dev (workerd), ${N} batches per request, median of ${ROUNDS}; ` +
      `null request ${nullMs.toFixed(1)} ms`,
    ['work', 'µs per batch (reads: per ~1 MiB read)', 'vs raw BLOB insert (reads: vs raw-read)'],
    rows,
  )
  console.log(`\nrows after the run: append object ${JSON.stringify(stats)}, commit object ${JSON.stringify(commitStats)}`)
  console.log(JSON.stringify({ do: Object.fromEntries(kinds.map((k) => [k, per(k) * 1000])) }))
} finally {
  await dev.kill()
  rmSync(tmp, { recursive: true, force: true })
}
