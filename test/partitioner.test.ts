import fc from 'fast-check'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { keyBytes, legacyMurmur2, murmur2, Partitioners, toPositive } from '../core/partitioner.ts'

const require = createRequire(import.meta.url)
const kafkajs = require('kafkajs')
const kafkajsJavaMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2')
const kafkajsLegacyMurmur2 = require('kafkajs/src/producer/partitioners/legacy/murmur2')

const utf8 = (s: string) => new TextEncoder().encode(s)
const meta = (n: number) => Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 0 }))

describe('murmur2', () => {
  it("matches Apache Kafka's UtilsTest.testMurmur2 vectors", () => {
    expect(murmur2(utf8('21'))).toBe(-973932308)
    expect(murmur2(utf8('foobar'))).toBe(-790332482)
    expect(murmur2(utf8('a-little-bit-long-string'))).toBe(-985981536)
    expect(murmur2(utf8('a-little-bit-longer-string'))).toBe(-1486304829)
    expect(murmur2(utf8('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'))).toBe(-58897971)
    expect(murmur2(new Uint8Array([97, 98, 99]))).toBe(479470107)
    expect(murmur2(new Uint8Array(0))).toBe(275646681)
  })

  it("agrees with KafkaJS's Java-compatible murmur2 on random bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), b => {
      expect(murmur2(b)).toBe(kafkajsJavaMurmur2(Buffer.from(b)))
    }), { numRuns: 2000 })
  })

  it("legacyMurmur2 agrees with KafkaJS's legacy murmur2", () => {
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'grapheme' }), fc.uint8Array({ maxLength: 40 })), k => {
      expect(legacyMurmur2(k)).toBe(kafkajsLegacyMurmur2(typeof k === 'string' ? k : Buffer.from(k)))
    }), { numRuns: 2000 })
  })

  it('toPositive masks the sign bit (not Math.abs)', () => {
    expect(toPositive(-1)).toBe(0x7fffffff)
    expect(toPositive(-2147483648)).toBe(0)
    expect(toPositive(5)).toBe(5)
    expect(toPositive(murmur2(utf8('foobar'))) % 50).toBe(16)
  })

  it('keyBytes encodes strings as UTF-8 and passes bytes through', () => {
    expect(Array.from(keyBytes('é'))).toEqual([0xc3, 0xa9])
    const b = new Uint8Array([1, 2])
    expect(keyBytes(b)).toBe(b)
  })
})

describe('Partitioners', () => {
  it('Default / JavaCompatible agree with KafkaJS for keyed messages (strings and bytes)', () => {
    const ours = Partitioners.DefaultPartitioner()
    const java = Partitioners.JavaCompatiblePartitioner()
    const theirs = kafkajs.Partitioners.DefaultPartitioner()
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'grapheme', minLength: 0, maxLength: 30 }), fc.uint8Array({ maxLength: 30 })), fc.integer({ min: 1, max: 200 }), (key, n) => {
      const partitionMetadata = meta(n)
      const want = theirs({ topic: 't', partitionMetadata, message: { key: typeof key === 'string' ? key : Buffer.from(key) } })
      expect(ours({ topic: 't', partitionMetadata, message: { key } })).toBe(want)
      expect(java({ topic: 't', partitionMetadata, message: { key } })).toBe(want)
    }), { numRuns: 2000 })
  })

  it('Legacy agrees with KafkaJS LegacyPartitioner for keyed messages', () => {
    const ours = Partitioners.LegacyPartitioner()
    const theirs = kafkajs.Partitioners.LegacyPartitioner()
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), fc.integer({ min: 1, max: 200 }), (key, n) => {
      const partitionMetadata = meta(n)
      expect(ours({ topic: 't', partitionMetadata, message: { key } })).toBe(theirs({ topic: 't', partitionMetadata, message: { key } }))
    }), { numRuns: 1000 })
  })

  it('an explicit partition wins, for every partitioner', () => {
    for (const make of Object.values(Partitioners)) {
      const p = make()
      expect(p({ topic: 't', partitionMetadata: meta(5), message: { key: 'k', partition: 3 } })).toBe(3)
      expect(p({ topic: 't', partitionMetadata: meta(5), message: { partition: 0 } })).toBe(0)
    }
  })

  it('keyless messages are sticky until onNewBatch, then move round-robin over available partitions', () => {
    const p = Partitioners.DefaultPartitioner()
    const partitionMetadata = meta(4)
    const args = { topic: 't', partitionMetadata, message: { key: null } }
    const seen: number[] = []
    for (let batch = 0; batch < 8; batch++) {
      const first = p(args)
      for (let i = 0; i < 20; i++) expect(p(args)).toBe(first)
      // a keyed message in between does not move the sticky partition
      p({ topic: 't', partitionMetadata, message: { key: 'x' } })
      expect(p({ ...args, message: {} })).toBe(first)
      seen.push(first)
      p.onNewBatch?.('t')
    }
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBe((seen[i - 1] + 1) % 4)
    // per topic: another topic's new batch does not move this one
    const now = p(args)
    p.onNewBatch?.('other')
    expect(p(args)).toBe(now)
  })

  it('sticky skips unavailable partitions and re-picks when its partition goes away', () => {
    const p = Partitioners.DefaultPartitioner()
    const partitionMetadata = [{ partitionId: 0, leader: -1 }, { partitionId: 1, leader: 0 }, { partitionId: 2, leader: -1 }, { partitionId: 3, leader: 0 }]
    const picks = new Set<number>()
    for (let i = 0; i < 10; i++) {
      picks.add(p({ topic: 't', partitionMetadata, message: {} }))
      p.onNewBatch?.('t')
    }
    expect([...picks].sort()).toEqual([1, 3])
    const before = p({ topic: 't', partitionMetadata, message: {} })
    const without = partitionMetadata.map(m => (m.partitionId === before ? { ...m, leader: -1 } : m))
    expect(p({ topic: 't', partitionMetadata: without, message: {} })).toBe(before === 1 ? 3 : 1)
  })

  it('RoundRobin cycles every message over the partitions, keyed or not', () => {
    const p = Partitioners.RoundRobinPartitioner()
    const got = Array.from({ length: 6 }, (_, i) => p({ topic: 't', partitionMetadata: meta(3), message: { key: i % 2 ? 'k' : null } }))
    expect(got).toEqual([0, 1, 2, 0, 1, 2])
  })

  it('Legacy spreads keyless messages round-robin', () => {
    const p = Partitioners.LegacyPartitioner()
    const got = Array.from({ length: 6 }, () => p({ topic: 't', partitionMetadata: meta(3), message: {} }))
    for (let i = 1; i < got.length; i++) expect(got[i]).toBe((got[i - 1] + 1) % 3)
  })
})

describe('Partitioners: no partitions', () => {
  it('a topic without partitions is UNKNOWN_TOPIC_OR_PARTITION', () => {
    for (const make of Object.values(Partitioners)) {
      expect(() => make()({ topic: 't', partitionMetadata: [], message: { key: 'k' } })).toThrow(expect.objectContaining({ code: 'UNKNOWN_TOPIC_OR_PARTITION' }))
    }
  })
})
