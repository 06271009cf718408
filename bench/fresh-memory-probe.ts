/**
 * Not edgelog: how long this machine takes to copy 110 KB into fresh memory as the process
 * grows, with nothing but typed arrays. It explains the in-memory append figure at 10 million
 * records in docs/benchmarks.md. Run: npx tsx bench/fresh-memory-probe.ts
 */
const source = new Uint8Array(110_000).fill(1)
const held: Uint8Array[] = []
let slab = new Uint8Array(0)
let used = 0
function copyIn(): Uint8Array {
  if (used + source.length > slab.length) {
    slab = new Uint8Array(8 << 20)
    used = 0
  }
  const view = slab.subarray(used, used + source.length)
  view.set(source)
  used += source.length
  return view
}
for (const target of [1_000, 5_000, 10_000, 12_000]) {
  while (held.length < target) held.push(copyIn())
  const start = performance.now()
  for (let i = 0; i < 1_000; i++) held.push(copyIn())
  const micros = ((performance.now() - start) * 1000) / 1_000
  console.log(`${target} copies held (${(process.memoryUsage().rss / 1e9).toFixed(2)} GB resident): ${micros.toFixed(1)} µs per 110 KB copy`)
}
