/**
 * `npx edgelog mirror-maker` between two `wrangler dev` deployments, killed with SIGKILL twice on
 * the way: the target holds the source's batches at the source's offsets (same CRCs), none twice.
 */
import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect, HttpBroker } from '../../adapters/http/index.ts'
import { readBatchHeader } from '../../core/codec/record-batch.ts'
import { ROOT, startWranglerDev, type WranglerDev } from './wrangler-dev.ts'

const dirs = [mkdtempSync(join(tmpdir(), 'edgelog-mm-source-')), mkdtempSync(join(tmpdir(), 'edgelog-mm-target-'))]
let source: WranglerDev
let target: WranglerDev

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/cli/node.js'))) {
    await new Promise<void>((resolve, reject) => execFile(process.execPath, ['scripts/build.mjs'], { cwd: ROOT }, (e) => (e ? reject(e) : resolve())))
  }
  ;[source, target] = await Promise.all(dirs.map((d) => startWranglerDev(d)))
}, 120_000)

afterAll(async () => {
  await Promise.all([source?.kill(), target?.kill()])
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** Every batch of a partition: base offset, last offset, CRC. */
async function batches(url: string, topic: string, partition: number) {
  const broker = new HttpBroker({ url })
  const out: Array<{ base: number; last: number; crc: number }> = []
  let offset = 0
  for (;;) {
    const r = await broker.fetch({ topic, partition, offset, maxBytes: 4 << 20 })
    if (r.batches.length === 0) break
    for (const b of r.batches) {
      const h = readBatchHeader(b)
      out.push({ base: h.baseOffset, last: h.baseOffset + h.lastOffsetDelta, crc: h.crc })
      offset = h.baseOffset + h.lastOffsetDelta + 1
    }
  }
  await broker.close()
  return out
}

const mirrorArgs = () => [join(ROOT, 'bin/edgelog.mjs'), 'mirror-maker', '--source', source.url, '--target', target.url, '--include', 'orders|metrics\\..*']

describe('mirror-maker between two deployments', () => {
  it('mirrors 100,000 records through two SIGKILLs: same batches at the same offsets, none twice', async () => {
    const log = connect({ url: source.url })
    await log.admin().createTopics({ topics: [{ topic: 'orders', numPartitions: 3 }, { topic: 'metrics.cpu' }, { topic: 'private' }] })
    const producer = log.producer({ idempotent: true })
    const send = async (from: number, count: number) => {
      for (let i = from; i < from + count; i += 1_000) {
        await producer.send({ topic: 'orders', messages: Array.from({ length: 1_000 }, (_, j) => ({ key: `k${(i + j) % 101}`, value: `order-${i + j}`.padEnd(100, '.') })) })
      }
    }
    await send(0, 50_000)
    await producer.send({ topic: 'metrics.cpu', messages: [{ value: '0.5' }] })
    await producer.send({ topic: 'private', messages: [{ value: 'not mirrored' }] })
    // Mirror, killed twice on the way (more records arrive meanwhile).
    for (let kill = 0; kill < 2; kill++) {
      const child = spawn(process.execPath, mirrorArgs(), { cwd: ROOT, stdio: 'ignore' })
      await new Promise((r) => setTimeout(r, 1_500 + kill * 500))
      child.kill('SIGKILL')
      await new Promise((r) => child.once('exit', r))
      await send(50_000 + kill * 25_000, 25_000)
    }
    const finish = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, [...mirrorArgs(), '--once'], { cwd: ROOT, timeout: 120_000 }, (error, _stdout, stderr) => resolve({ code: error ? 1 : 0, stderr }))
    })
    expect(finish.code, finish.stderr).toBe(0)
    let records = 0
    for (const p of [0, 1, 2]) {
      const [a, b] = await Promise.all([batches(source.url, 'orders', p), batches(target.url, 'orders', p)])
      expect(b).toEqual(a)
      records += a.reduce((n, x) => n + x.last - x.base + 1, 0)
    }
    expect(records).toBe(100_000)
    expect(await batches(target.url, 'metrics.cpu', 0)).toEqual(await batches(source.url, 'metrics.cpu', 0))
    const targetTopics = await connect({ url: target.url }).admin().listTopics()
    expect(targetTopics.sort()).toEqual(['metrics.cpu', 'orders'])
    // The target's replicas take no producer of their own.
    await expect(connect({ url: target.url }).producer().send({ topic: 'orders', messages: [{ value: 'x' }] })).rejects.toMatchObject({ code: 'NOT_LEADER_OR_FOLLOWER' })
    await log.close()
  }, 300_000)
})
